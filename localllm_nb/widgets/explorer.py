"""EmbeddingExplorer: a view of an `EmbeddingSet` drawn in the browser.

The 2-D map, label codes and (cut) texts go to the browser once, as binary buffers;
hovering, drawing and box selection happen there. A click asks the kernel for the
point's nearest neighbours, ranked by cosine similarity in the original space (the map
only places points). A query box embeds a sentence and shows where it lands. Up to
`HEATMAP_LIMIT` texts a similarity heatmap with labels comes first.

A saved notebook keeps a snapshot, one HTML: the neighbour list and the heatmap (or the
map, coloured by label) as an image inside it.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import traitlets

from ..vectors import EmbeddingSet, Neighbor
from ..vectors.explore import (
    HEATMAP_LIMIT,
    label_codes,
    points_blob,
    text_blob,
)
from ._base import SnapshotDisplay, View
from ._esm import esm
from .snapshot import png_img

PROGRESS_FROM = 64
"""Embedding at least this many new texts shows a progress bar."""


def _embed_with_progress(texts: list[str], model: Any, labels: Any) -> EmbeddingSet:
    """Embed `texts`, with a progress bar in the notebook when there are many."""
    bar = None
    if len(texts) >= PROGRESS_FROM:
        try:
            import ipywidgets as W
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                bar = W.IntProgress(0, 0, len(texts), description="Embedding")
                display(bar)
        except ImportError:
            bar = None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.value = done
            bar.description = f"{done}/{total}"

    try:
        return EmbeddingSet(texts, model, labels=labels, on_progress=progress)
    finally:
        if bar is not None:
            bar.close()


class EmbeddingExplorer(SnapshotDisplay, View):
    """`EmbeddingExplorer(texts_or_set, spec=None, labels=None)`: similarity heatmap (up to
    50 texts), a 2-D map with hover, click-for-neighbours, colour by label, box selection
    (`explorer.selection`) and a query box. `explorer.set` is the EmbeddingSet shown."""

    _esm = esm("explorer.js")
    count = traitlets.Int(0, help="Number of texts shown.").tag(sync=True)
    title = traitlets.Unicode("", help="Model and size, for the header.").tag(sync=True)
    xy = traitlets.Bytes(b"", help="2-D map: float32 x0, y0, x1, y1, ...").tag(sync=True)
    texts = traitlets.Bytes(b"", help="Texts (cut) as UTF-8 joined by NUL.").tag(sync=True)
    codes = traitlets.Bytes(b"", help="uint16 label code per text (0: none).").tag(sync=True)
    label_names = traitlets.List(help="Names of label codes 1, 2, ...").tag(sync=True)
    heatmap = traitlets.List(help="Row-major cosine similarities (empty above 50 texts).").tag(
        sync=True
    )
    focus = traitlets.Int(-1, help="The clicked text's index (-1: none).").tag(sync=True)
    neighbors = traitlets.List(help="Nearest neighbours of the focus or query.").tag(sync=True)
    query = traitlets.Dict(help="The last query: text, x, y (its place on the map).").tag(sync=True)
    selection = traitlets.List(traitlets.Int(), help="Indices inside the box drawn.").tag(sync=True)
    k = traitlets.Int(8, help="How many neighbours to list.").tag(sync=True)
    error = traitlets.Unicode("", help="What went wrong, in one message.").tag(sync=True)

    def __init__(
        self,
        texts_or_set: EmbeddingSet | Sequence[str],
        spec: Any = None,
        labels: Sequence[Any] | None = None,
        *,
        k: int = 8,
    ):
        super().__init__()
        if isinstance(texts_or_set, EmbeddingSet):
            if labels is not None:
                raise ValueError("labels come with the EmbeddingSet: EmbeddingSet(..., labels=)")
            self.set = texts_or_set
        else:
            model = spec if spec is not None else "all-minilm"
            self.set = _embed_with_progress(list(texts_or_set), model, labels)
        if len(self.set) == 0:
            raise ValueError("nothing to explore: give at least one text")
        self._xy = self.set.projection()
        self._handles: list[Any] = []
        self._png: dict[str, bytes] = {}
        self._timer: threading.Timer | None = None
        codes, names = label_codes(self.set.labels)
        model_name = self.set.model_name or "vectors"
        with self.hold_sync():
            self.k = k
            self.count = len(self.set)
            self.title = f"{len(self.set)} texts · {self.set.dim} dimensions · {model_name}"
            self.xy = points_blob(self._xy)
            self.texts = text_blob(self.set.texts)
            self.codes = codes.astype("<u2").tobytes()
            self.label_names = names
            if len(self.set) <= HEATMAP_LIMIT:
                self.heatmap = [round(float(v), 4) for v in self.set.similarity().ravel()]
        self.on_msg(self._on_msg)
        self.observe(self._on_selection, names=["selection"])

    # --- public API -----------------------------------------------------------------

    def show_neighbors(self, item: int | str) -> list[dict[str, Any]]:
        """Focus text `item` (index or text), as a click does; returns its neighbours."""
        index = self.set.index(item)
        rows = self._rows(self.set.neighbors(index, self.k))
        with self.hold_sync():
            self.focus, self.query, self.neighbors, self.error = index, {}, rows, ""
        self._snapshot_later()
        return rows

    def ask(self, text: str) -> list[dict[str, Any]]:
        """Embed `text` (not added), show where it lands and its neighbours; returns them."""
        try:
            result = self.set.query(text, k=self.k)
        except Exception as exc:  # one message in the view, not a traceback
            from .stream import error_message

            self.error = error_message(exc)
            return []
        rows = self._rows(result.neighbors)
        with self.hold_sync():
            self.focus = -1
            self.query = {"text": text, "x": result.point[0], "y": result.point[1]}
            self.neighbors, self.error = rows, ""
        self._snapshot_later()
        return rows

    def clear_focus(self) -> None:
        """Forget the clicked point or query."""
        with self.hold_sync():
            self.focus, self.query, self.neighbors = -1, {}, []

    def __repr__(self) -> str:
        return f"EmbeddingExplorer({len(self.set)} texts, dim={self.set.dim})"

    # --- snapshot -------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any] | None:
        from ..plots import projection_scatter, render_png, similarity_heatmap

        n = len(self.set)
        kind = "heatmap" if n <= HEATMAP_LIMIT else "map"
        if kind not in self._png:
            if kind == "heatmap":
                fig = similarity_heatmap(self.set.similarity(), self.set.texts)
            else:
                labels = self.set.labels
                groups = labels if any(label is not None for label in labels) else None
                fig = projection_scatter(self._xy, None, title=self.title, groups=groups)
            self._png[kind] = render_png(fig)
        # The figure goes inside the HTML: nbconvert and GitHub show text/html, not a
        # separate image/png beside it.
        alt = "cosine similarity heatmap" if kind == "heatmap" else "2-D map coloured by label"
        return {"text/html": self._neighbors_html() + png_img(self._png[kind], alt)}

    def _neighbors_html(self) -> str:
        note = (
            ""
            if len(self.set) <= HEATMAP_LIMIT
            else f" (over {HEATMAP_LIMIT} texts: the map and neighbour lists, no heatmap)"
        )
        head = f"<div><b>EmbeddingExplorer</b> · {html.escape(self.title)}{note}</div>"
        if self.query:
            about = f"query “{html.escape(self.query['text'])}”"
        elif self.focus >= 0:
            about = f"“{html.escape(self.set.texts[self.focus][:200])}”"
        else:
            return head
        items = "".join(
            f"<li><code>{r['score']:.3f}</code> {html.escape(r['text'][:200])}"
            f"{' <i>[' + html.escape(r['label']) + ']</i>' if r.get('label') else ''}</li>"
            for r in self.neighbors
        )
        return f"{head}<div>Nearest to {about} (cosine, original space):</div><ol>{items}</ol>"

    def _snapshot_later(self) -> None:
        # Several clicks in a row cost one display update.
        if not self._handles:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(0.5, self._update_displays)
        self._timer.daemon = True
        self._timer.start()

    # --- internals ------------------------------------------------------------------

    def _rows(self, found: list[Neighbor]) -> list[dict[str, Any]]:
        return [
            {"index": n.index, "text": n.text[:500], "score": round(n.score, 4), "label": n.label}
            for n in found
        ]

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        try:
            if kind == "focus":
                index = int(content.get("index", -1))
                if 0 <= index < len(self.set):
                    self.show_neighbors(index)
                else:
                    self.clear_focus()
            elif kind == "query" and str(content.get("text", "")).strip():
                self.ask(str(content["text"]))
        except Exception as exc:  # never lose a callback error
            from .stream import error_message

            self.error = error_message(exc)

    def _on_selection(self, change: dict) -> None:
        valid = sorted({i for i in change["new"] if 0 <= i < len(self.set)})
        if valid != list(change["new"]):
            self.selection = valid
