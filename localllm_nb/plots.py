"""matplotlib figures for runs and embeddings, returned (never shown).

Figures are built with `matplotlib.figure.Figure` on an Agg canvas, not with pyplot:
no global state, nothing pops up, safe in threads and headless runs. In a notebook,
`display(fig)` (or the figure as a cell's last value under `%matplotlib inline`) shows
it as an ordinary image output that a saved notebook keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

THINKING_COLOR = "#8e6bbf"
CONTENT_COLOR = "#1f77b4"
SERVER_COLOR = "#d62728"
TTFT_COLOR = "#7f7f7f"
ENTROPY_COLOR = "#6a1b9a"  # the live view's entropy track (stream.js)
DEFAULT_SIZE = (6.4, 3.2)


def new_figure(
    figsize: tuple[float, float] = DEFAULT_SIZE, dpi: int = 100, layout: str | None = "constrained"
) -> Any:
    """A Figure attached to an Agg canvas (pyplot-free)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def truncate(label: str, width: int = 24) -> str:
    """Shorten a label to `width` characters with an ellipsis.

    >>> truncate("The quick brown fox jumps over the lazy dog", 12)
    'The quick b…'
    """
    label = " ".join(str(label).split())
    return label if len(label) <= width else label[: width - 1] + "…"


