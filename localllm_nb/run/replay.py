"""`replay(receipt)`: run a receipt's spec and prompt again and say whether the answer
is the same, and which recorded fact differs now when it is not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .receipt import Receipt

# Facts that describe the machine or packages only: listed, but a difference there is
# named after the ones that change generation directly.
_BACKGROUND = ("package ", "machine.platform")


@dataclass(frozen=True)
class ReplayResult:
    """What a replay found: `identical` answers, the new `run` and its `receipt`, and
    `differences`: each recorded fact that changed, as name -> (then, now)."""

    identical: bool
    original: Receipt
    receipt: Receipt
    run: Any
    differences: dict[str, tuple[Any, Any]]

    @property
    def first_difference(self) -> int | None:
        """The index of the first character where the answer texts part (None when
        equal)."""
        a, b = self.original.content, self.receipt.content
        if a == b:
            return None
        return next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )

    def explain(self) -> str:
        """One line for people: same answer, or where it parts and what changed."""
        changed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in self._ordered())
        if self.identical:
            return "identical answer" + (f" (though {changed})" if changed else "")
        where = f"answers part at character {self.first_difference}"
        if self.first_difference is None:
            where = "the thinking or tool calls differ"
        if self.run.status != "done":
            where = f"the rerun ended {self.run.status}: {self.run.error}"
        return f"different: {where}; " + (changed or "no recorded fact changed")

    def _ordered(self) -> list[tuple[str, Any, Any]]:
        items = [(k, a, b) for k, (a, b) in self.differences.items()]
        return sorted(items, key=lambda item: item[0].startswith(_BACKGROUND))

    def __repr__(self) -> str:
        return f"ReplayResult({self.explain()})"


def compare_facts(then: Receipt, now: Receipt) -> dict[str, tuple[Any, Any]]:
    """Each recorded fact whose value differs between two receipts."""
    a, b = then.facts(), now.facts()
    return {k: (a.get(k), b.get(k)) for k in {**a, **b} if a.get(k) != b.get(k)}


def replay(receipt: Receipt | dict, **changes: Any) -> ReplayResult:
    """Run `receipt`'s spec and prompt again (with spec `changes`, e.g. `num_thread=2`
    or `base_url=` for a server that needs credentials) and compare the answer and the
    facts with the recorded ones."""
    from ..spec import ModelSpec
    from .driver import stream_run

    if isinstance(receipt, dict):
        receipt = Receipt.from_dict(receipt)
    if not receipt.spec:
        raise ValueError("this receipt records no spec, so it cannot be replayed")
    spec = ModelSpec.model_validate(receipt.spec)
    if changes:
        spec = spec.replace(**changes)
    run = stream_run(spec, receipt.prompt, raise_errors=False)
    now = run.receipt()
    identical = run.status == "done" and all(
        getattr(now, name) == getattr(receipt, name)
        for name in ("content", "thinking", "tool_calls")
    )
    return ReplayResult(identical, receipt, now, run, compare_facts(receipt, now))
