"""Grammar pieces shared by the embedded server and the MLX backend, so that both
constrain a tool call or a JSON answer the same way.

Pure functions over JSON schemas and llguidance's Lark-like grammar text: the JSON part
of every grammar is llguidance's own JSON-schema support (`%json {...}`); only the
wrapping of a tool call in the chat template's markers is written here.
"""

from __future__ import annotations

import json
from functools import lru_cache

# Compact JSON with Ollama's usual separators. llguidance's flexible whitespace allows
# any run of it, and a small model then fills its num_predict with newlines (measured,
# also with a whitespace pattern copied from llama.cpp's GBNF converter).
JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
TOOL_OPEN, TOOL_CLOSE = "<tool_call>", "</tool_call>"
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_NUMBER_BOUND = 10**15


def closed_objects(schema):
    """Objects admit only their listed properties unless they say otherwise, as in
    llama.cpp's GBNF converter (which Ollama uses); llguidance follows JSON Schema's
    default (anything extra allowed), and a small model then invents keys.

    >>> closed_objects({"type": "object", "properties": {"a": {"type": "integer"}}})
    {'type': 'object', 'properties': {'a': {'type': 'integer'}}, 'additionalProperties': False}
    """
    if isinstance(schema, list):
        return [closed_objects(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {k: closed_objects(v) for k, v in out[key].items()}
    for key in (*_SUBSCHEMA_LISTS, "items", "additionalProperties"):
        if key in out:
            out[key] = closed_objects(out[key])
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def bounded_numbers(schema):
    """Numbers without bounds get +-10^15, as llama.cpp's GBNF converter caps integers at
    16 digits: llguidance allows any length, and a small model then repeats a digit until
    num_predict runs out (seen: "population": 1111111...). Non-integers also get at most
    8 decimals (`multipleOf`; seen: 1.00000000000000012222222...).

    >>> bounded_numbers({"type": "object", "properties": {"n": {"type": "integer"}}})
    {'type': 'object', 'properties': {'n': {'type': 'integer', 'minimum': -1000000000000000, 'maximum': 1000000000000000}}}
    >>> bounded_numbers({"type": "number", "minimum": 0})["multipleOf"]
    1e-08
    """
    if isinstance(schema, list):
        return [bounded_numbers(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_numbers(v) if isinstance(v, (dict, list)) else v for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds or "number" in kinds:
        if not any(k in out for k in ("minimum", "exclusiveMinimum")):
            out["minimum"] = -_NUMBER_BOUND
        if not any(k in out for k in ("maximum", "exclusiveMaximum")):
            out["maximum"] = _NUMBER_BOUND
    if "number" in kinds and "multipleOf" not in out:
        out["multipleOf"] = _DECIMALS
    return out


_DECIMALS = 1e-8

# Strings without a bound get one: a small model at temperature 0 can stay inside one
# string, repeating a phrase, until num_predict runs out (seen: "A cat is a cat, right?
# A cat is ..." for 512 tokens), and a schema's later required keys are then missing.
# 256 characters leave room for several fields within the 512-token default cap.
STRING_BOUND = 256
_STRING_SHAPES = ("maxLength", "enum", "const", "pattern", "format")


def bounded_strings(schema):
    """Strings without `maxLength` (nor an enum, const, pattern or format) get
    `maxLength: 256`, so that every string value ends.

    >>> bounded_strings({"type": "object", "properties": {"s": {"type": "string"}}})
    {'type': 'object', 'properties': {'s': {'type': 'string', 'maxLength': 256}}}
    >>> bounded_strings({"type": "string", "minLength": 400})["maxLength"]
    400
    """
    if isinstance(schema, list):
        return [bounded_strings(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_strings(v) if isinstance(v, (dict, list)) else v for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and not any(k in out for k in _STRING_SHAPES):
        # Never below a minLength the schema asks for (that would be unsatisfiable).
        out["maxLength"] = max(STRING_BOUND, out.get("minLength", 0))
    return out


# Ollama's `format: "json"` (llama.cpp's json.gbnf: one object of any JSON), spelled as a
# schema so that its strings and numbers are bounded like a schema's, and its keys too
# (seen unbounded: a key repeating '}  # JSON with key ": 1234...' to the cap). Keys are
# words (any script), with spaces, dots and dashes inside: a free key let the 135M model
# write `{",city": ...}` and keys made of JSON punctuation.
_ANY_KEY = {r"^\w[\w .-]{0,63}$": {"$ref": "#/$defs/value"}}
ANY_JSON_OBJECT = {
    "type": "object",
    "patternProperties": _ANY_KEY,
    "additionalProperties": False,
    "$defs": {
        "value": {
            "anyOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
                {"type": "array", "items": {"$ref": "#/$defs/value"}},
                {"type": "object", "patternProperties": _ANY_KEY, "additionalProperties": False},
            ]
        }
    },
}


def bounded(schema):
    """The schema as the grammar enforces it: objects closed, numbers and strings bounded."""
    return bounded_strings(bounded_numbers(closed_objects(schema)))


def prepared_schema(schema):
    """A schema as both backends constrain it: objects closed, numbers and strings
    bounded, compact whitespace (llguidance's `x-guidance` options)."""
    if not isinstance(schema, dict):
        return schema
    return {**bounded(schema), "x-guidance": JSON_OPTIONS}


@lru_cache(maxsize=128)
def grammar_error(grammar: str) -> str | None:
    """Why llguidance cannot compile `grammar` (the first line of its complaint), or None.

    >>> grammar_error(json_lark({"type": "string"})) is None
    True
    """
    from llguidance import LLMatcher

    error = LLMatcher.validate_grammar(grammar)
    return error.strip().splitlines()[0] if error else None


def tool_call_schema(tools: list[dict]) -> dict:
    """JSON schema of one call to any of the offered tools: `{"name", "arguments"}`.

    >>> tool_call_schema([{"type": "function", "function": {"name": "f"}}])["properties"]
    {'name': {'const': 'f'}, 'arguments': {'type': 'object', 'properties': {}}}
    """
    options = []
    for tool in tools:
        fn = tool.get("function", tool)
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": params},
                "required": ["name", "arguments"],
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def json_lark(schema) -> str:
    """An llguidance grammar: the output is one JSON value matching `schema`.

    >>> print(json_lark({"type": "object"}))
    %llguidance {}
    start: %json {"type": "object", "x-guidance": {"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}}
    """
    return f"%llguidance {{}}\nstart: %json {json.dumps(prepared_schema(schema))}"


def tool_call_lark(
    tools: list[dict], open_: str = TOOL_OPEN, close: str = TOOL_CLOSE, or_text: bool = False
) -> str:
    """An llguidance grammar: the output is one call, `<tool_call>\\n{json}\\n</tool_call>`,
    whose JSON validates against one offered tool's parameters. With `or_text`, plain
    text is allowed instead, as long as it never contains the opening marker (so a call,
    if the model starts one, is always well formed)."""
    body = json.dumps(prepared_schema(tool_call_schema(tools)))
    head, tail = json.dumps(open_ + "\n"), json.dumps("\n" + close)
    call = f"tool_call: {head} tool_call_json {tail}\ntool_call_json: %json {body}"
    if not or_text:
        return f"%llguidance {{}}\nstart: tool_call\n{call}"
    text = f"TEXT: /(?s:.+)/ & ~/(?s:.*{_regex_escape(open_)}.*)/"
    return f"%llguidance {{}}\nstart: TEXT | tool_call\n{call}\n{text}"


def json_target(grammar: str):
    """What `json_lark` or a `tool_call_lark` without `or_text` constrains to, as a
    `JsonTarget` (the schema and the text around it); None for any other grammar.

    >>> json_target(json_lark({"type": "integer"})).schema["type"]
    'integer'
    >>> t = json_target(tool_call_lark([{"name": "f"}]))
    >>> t.head, t.tail, t.schema["properties"]["name"]
    ('<tool_call>\\n', '\\n</tool_call>', {'const': 'f'})
    """
    from ._json_budget import JsonTarget

    lines = grammar.splitlines()
    body = next((x.partition(": %json ")[2] for x in lines if ": %json " in x), "")
    if len(lines) == 2 and lines[1].startswith("start: %json "):
        return JsonTarget(_without_options(json.loads(body)))
    if len(lines) == 4 and lines[1] == "start: tool_call":
        parts = json.loads(
            "[" + lines[2].removeprefix("tool_call: ").replace(" tool_call_json ", ", ") + "]"
        )
        return JsonTarget(_without_options(json.loads(body)), head=parts[0], tail=parts[1])
    return None


def _without_options(schema):
    return (
        {k: v for k, v in schema.items() if k != "x-guidance"}
        if isinstance(schema, dict)
        else schema
    )


def _regex_escape(text: str) -> str:
    """Escape regex metacharacters (llguidance's regex syntax is Rust's)."""
    return "".join("\\" + c if c in r"\.+*?()|[]{}^$#&-~/" else c for c in text)
