"""Interventions during generation: the thinking budget that closes a think block the
model leaves open, then switches to the answer's grammar (grammars.py). The engine asks a `ThinkSteer` after each streamed piece whether to
intervene; an intervention ends the engine's current request and starts the next
from the context so far."""

from __future__ import annotations

from dataclasses import dataclass

from .grammars import format_grammar, tool_call_schema, tool_grammar
from .streams import THINK_CLOSE

# The grammar helpers lived here before they moved to grammars.py.
__all__ = [
    "THINK_BUDGETS",
    "Intervention",
    "ThinkSteer",
    "format_grammar",
    "think_budget",
    "tool_call_schema",
    "tool_grammar",
]

# Thinking budgets in generated tokens, by Ollama's think levels (`true` is medium).
THINK_BUDGETS = {"low": 48, "medium": 128, "high": 384}


@dataclass
class Intervention:
    """Append `inject` to the context as if the model had written it, then decode
    under `grammar` (None: unconstrained), or with `finish` end the answer there (its
    tokens count as generated)."""

    inject: str = ""
    grammar: object = None
    finish: bool = False


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

    def remaining(self) -> int | None:
        """Tokens left in the budget while thinking (None once thinking is over): the
        engine asks for no more than this in one request."""
        return None if self.done else max(0, self.budget - self.tokens)

    def on_text(self, text: str, tokens: int = 1) -> Intervention | None:
        """`text` is what `tokens` new tokens decoded to."""
        if self.done:
            return None
        self.tokens += tokens
        self.tail = (self.tail + text)[-2 * len(THINK_CLOSE) :]
        if THINK_CLOSE in self.tail:
            self.done = True
            return Intervention(grammar=self.after_grammar) if self.after_grammar else None
        if self.tokens >= self.budget:
            self.done = True
            return Intervention(inject="\n" + THINK_CLOSE + "\n\n", grammar=self.after_grammar)
        return None

    def start(self) -> Intervention | None:
        """Nothing to do before the first token."""
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