def token_rate_figure(
    run: Any = None,
    *,
    timeline: Sequence[Any] | None = None,
    server_tps: float | None = None,
    ttft_s: float | None = None,
    window: int = 8,
    figsize: tuple[float, float] = DEFAULT_SIZE,
    title: str | None = None,
    entropy: bool = False,
) -> Any:
    """Tokens/s along a run: thinking and content in their own colours, time to first
    token marked, the server-reported rate as a dashed reference line; with `entropy`
    (and a run that recorded alternatives), each token's entropy in nats on a right-hand
    axis, as the token lens draws it live.

    Pass a `Run` (live or finished), or a `timeline` of TimelinePoints with optional
    `server_tps`/`ttft_s`.
    """
    from .run.stats import rate_series

    if run is not None:
        stats = run.stats
        timeline = list(run.timeline)
        server_tps = stats.server_tps if server_tps is None else server_tps
        ttft_s = stats.ttft_s if ttft_s is None else ttft_s
        title = title or f"{run.model_name} · {stats.summary()}"
    timeline = list(timeline or [])
    series = rate_series(timeline, window=window)
    # A live chart redraws this figure several times a second: fixed margins instead of
    # a layout engine, and no per-point markers on long runs, keep a frame cheap.
    fig = new_figure(figsize, layout=None)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
    ax = fig.add_subplot()
    style = ".-" if len(series) <= 80 else "-"
    for channel, color, label in (
        ("thinking", THINKING_COLOR, "thinking"),
        ("content", CONTENT_COLOR, "answer"),
    ):
        xs = [t for t, _, c in series if c == channel]
        ys = [r for _, r, c in series if c == channel]
        if xs:
            ax.plot(xs, ys, style, color=color, label=label, lw=1.2, ms=3)
    if ttft_s is not None:
        ax.axvline(ttft_s, color=TTFT_COLOR, ls=":", lw=1)
        ax.annotate(
            f"first token {ttft_s:.2f} s",
            (ttft_s, 0),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=8,
            color=TTFT_COLOR,
        )
    if server_tps:
        ax.axhline(
            server_tps, color=SERVER_COLOR, ls="--", lw=1, label=f"server {server_tps:.1f} tok/s"
        )
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("tokens / s")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    if not series:
        ax.text(
            0.5,
            0.5,
            "no tokens yet",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color=TTFT_COLOR,
        )
    track = entropy_series(run.logprobs, timeline) if entropy and run is not None else []
    if track:
        right = ax.twinx()
        xs, hs = zip(*track, strict=True)
        right.vlines(xs, 0, hs, color=ENTROPY_COLOR, alpha=0.55, lw=1.5)
        right.set_ylim(0, max(1.0, max(hs)) * 1.05)
        right.set_ylabel("entropy (nats)", color=ENTROPY_COLOR, fontsize=8)
        right.tick_params(axis="y", colors=ENTROPY_COLOR, labelsize=8)
        ax.plot([], [], "|", color=ENTROPY_COLOR, label="entropy per token")
        fig.subplots_adjust(right=0.9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def entropy_series(logprobs: Sequence[Any], timeline: Sequence[Any]) -> list[tuple[float, float]]:
    """(seconds, entropy in nats) per token that has alternatives: token i is timed by
    the first timeline point whose count reaches i + 1 (the live view's rule).

    >>> from localllm_nb.run.stats import TimelinePoint
    >>> from localllm_nb.run.tokens import Alternative, TokenLogprob
    >>> half = math.log(0.5)
    >>> toks = [TokenLogprob("a", half, top=(Alternative("a", half), Alternative("b", half))),
    ...         TokenLogprob("c", 0.0)]
    >>> points = [TimelinePoint(0.5, 1, "content"), TimelinePoint(0.7, 2, "content")]
    >>> [(t, round(h, 3)) for t, h in entropy_series(toks, points)]
    [(0.5, 0.693)]
    """
    from .run.tokens import entropy

    out, j = [], 0
    for i, token in enumerate(logprobs):
        while j < len(timeline) - 1 and timeline[j].tokens < i + 1:
            j += 1
        h = entropy(token)
        if h is not None and timeline:
            out.append((timeline[j].t, h))
    return out


def nice_ceiling(value: float) -> float:
    """The next round number at or above `value` (steps 1, 1.5, 2, 3, 4, 5, 6, 8 per
    decade): axis limits that change only now and then as a run grows.

    >>> nice_ceiling(3.2), nice_ceiling(81), nice_ceiling(0)
    (4.0, 100.0, 1.0)
    """
    if value <= 0:
        return 1.0
    decade = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if step * decade >= value:
            return float(step * decade)
    return float(10 * decade)


class TokenRateChart:
    """A token-rate chart built once and updated in place, for live views.

    Axes, ticks, labels and legend are drawn once and kept as a background; a frame
    restores it and draws only the lines and the title (blitting). The background is
    redrawn only when the axis limits, which grow in round steps, or the reference
    lines change. Same look as `token_rate_figure`; `png()` gives the current frame.
    """

    def __init__(self, figsize: tuple[float, float] = DEFAULT_SIZE, window: int = 8):
        self.window = window
        self.fig = new_figure(figsize, layout=None)
        self.fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
        ax = self.ax = self.fig.add_subplot()
        self.lines = {
            channel: ax.plot([], [], "-", color=color, label=label, lw=1.2, animated=True)[0]
            for channel, color, label in (
                ("thinking", THINKING_COLOR, "thinking"),
                ("content", CONTENT_COLOR, "answer"),
            )
        }
        self.ttft_line = ax.axvline(0, color=TTFT_COLOR, ls=":", lw=1)
        self.ttft_text = ax.annotate(
            "", (0, 0), xytext=(4, 4), textcoords="offset points", fontsize=8, color=TTFT_COLOR
        )
        self.server_line = ax.axhline(0, color=SERVER_COLOR, ls="--", lw=1, label="server")
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("tokens / s")
        self.legend = ax.legend(loc="lower right", fontsize=8)
        self.title = ax.set_title("", fontsize=9, animated=True)
        # Built visible so the legend keeps the server line's style; shown when known.
        self.ttft_line.set_visible(False)
        self.server_line.set_visible(False)
        self._background = None
        self._layout_key: tuple | None = None
        self.full_draws = 0  # how often the background was redrawn

    def update(
        self,
        run: Any = None,
        *,
        timeline: Sequence[Any] | None = None,
        server_tps: float | None = None,
        ttft_s: float | None = None,
        title: str | None = None,
    ) -> Any:
        """Show a run's (or a timeline's) current state; returns the figure."""
        from .run.stats import rate_series

        if run is not None:
            stats = run.stats
            timeline = list(run.timeline)
            server_tps = stats.server_tps if server_tps is None else server_tps
            ttft_s = stats.ttft_s if ttft_s is None else ttft_s
            title = title if title is not None else f"{run.model_name} · {stats.summary()}"
        series = rate_series(list(timeline or []), window=self.window)
        for channel, line in self.lines.items():
            line.set_data(
                [t for t, _, c in series if c == channel], [r for _, r, c in series if c == channel]
            )
        xmax = max([t for t, _, _ in series] + [ttft_s or 0.0])
        ymax = max([r for _, r, _ in series] + [server_tps or 0.0])
        key = (nice_ceiling(xmax * 1.05), nice_ceiling(ymax * 1.15), ttft_s, server_tps or None)
        canvas = self.fig.canvas
        if key != self._layout_key:
            self._draw_background(*key)
        else:
            canvas.restore_region(self._background)
        self.title.set_text(title or "")
        for artist in (*self.lines.values(), self.title):
            self.ax.draw_artist(artist)
        return self.fig

    def _draw_background(self, xlim: float, ylim: float, ttft_s, server_tps) -> None:
        if ttft_s is not None:
            self.ttft_line.set_xdata([ttft_s, ttft_s])
            self.ttft_text.xy = (ttft_s, 0)
            self.ttft_text.set_text(f"first token {ttft_s:.2f} s")
        self.ttft_line.set_visible(ttft_s is not None)
        self.ttft_text.set_visible(ttft_s is not None)
        self.server_line.set_visible(bool(server_tps))
        if server_tps:
            self.server_line.set_ydata([server_tps, server_tps])
            self.legend.get_texts()[-1].set_text(f"server {server_tps:.1f} tok/s")
        self.ax.set_xlim(0, xlim)
        self.ax.set_ylim(0, ylim)
        self.fig.canvas.draw()  # everything but the animated lines and title
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self._layout_key = (xlim, ylim, ttft_s, server_tps)
        self.full_draws += 1

    def png(self, compress_level: int = 1) -> bytes:
        """The current frame as PNG bytes, from the canvas buffer (no re-render)."""
        import io

        from PIL import Image

        width, height = self.fig.canvas.get_width_height()
        image = Image.frombuffer(
            "RGBA", (width, height), self.fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        )
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=compress_level)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()


