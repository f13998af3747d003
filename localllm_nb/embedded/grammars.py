"""Grammars that constrain output: JSON or a JSON schema for `format`, and one call to an
offered tool. The JSON part is always llama.cpp's own converter's (what llama-server's
`json_schema` field uses); only the tool call's wrapping rule is ours.

The published xllamacpp wheels convert schemas to llguidance grammars. llama.cpp ignores
an llguidance grammar it cannot compile and answers unconstrained, so every grammar is
compiled here first (with llguidance's own checker) and a bad one is the client's 400.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from .streams import TOOL_CLOSE, TOOL_OPEN

# Compact JSON with Ollama's usual separators. llguidance's flexible whitespace allows
# any run of it, and a small model then fills its num_predict with newlines (measured,
# also with a whitespace pattern copied from llama.cpp's GBNF converter).
_JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


class GrammarError(ValueError):
    """A schema or grammar the engine cannot compile."""


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


_NUMBER_BOUND = 10**15
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
    """
    if isinstance(schema, list):
        return [bounded_strings(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_strings(v) if isinstance(v, (dict, list)) else v for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and not any(k in out for k in _STRING_SHAPES):
        out["maxLength"] = STRING_BOUND
    return out


# Ollama's `format: "json"` (llama.cpp's json.gbnf: one object of any JSON), spelled as a
# schema so that its strings and numbers are bounded like a schema's, and its keys too
# (seen unbounded: a key repeating '}  # JSON with key ": 1234...' to the cap).
_ANY_KEY = {"^.{0,64}$": {"$ref": "#/$defs/value"}}
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


def _converted(schema) -> str:
    from xllamacpp import json_schema_to_grammar

    if isinstance(schema, dict):
        schema = {**bounded(schema), "x-guidance": _JSON_OPTIONS}
    return json_schema_to_grammar(json.dumps(schema))  # json.dumps keeps key order


@lru_cache(maxsize=128)
def _checked(grammar: str) -> str:
    if grammar.startswith("%llguidance"):
        from llguidance import LLMatcher

        error = LLMatcher.validate_grammar(grammar)
        if error:
            raise GrammarError(error.strip().splitlines()[0])
    # A GBNF grammar (a build without llguidance) is checked by llama.cpp itself, which
    # reports it as an error rather than ignoring it.
    return grammar


@lru_cache(maxsize=64)
def _format_grammar(fmt_json: str) -> str:
    return _checked(_converted(json.loads(fmt_json)))


def format_grammar(fmt) -> str | None:
    """A grammar constraining output to a JSON object (`"json"`) or to a JSON schema."""
    if fmt is None:
        return None
    if not isinstance(fmt, (dict, str)) or (isinstance(fmt, str) and fmt != "json"):
        raise GrammarError('format must be "json" or a JSON schema object')
    schema = ANY_JSON_OBJECT if fmt == "json" else fmt
    return _format_grammar(json.dumps(schema))


def tool_call_schema(tools: list[dict]) -> dict:
    """JSON schema of one call to any of the offered tools: `{"name", "arguments"}`."""
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


def tool_grammar(tools: list[dict]) -> str:
    """Output must be one tool call, `<tool_call>\\n{json}\\n</tool_call>`, whose JSON
    validates against one offered tool's parameters: a 135M model cannot be trusted to
    write a well-formed call unaided."""
    body = _converted(tool_call_schema(tools))
    head, tail = json.dumps(TOOL_OPEN + "\n"), json.dumps("\n" + TOOL_CLOSE)
    if body.startswith("%llguidance"):
        directive, _, rules = body.partition("\n")
        rules = re.sub(r"^start:", "tool_call_json:", rules, count=1, flags=re.M)
        return _checked(f"{directive}\nstart: {head} tool_call_json {tail}\n{rules}")
    rules = re.sub(r"^root ::=", "tool-call-json ::=", body, count=1, flags=re.M)
    return f"root ::= {head} tool-call-json {tail}\n{rules}"
