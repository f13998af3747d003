"""Structured output within a token budget, shared by the embedded server and the MLX
backend: how many tokens a JSON answer still needs to become valid for its schema, and
the text that gets it there.

A grammar keeps every token of a schema answer on a path to valid JSON, but not to a
valid answer *within the budget*: a small model can stay inside one string until
`num_predict` runs out, and closing the cut text then misses required keys. So while
generating, `BudgetGuard` follows the answer character by character (`_json_cursor`) and
says when the tokens left only just hold the smallest valid completion (close every
open value, give every missing required key its smallest value); the backend then
writes that completion instead of letting the model go on. A budget smaller than the
smallest valid answer is refused up front (`SchemaBudgetError`).

Pure code: the token counts come from a `count(text)` callable (the model's tokenizer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._json_cursor import MAX_DEPTH, JsonCursor, Schemas, Unsupported, compact_json

__all__ = ["BudgetGuard", "JsonCursor", "JsonTarget", "SchemaBudgetError", "Unsupported"]


class SchemaBudgetError(ValueError):
    """The token budget cannot hold the smallest answer the schema allows."""

    def __init__(self, needed: int, budget: int, option: str = "num_predict"):
        super().__init__(
            f"the schema needs at least {needed} tokens for its smallest valid answer, "
            f"but {option} is {budget}; raise {option} to {needed} or more"
        )
        self.needed, self.budget = needed, budget


# Tokens a guard keeps in hand beyond the largest jump: an escape such as `\u00` wants
# up to four more characters, and a suffix's tokens may merge differently in context.
SLACK = 3


@dataclass(frozen=True)
class JsonTarget:
    """What a constrained answer is: text `head`, one JSON value matching `schema`,
    text `tail` (a tool call's markers around its JSON; empty for a `format` answer)."""

    schema: dict
    head: str = ""
    tail: str = ""


class BudgetGuard:
    """Follows one answer against its token budget and says when to finish it.

    `feed(text, tokens)` after each generated piece; `closing()` is None while the
    model may go on, else the text that completes the answer (what the backend writes
    next, as forced tokens). It says so when the tokens left are at most what that text
    takes plus `margin`, the most one more free token can add to it (an optional member
    or array item begun, a longer alternative chosen). So the answer validates whenever
    `budget >= needed`; a smaller budget raises `SchemaBudgetError` here.

    >>> schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    >>> guard = BudgetGuard(JsonTarget(schema), budget=20, count=len)  # a token a character
    >>> guard.needed, guard.margin
    (9, 3)
    >>> guard.feed('{"a": "xy', 9), guard.closing()
    (None, None)
    >>> guard.feed('z', 6), guard.closing()
    (None, '"}')
    >>> BudgetGuard(JsonTarget(schema), budget=8, count=len)
    Traceback (most recent call last):
    ...
    localllm_nb._json_budget.SchemaBudgetError: the schema needs at least 9 tokens for its smallest valid answer, but num_predict is 8; raise num_predict to 9 or more
    """

    def __init__(
        self,
        target: JsonTarget,
        budget: int,
        count: Callable[[str], int],
        option: str = "num_predict",
    ):
        self.target, self.budget = target, budget
        self._count = count
        self._counts: dict[str, int] = {}
        self.cursor = JsonCursor(target.schema)
        self.needed = self.count(target.head + self.cursor.completion() + target.tail)
        if budget < self.needed:
            raise SchemaBudgetError(self.needed, budget, option)
        self.margin = max_jump(self.cursor.schemas, count) + SLACK
        self.used = 0
        self.before = ""  # text of the head written so far
        self.after = ""  # text written after the JSON value

    def count(self, text: str) -> int:
        """Tokens of `text` (cached: the completion stays the same for many steps)."""
        if text not in self._counts:
            if len(self._counts) > 256:
                self._counts.clear()
            self._counts[text] = self._count(text) if text else 0
        return self._counts[text]

    def feed(self, text: str, tokens: int = 1) -> None:
        """`tokens` more tokens were generated, decoding to `text`."""
        self.used += tokens
        head = self.target.head
        if len(self.before) < len(head):
            take = min(len(text), len(head) - len(self.before))
            self.before, text = self.before + text[:take], text[take:]
        if self.cursor.done:
            self.after += text
            return
        for i, ch in enumerate(text):
            self.cursor.feed(ch)
            if self.cursor.done:
                self.after += text[i + 1 :]
                return

    def completion(self) -> str:
        """The text that completes the answer from here (empty when complete)."""
        head = self.target.head[len(self.before) :]
        tail = self.target.tail
        tail = tail[len(self.after) :] if tail.startswith(self.after) else ""
        return head + self.cursor.completion() + tail

    def closing(self) -> str | None:
        """The completion once the budget left only just holds it (else None)."""
        if self.cursor.done:
            return None  # the grammar writes any tail, within the margin kept for it
        rest = self.completion()
        if self.budget - self.used <= self.count(rest) + self.margin:
            return rest
        return None


def max_jump(schemas: Schemas, count: Callable[[str], int]) -> int:
    """The most tokens one free choice can add to the shortest completion: an optional
    member, one more array item, a longer alternative.

    >>> s = Schemas({"type": "object", "properties": {"a": {"type": "array",
    ...     "items": {"type": "integer"}}, "b": {"type": "boolean"}}, "required": ["a"]})
    >>> max_jump(s, len)  # ', "b": true'
    11
    """
    texts: list[str] = []
    seen: set[int] = set()

    def walk(schema, depth: int) -> None:
        if depth > MAX_DEPTH or id(schema) in seen:
            return
        seen.add(id(schema))
        options = schemas.options(schema)
        if len(options) > 1:
            texts.extend(schemas.smallest(o) for o in options)
        for o in options:
            required = set(o.get("required", []))
            for key, sub in o.get("properties", {}).items():
                if key not in required:
                    texts.append(", " + compact_json(key) + ": " + schemas.smallest(sub))
                walk(sub, depth + 1)
            for sub in (o.get("patternProperties") or {}).values():
                texts.append(', "a": ' + schemas.smallest(sub))
                walk(sub, depth + 1)
            if "items" in o:
                texts.append(", " + schemas.smallest(o["items"]))
                walk(o["items"], depth + 1)

    walk(schemas.root, 0)
    return max((count(t) for t in texts), default=0)