def similarity_heatmap(
    matrix: Any,
    labels: Sequence[str] | None = None,
    *,
    label_width: int = 24,
    annotate: bool | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Any:
    """Cosine similarities as a heatmap with truncated labels (readable up to ~50 items).

    Values are written in the cells when there are at most 12 items (`annotate`)."""
    sim = np.asarray(matrix, dtype=float)
    n = sim.shape[0]
    labels = [truncate(lab, label_width) for lab in (labels or [str(i) for i in range(n)])]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for a {n} x {n} matrix")
    side = min(10.0, max(4.0, 0.22 * n + 2.5))
    fig = new_figure(figsize or (side + 1.2, side))
    ax = fig.add_subplot()
    image = ax.imshow(sim, cmap="viridis", vmin=min(0.0, float(sim.min())), vmax=1.0)
    fontsize = 9 if n <= 12 else 7 if n <= 30 else 5
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=fontsize)
    ax.set_yticks(range(n), labels, fontsize=fontsize)
    if annotate if annotate is not None else n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{sim[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if sim[i, j] < 0.6 else "black",
                )
    fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def projection_scatter(
    points: Any,
    labels: Sequence[str] | None = None,
    *,
    highlight: Sequence[int] = (),
    label_width: int = 20,
    figsize: tuple[float, float] = (6.0, 5.0),
    title: str | None = None,
    groups: Sequence[str | None] | None = None,
) -> Any:
    """2-D points (e.g. from `pca_2d`) with their labels; `highlight` indices in red.

    `groups` (one category or None per point) colours the points by category, in the
    colours the EmbeddingExplorer's map uses, with a legend of the first ten.
    """
    pts = np.asarray(points, dtype=float)
    fig = new_figure(figsize)
    ax = fig.add_subplot()
    if groups is None:
        ax.scatter(pts[:, 0], pts[:, 1], s=18, color=CONTENT_COLOR, alpha=0.8)
    else:
        _scatter_groups(ax, pts, groups, size=18 if len(pts) <= 500 else 4)
    if len(highlight):
        sel = pts[list(highlight)]
        ax.scatter(sel[:, 0], sel[:, 1], s=40, color=SERVER_COLOR, zorder=3)
    if labels is not None and len(labels) <= 200:  # beyond that, labels are a smear
        for (x, y), lab in zip(pts, labels, strict=False):
            ax.annotate(
                truncate(lab, label_width),
                (x, y),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
            )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


UNGROUPED_COLOR = "#9e9e9e"
LEGEND_LIMIT = 10


def _scatter_groups(ax: Any, pts: np.ndarray, groups: Sequence[str | None], size: float) -> None:
    """One scatter per category, unlabelled points in grey. Categories get the explorer
    map's colours in its order (most frequent first, `vectors.explore.palette`): distinct
    up to 30, then grey."""
    from .vectors.explore import palette

    if len(groups) != len(pts):
        raise ValueError(f"{len(groups)} groups for {len(pts)} points")
    found: dict[str, list[int]] = {}
    none = []
    for i, group in enumerate(groups):
        (none if group is None else found.setdefault(str(group), [])).append(i)
    if none:
        ax.scatter(pts[none, 0], pts[none, 1], s=size, color=UNGROUPED_COLOR, alpha=0.6)
    order = sorted(found.items(), key=lambda item: -len(item[1]))  # stable: ties first seen
    for n, ((group, index), color) in enumerate(zip(order, palette(len(order)), strict=True)):
        label = truncate(group, 24) if n < LEGEND_LIMIT else None
        ax.scatter(pts[index, 0], pts[index, 1], s=size, color=color, alpha=0.8, label=label)
    if order:
        more = len(order) - LEGEND_LIMIT
        ax.legend(
            fontsize=7,
            markerscale=max(1.0, 12 / size),
            title=f"+{more} more" if more > 0 else None,
            title_fontsize=7,
            loc="best",
        )


def render_png(fig: Any) -> bytes:
    """The figure as PNG bytes (what a notebook embeds)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
