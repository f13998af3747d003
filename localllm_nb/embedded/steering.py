"""Constraints and interventions during generation: JSON/schema grammars for `format`,
the tool-call grammar, and the thinking budget that closes a think block the model
leaves open. The engine asks a `ThinkSteer` after each token whether to intervene."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from .streams import THINK_CLOSE, TOOL_CLOSE, TOOL_OPEN

# Thinking budgets in generated tokens, by Ollama's think levels (`true` is medium).
THINK_BUDGETS = {"low": 48, "medium": 128, "high": 384}


@dataclass
class Intervention:
    """Append `inject` to the context as if the model had written it, then decode
    under `grammar` (None: unconstrained)."""

    inject: str = ""
    grammar: object = None


class ThinkSteer:
    """Closes the think block after `budget` tokens if the model has not, and switches
    to the answer's grammar (e.g. a `format` schema) once thinking is over.

    >>> s = ThinkSteer(budget=2)
    >>> s.on_text("a"), s.on_text("b").inject
    (None, '\\n</think>\\n\\n')
    """

    def __init__(self, budget: int, after_grammar=None):
        self.budget = budget
        self.after_grammar = after_grammar
        self.tokens = 0
        self.tail = ""
        self.done = False

    def on_text(self, text: str) -> Intervention | None:
        if self.done:
            return None
        self.tokens += 1
        self.tail = (self.tail + text)[-2 * len(THINK_CLOSE) :]
        if THINK_CLOSE in self.tail:
            self.done = True
            return Intervention(grammar=self.after_grammar) if self.after_grammar else None
        if self.tokens >= self.budget:
            self.done = True
            return Intervention(inject="\n" + THINK_CLOSE + "\n\n", grammar=self.after_grammar)
        return None

    def on_end(self) -> Intervention | None:
        """The model ended its turn inside the think block: close it so an answer follows."""
        if self.done:
            return None
        self.done = True
        return Intervention(inject="\n" + THINK_CLOSE + "\n\n", grammar=self.after_grammar)


def think_budget(think, options_budget: int | None) -> int:
    """The budget for a request: the `think_budget` option if set, else by level."""
    if options_budget is not None and options_budget > 0:
        return options_budget
    level = think if isinstance(think, str) else "medium"
    return THINK_BUDGETS[level]


@lru_cache(maxsize=64)
def _compile(gbnf: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(gbnf, verbose=False)


def format_grammar(fmt):
    """A grammar constraining output to any JSON (`"json"`) or to a JSON schema."""
    if fmt is None:
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if fmt == "json":
        return _compile(JSON_GBNF)
    return _compile(_strict_strings(json_schema_to_gbnf(json.dumps(fmt))))  # keeps key order


def _strict_strings(gbnf: str) -> str:
    r"""JSON strings may not hold raw control characters; llama-cpp-python's schema
    converter allows them, and a newline inside a string makes the output invalid JSON.

    >>> from llama_cpp.llama_grammar import json_schema_to_gbnf
    >>> "\\x00-\\x1F" in _strict_strings(json_schema_to_gbnf('{"type": "string"}'))
    True
    """
    return gbnf.replace('char ::= [^"\\\\]', 'char ::= [^"\\\\\\x7F\\x00-\\x1F]', 1)


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


def tool_grammar(tools: list[dict]):
    """Output must be one tool call, `<tool_call>\\n{json}\\n</tool_call>`, whose JSON
    validates against one offered tool's parameters: a 135M model cannot be trusted to
    write a well-formed call unaided."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = json.dumps(tool_call_schema(tools))
    body = _strict_strings(json_schema_to_gbnf(schema, prop_order=["name", "arguments"])).replace(
        "root ::=", "tool-call-json ::=", 1
    )
    head = f"root ::= {json.dumps(TOOL_OPEN + chr(10))} tool-call-json {json.dumps(chr(10) + TOOL_CLOSE)}\n"
    return _compile(head + body)
