"""Sweep: one spec, one parameter over several values, the outputs side by side and a
chart of speed and length against the value (spread over repeats).

A Sweep is a Compare whose columns are `spec.replace(field=value)`; the same scheduler
runs them (one run at a time per server unless told otherwise), so the speed per value
is measured the same way a comparison's is.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import ipywidgets as W

from ..run.schedule import summarize
from .compare import Compare

# (figure, axis label) of the summary chart's panels.
PANELS = (("client_tps", "tokens/s"), ("ttft_s", "TTFT (s)"), ("tokens", "output tokens"))


def numeric(values: Sequence[Any]) -> bool:
    """True when every value is a number (bools are choices, not numbers).

    >>> numeric([0, 0.5, 1]), numeric([True, False]), numeric(["json", ""])
    (True, False, False)
    """
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def sweep_figure(field: str, values: Sequence[Any], summary: Sequence[dict[str, Any]]) -> Any:
    """Tokens/s, TTFT and output length against the value, mean with a ± std bar."""
    from ..plots import new_figure

    fig = new_figure((9.0, 2.8))
    by_column = {s["column"]: s for s in summary}
    xs = list(values) if numeric(values) else list(range(len(values)))
    for i, (name, label) in enumerate(PANELS):
        ax = fig.add_subplot(1, len(PANELS), i + 1)
        points = [
            (xs[c], s[name], s.get(f"{name}_std") or 0.0)
            for c, s in sorted(by_column.items())
            if s.get(name) is not None
        ]
        if points:
            x, y, err = zip(*points, strict=True)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color="#1f77b4")
        if not numeric(values):
            ax.set_xticks(xs, [repr(v) for v in values], fontsize=8)
        ax.set_xlabel(field)
        ax.set_title(label, fontsize=10)
        ax.margins(y=0.15)
        ax.set_ylim(bottom=0)
    return fig


class Sweep(Compare):
    """`Sweep(spec, "temperature", [0, 0.5, 1.0], prompt, repeats=3)`: a column per value.

    Any numeric or choice field of the spec (dotted names for MLX settings). `results`
    has a `value` column; `chart` shows tokens/s, TTFT and output length against the value.
    Other keyword arguments are Compare's (`hosts`, `concurrency`, `start`, run kwargs).
    """

    def __init__(
        self,
        spec: Any,
        field: str,
        values: Sequence[Any],
        prompt: Any,
        *,
        repeats: int = 3,
        **kwargs: Any,
    ):
        if not values:
            raise ValueError("a sweep needs at least one value")
        self.field = field
        self.values = list(values)
        specs = [spec.replace(**{field: value}) for value in self.values]  # SpecError if invalid
        self.chart = W.Image(format="png", layout=W.Layout(max_width="900px"))
        self.chart.layout.display = "none"
        labels = [f"{field}={value!r}" for value in self.values]
        super().__init__(specs, prompt, labels=labels, repeats=repeats, **kwargs)
        self.children = (*self.children, self.chart)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per run with the swept `value`, in (repeat, column) order."""
        return [{"field": self.field, "value": self.values[r["column"]], **r} for r in super().rows]

    def figure(self) -> Any:
        """The summary chart as a matplotlib figure."""
        return sweep_figure(self.field, self.values, summarize(self.rows))

    def _title(self) -> str:
        return f"Sweep · {self.field} over {len(self.values)} values"

    def _refresh(self) -> None:
        super()._refresh()
        if self.schedule.rows:
            from ..plots import render_png

            self._png = render_png(self.figure())
            self.chart.value = self._png
            self.chart.layout.display = None

    def _snapshot(self) -> dict[str, Any] | None:
        bundle = super()._snapshot()
        png = getattr(self, "_png", None)
        if bundle is not None and png:
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle
