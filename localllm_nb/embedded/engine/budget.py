"""Structured output within `num_predict`: a steer that finishes a `format` answer with
the smallest valid completion once the tokens left only just hold it, so a schema answer
validates whenever the budget can hold the smallest valid object (the guard itself is
shared with the MLX backend, `localllm_nb._json_budget`).

llama-server's grammar cannot be told to finish early, so the steer ends the engine's
request when the guard says so and the completion is injected as the model's own text
(counted in `eval_count`); nothing is decoded after it."""

from __future__ import annotations

from collections.abc import Callable

from ..._grammar import bounded
from ..._json_budget import BudgetGuard, JsonTarget, SchemaBudgetError, Unsupported
from .steering import Intervention

__all__ = ["BudgetSteer", "SchemaBudgetError", "budget_steer"]


class BudgetSteer:
    """Asked by the engine after every piece of a JSON answer (see `ThinkSteer` for the
    protocol); `start()` before the first, for a budget that holds only the smallest
    answer."""

    def __init__(self, guard: BudgetGuard):
        self.guard = guard
        self.done = False

    def remaining(self) -> int | None:
        return None  # the phase runs to num_predict unless the guard intervenes

    def start(self) -> Intervention | None:
        return self._check()

    def on_text(self, text: str, tokens: int = 1) -> Intervention | None:
        if self.done:
            return None
        try:
            self.guard.feed(text, tokens)
        except ValueError:  # e.g. a `pattern` string reached: decoded as before
            self.done = True
            return None
        return self._check()

    def on_end(self) -> Intervention | None:
        return None

    def _check(self) -> Intervention | None:
        try:
            closing = self.guard.closing()
        except ValueError:  # a value the guard cannot complete: decoded as before
            self.done = True
            return None
        if not closing:
            return None
        self.done = True
        return Intervention(inject=closing, finish=True)


def budget_steer(schema, budget: int, count: Callable[[str], int]) -> BudgetSteer | None:
    """The steer for a `format` schema within `budget` tokens, as the grammar enforces
    the schema; None for a schema the guard cannot complete (e.g. a `pattern` string),
    which is then decoded as before. Raises `SchemaBudgetError` when the budget cannot
    hold the smallest valid answer."""
    try:
        return BudgetSteer(BudgetGuard(JsonTarget(bounded(schema)), budget, count))
    except Unsupported:
        return None
