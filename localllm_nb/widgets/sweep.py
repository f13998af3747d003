"""Sweep: one spec, one parameter over several values, the outputs side by side and a
chart of speed and length against the value (spread over repeats).

A Sweep is a Compare whose columns are `spec.replace(field=value)`; the same scheduler
runs them (one run at a time per server unless told otherwise), so the speed per value
is measured the same way a comparison's is.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import ipywidgets as W

from ..run.schedule import summarize
from .compare import Compare
from .snapshot import png_img, snapshot_html
from .stream import error_message

# (figure, axis label) of the summary chart's panels; the logprob panel joins them when
# the sweep shows token logprobs.
PANELS = (("client_tps", "tokens/s"), ("ttft_s", "TTFT (s)"), ("tokens", "output tokens"))
LOGPROB_PANEL = ("mean_logprob", "mean logprob (0 = sure)")


def numeric(values: Sequence[Any]) -> bool:
    """True when every value is a number (bools are choices, not numbers).

    >>> numeric([0, 0.5, 1]), numeric([True, False]), numeric(["json", ""])
    (True, False, False)
    """
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def grid_of(
    field: str | Sequence[str], values: Sequence[Any]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The swept fields and one value tuple per column (the product for two fields).

    >>> grid_of("temperature", [0, 1])
    (('temperature',), [(0,), (1,)])
    >>> grid_of(("temperature", "top_k"), ([0, 1], [10, 40]))[1]
    [(0, 10), (0, 40), (1, 10), (1, 40)]
    """
    if isinstance(field, str):
        if not values:
            raise ValueError("a sweep needs at least one value")
        return (field,), [(v,) for v in values]
    fields = tuple(field)
    if len(fields) != 2 or len(values) != 2 or not all(values):
        raise ValueError("a grid sweep takes two fields and two lists of values")
    return fields, list(itertools.product(*values))


def sweep_figure(
    fields: Sequence[str],
    grid: Sequence[tuple[Any, ...]],
    summary: Sequence[dict[str, Any]],
    panels: Sequence[tuple[str, str]] = PANELS,
) -> Any:
    """Each of `panels` (default tokens/s, TTFT and output length) against the first
    field's value, mean with a ± std bar; one line per value of the second field in a
    grid."""
    from ..plots import new_figure

    fig = new_figure((3.0 * len(panels), 2.8))
    by_column = {s["column"]: s for s in summary}
    firsts = list(dict.fromkeys(combo[0] for combo in grid))
    seconds = list(dict.fromkeys(combo[1] for combo in grid)) if len(fields) > 1 else [None]
    at = {v: (v if numeric(firsts) else i) for i, v in enumerate(firsts)}
    for i, (name, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for second in seconds:
            points = [
                (at[combo[0]], s[name], s.get(f"{name}_std") or 0.0)
                for c, combo in enumerate(grid)
                if (s := by_column.get(c)) is not None
                and s.get(name) is not None
                and (second is None or combo[1] == second)
            ]
            if points:
                x, y, err = zip(*points, strict=True)
                tag = None if second is None else f"{fields[1]}={second!r}"
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=tag)
        if not numeric(firsts):
            ax.set_xticks(list(at.values()), [repr(v) for v in firsts], fontsize=8)
        ax.set_xlabel(fields[0])
        ax.set_title(label, fontsize=10)
        ax.margins(y=0.15)
        if name == "mean_logprob":  # logprobs are <= 0: the top edge is certainty
            ax.set_ylim(top=0)
        else:
            ax.set_ylim(bottom=0)
        if i == 0 and len(seconds) > 1:
            ax.legend(fontsize=7)
    return fig


class Sweep(Compare):
    """`Sweep(spec, "temperature", [0, 0.5, 1.0], prompt, repeats=3)`: a column per value.

    Any numeric or choice field of the spec (dotted names for MLX settings); two fields
    make a grid: `Sweep(spec, ("temperature", "top_k"), ([0, 1], [10, 40]), prompt)`.
    `results` has a `value` column (and one per field); `chart` shows tokens/s, TTFT and
    output length against the (first) value, and the mean logprob when the sweep shows
    token logprobs (`show_logprobs=True`, or a spec with `logprobs=True`).
    Other keyword arguments are Compare's (`hosts`, `concurrency`, `start`, run kwargs).
    """

    def __init__(
        self,
        spec: Any,
        field: str | Sequence[str],
        values: Sequence[Any],
        prompt: Any,
        *,
        repeats: int = 3,
        **kwargs: Any,
    ):
        self.fields, self.grid = grid_of(field, values)
        self.field = self.fields[0]
        self.values = [combo[0] for combo in self.grid]
        specs = [spec.replace(**dict(zip(self.fields, combo, strict=True))) for combo in self.grid]
        self.chart = W.Image(format="png", layout=W.Layout(max_width="900px"))
        self.chart.layout.display = "none"
        labels = [
            ", ".join(f"{f}={v!r}" for f, v in zip(self.fields, combo, strict=True))
            for combo in self.grid
        ]
        super().__init__(specs, prompt, labels=labels, repeats=repeats, **kwargs)
        self.children = (*self.children, self.chart)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per run with the swept `value` (and a column per swept field), in
        (repeat, column) order."""
        out = []
        for r in super().rows:
            combo = self.grid[r["column"]]
            out.append(
                {
                    "field": self.field,
                    "value": combo[0],
                    **dict(zip(self.fields, combo, strict=True)),
                    **r,
                }
            )
        return out

    def figure(self) -> Any:
        """The summary chart as a matplotlib figure."""
        panels = (*PANELS, LOGPROB_PANEL) if self.show_logprobs else PANELS
        return sweep_figure(self.fields, self.grid, summarize(self.rows), panels)

    def _title(self) -> str:
        return f"Sweep · {' and '.join(self.fields)} over {len(self.grid)} values"

    def _refresh(self) -> None:
        super()._refresh()
        if self.schedule.rows:
            from ..plots import render_png

            self._png = render_png(self.figure())
            self.chart.value = self._png
            self.chart.layout.display = None

    def _chart_html(self) -> str:
        png = getattr(self, "_png", None)
        shown = (
            "tokens/s, TTFT, length and mean logprob"
            if self.show_logprobs
            else "tokens/s, TTFT and length"
        )
        return png_img(png, f"{self._title()}: {shown}") if png else ""

    def _column_html(self, run: Any) -> str:
        # One chart for the sweep: a token-rate chart per value would bury it.
        return snapshot_html(run, error_message(run.error))
