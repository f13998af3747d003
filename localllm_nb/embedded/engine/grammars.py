"""Grammars that constrain output: JSON or a JSON schema for `format`, and one call to an
offered tool. The JSON part is always llama.cpp's own converter's (what llama-server's
`json_schema` field uses); only the tool call's wrapping rule is ours. The schema
preparation (closed objects, bounded numbers and strings, compact whitespace) is shared
with the MLX backend (`.._grammar`).

The published xllamacpp wheels convert schemas to llguidance grammars. llama.cpp ignores
an llguidance grammar it cannot compile and answers unconstrained, so every grammar is
compiled here first (with llguidance's own checker) and a bad one is the client's 400.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from ..._grammar import (
    ANY_JSON_OBJECT,
    bounded_numbers,
    closed_objects,
    grammar_error,
    prepared_schema,
    tool_call_schema,
)
from .streams import TOOL_CLOSE, TOOL_OPEN

# The schema helpers are shared with the MLX backend (`localllm_nb._grammar`).
__all__ = [
    "GrammarError",
    "bounded_numbers",
    "closed_objects",
    "format_grammar",
    "tool_call_schema",
    "tool_grammar",
]


class GrammarError(ValueError):
    """A schema or grammar the engine cannot compile."""


def _converted(schema) -> str:
    from xllamacpp import json_schema_to_grammar

    return json_schema_to_grammar(json.dumps(prepared_schema(schema)))  # json.dumps keeps key order


def _checked(grammar: str) -> str:
    error = grammar_error(grammar) if grammar.startswith("%llguidance") else None
    if error:
        raise GrammarError(error)
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
