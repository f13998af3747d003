"""EmbeddingExplorer: a view of an `EmbeddingSet` drawn in the browser with WebGL.

The 2-D map (uint16 x/y) and label codes go to the browser once, as binary buffers: 6
bytes a point. Texts stay in the kernel and travel when hovered, clicked or listed
(custom messages), except for small sets. Pan, zoom, hover and drawing happen in the
browser; box and lasso selections, search and neighbours are answered by the kernel. A
click asks for the point's nearest neighbours, ranked by cosine similarity in the
original space (the map only places points). Up to `HEATMAP_LIMIT` texts a similarity
heatmap with a colour scale comes first.

A saved notebook keeps a snapshot, one HTML: the neighbour list and the map as the
browser last showed it (view and selection), or the heatmap, as an image inside it.
"""

from __future__ import annotations

import base64
import contextlib
import html
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import traitlets

from ..vectors import EmbeddingSet, Neighbor
from ..vectors.clusters import PROMPT, auto_k, kmeans, samples
from ..vectors.explore import (
    DISTINCT,
    HEATMAP_LIMIT,
    by_frequency,
    in_polygon,
    label_codes,
    map_blob,
    palette,
    search,
    text_blob,
    value_codes,
)
from ._base import SnapshotDisplay, View
from ._esm import esm
from .cluster_names import name_clusters as start_naming
from .snapshot import png_img

PROGRESS_FROM = 64
"""Embedding at least this many new texts shows a progress bar."""

TEXTS_UP_FRONT = 1_000
"""Sets up to this size send their (cut) texts with the map; larger ones on demand."""

TEXTS_PER_REQUEST = 200
"""At most this many texts answer one request from the browser."""

FALLBACK_POINTS = 50_000
"""The kernel-drawn map (before the browser sent its picture) samples this many points."""


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
    50 texts), a 2-D map (WebGL; drag to pan, wheel or +/- to zoom) with hover, click for
    neighbours, colour by label or by a numeric column (`color_by`), box and lasso
    selection (`explorer.selection`, `explorer.selected`), search (`explorer.search`) and
    a query box. `explorer.set` is the EmbeddingSet shown; `explorer.link(other)` shares
    selection and view with another explorer of the same set."""

    _esm = esm("explorer.js")
    count = traitlets.Int(0, help="Number of texts shown.").tag(sync=True)
    title = traitlets.Unicode("", help="Model and size, for the header.").tag(sync=True)
    xy = traitlets.Bytes(b"", help="2-D map: uint16 x0, y0, x1, y1, ... across bounds.").tag(
        sync=True
    )
    bounds = traitlets.List(help="[x0, x1, y0, y1]: the map coordinates of steps 0 and 65535.").tag(
        sync=True
    )
    texts = traitlets.Bytes(
        b"", help="Texts (cut) as UTF-8 joined by NUL; empty above 1,000 texts (on demand)."
    ).tag(sync=True)
    codes = traitlets.Bytes(b"", help="uint16 label code per text (0: none).").tag(sync=True)
    label_names = traitlets.List(help="Names of label codes 1, 2, ...").tag(sync=True)
    label_colors = traitlets.List(help="Colour of label codes 1, 2, ...").tag(sync=True)
    palette_note = traitlets.Unicode("", help="Said when labels outnumber colours.").tag(sync=True)
    values = traitlets.Bytes(b"", help="uint8 step per text of the colour column (255: none).").tag(
        sync=True
    )
    value_range = traitlets.List(help="[min, max] of the colour column.").tag(sync=True)
    value_name = traitlets.Unicode("", help="Name of the colour column ('': by label).").tag(
        sync=True
    )
    heatmap = traitlets.List(help="Row-major cosine similarities (empty above 50 texts).").tag(
        sync=True
    )
    focus = traitlets.Int(-1, help="The clicked text's index (-1: none).").tag(sync=True)
    neighbors = traitlets.List(help="Nearest neighbours of the focus or query.").tag(sync=True)
    query = traitlets.Dict(help="The last query: text, x, y (its place on the map).").tag(sync=True)
    selection = traitlets.List(traitlets.Int(), help="Indices of the selected texts.")
    selected_ids = traitlets.Bytes(b"", help="The selection as uint32 indices.").tag(sync=True)
    matches = traitlets.Bytes(b"", help="uint32 indices of the texts the search found.").tag(
        sync=True
    )
    search_info = traitlets.Unicode("", help="What the search found, or why it failed.").tag(
        sync=True
    )
    # What the search box held, so that a view JupyterLab builds anew shows it again.
    search_pattern = traitlets.Unicode("", help="The last search's text.").tag(sync=True)
    search_regex = traitlets.Bool(False, help="The last search was a regular expression.").tag(
        sync=True
    )
    view = traitlets.List(help="[x0, x1, y0, y1] of the map shown ([]: all of it).").tag(sync=True)
    clusters = traitlets.List(
        help="Named clusters drawn on the map: {x, y, name, size, final} each."
    ).tag(sync=True)
    naming = traitlets.Dict(help="Cluster naming: model, prompt, state.").tag(sync=True)
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
        self.set.neighbors(0, 1)  # keeps the row norms now, not on the first click
        self._texts = self.set.texts  # one copy, read by every text request
        self._handles: list[Any] = []
        self._png: dict[str, bytes] = {}
        self._png_key = ""
        self.cluster_labels: np.ndarray | None = None
        self._timer: threading.Timer | None = None
        codes, names = label_codes(self.set.labels)
        if names:  # the most frequent labels get the distinct colours
            order = by_frequency(codes, len(names))
            codes = order[codes].astype(np.uint16)
            names = [name for _, name in sorted(zip(order[1:], names, strict=True))]
        self._codes = codes
        model_name = self.set.model_name or "vectors"
        blob, bounds = map_blob(self._xy)
        with self.hold_sync():
            self.k = k
            self.count = len(self.set)
            self.title = f"{len(self.set)} texts · {self.set.dim} dimensions · {model_name}"
            self.xy, self.bounds = blob, bounds
            if len(self.set) <= TEXTS_UP_FRONT:
                self.texts = text_blob(self._texts)
            self.codes = codes.astype("<u2").tobytes()
            self.label_names = names
            self.label_colors = palette(len(names))
            if len(names) > DISTINCT:
                self.palette_note = (
                    f"{len(names)} labels: the {DISTINCT - 1} most frequent have colours of "
                    f"their own, the other {len(names) - DISTINCT + 1} share grey."
                )
            if len(self.set) <= HEATMAP_LIMIT:
                self.heatmap = [round(float(v), 4) for v in self.set.similarity().ravel()]
        self.on_msg(self._on_msg)
        self.observe(self._on_selection, names=["selection"])

    # --- public API -----------------------------------------------------------------

    def show_neighbors(self, item: int | str) -> list[dict[str, Any]]:
        """Focus text `item` (index or text), as a click does; returns its neighbours."""
        rows = self._focus(item)
        self._snapshot_later()
        return rows

    def _focus(self, item: int | str) -> list[dict[str, Any]]:
        index = self.set.index(item)
        rows = self._rows(self.set.neighbors(index, self.k))
        # The clicked text travels with its neighbours, not in a second round trip.
        self.send({"type": "texts", "ids": [index], "texts": [self._texts[index][:500]]})
        with self.hold_sync():
            self.focus, self.query, self.neighbors, self.error = index, {}, rows, ""
        return rows

    def ask(self, text: str) -> list[dict[str, Any]]:
        """Embed `text` (not added), show where it lands and its neighbours; returns them."""
        rows = self._ask(text)
        if rows:
            self._snapshot_later()
        return rows

    def _ask(self, text: str) -> list[dict[str, Any]]:
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
        return rows

    def clear_focus(self) -> None:
        """Forget the clicked point or query."""
        with self.hold_sync():
            self.focus, self.query, self.neighbors = -1, {}, []

    def search(self, pattern: str, regex: bool = False) -> list[int]:
        """Highlight the texts containing `pattern` (ignoring case; a regular expression
        with `regex`) and return their indices; '' clears. A bad expression is said in
        the view (and raises ValueError here)."""
        try:
            found = search(self._texts, pattern, regex=regex)
        except ValueError as exc:
            with self.hold_sync():
                self.matches, self.search_info = b"", str(exc)
                self.search_pattern, self.search_regex = pattern, regex
            raise
        with self.hold_sync():
            self.search_pattern, self.search_regex = pattern, regex
            self.matches = found.astype("<u4").tobytes()
            self.search_info = f"{len(found)} of {len(self._texts)} texts match" if pattern else ""
        return found.tolist()

    def select_polygon(self, polygon: Sequence[Sequence[float]]) -> list[int]:
        """Select the points inside `polygon` ([[x, y], ...] in map coordinates), as a
        lasso does; returns their indices."""
        self.selection = in_polygon(self._xy, polygon)
        return self.selection

    @property
    def selected(self) -> Any:
        """The selected texts as a pandas DataFrame (index, text, label)."""
        import pandas as pd

        labels = self.set.labels
        rows = self.selection
        return pd.DataFrame(
            {"text": [self._texts[i] for i in rows], "label": [labels[i] for i in rows]},
            index=pd.Index(rows, name="index"),
        )

    def color_by(self, values: Sequence[float] | None, name: str = "value") -> None:
        """Colour the points by a numeric column (one number per text; NaN: none), or
        by label again with None."""
        if values is None:
            with self.hold_sync():
                self.values, self.value_range, self.value_name = b"", [], ""
            return
        if len(values) != len(self.set):
            raise ValueError(f"need one value per text: {len(self.set)} texts, {len(values)}")
        blob, span = value_codes(values)
        with self.hold_sync():
            self.values, self.value_range, self.value_name = blob, span, name or "value"

    def name_clusters(
        self,
        spec: Any = "smollm2:135m",
        k: int | None = None,
        prompt: str = PROMPT,
        per: int = 8,
    ) -> threading.Thread:
        """Cluster the texts (k-means by cosine; `k` automatic when None), then ask the
        chat model of `spec` for a short name of each from `per` of its texts; names
        stream onto the map. Returns the naming thread (`.join()` waits for it);
        `explorer.cluster_labels` holds each text's cluster."""
        found = kmeans(self.set.vectors, k or auto_k(len(self.set)))
        self.cluster_labels = found.labels
        sizes = np.bincount(found.labels, minlength=found.k)
        centres = [
            self._xy[found.labels == j].mean(axis=0) if sizes[j] else (0.0, 0.0)
            for j in range(found.k)
        ]
        names = [
            {"x": float(c[0]), "y": float(c[1]), "name": "…", "size": int(sizes[j]), "final": False}
            for j, c in enumerate(centres)
        ]
        model = getattr(spec, "model", spec)
        lock = threading.Lock()
        with self.hold_sync():
            self.clusters = names
            self.naming = {"model": str(model), "prompt": prompt, "state": "running"}

        def on_name(j: int, name: str, final: bool) -> None:
            with lock:
                names[j] = {**names[j], "name": name, "final": final}
                self.clusters = [dict(row) for row in names]
                if all(row["final"] for row in names):
                    self.naming = {**self.naming, "state": "done"}
                    # Now, not debounced: the names reach the saved snapshot before the
                    # naming thread ends (a later update has no running cell to land in).
                    self._update_displays()

        def on_error(exc: BaseException) -> None:
            from .stream import error_message

            with self.hold_sync():
                self.error = error_message(exc)
                self.naming = {**self.naming, "state": "error"}

        texts = samples(found.labels, self._texts, per)
        return start_naming(spec, texts, prompt, on_name, on_error)

    def link(self, other: EmbeddingExplorer) -> list[traitlets.link]:
        """Share selection and view with `other` (an explorer of a set of the same size),
        both ways; returns the links (`.unlink()` ends them)."""
        if other.count != self.count:
            raise ValueError(f"cannot link explorers of {self.count} and {other.count} texts")
        return [traitlets.link((self, name), (other, name)) for name in ("selection", "view")]

    def __repr__(self) -> str:
        return f"EmbeddingExplorer({len(self.set)} texts, dim={self.set.dim})"

    # --- snapshot -------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any] | None:
        n = len(self.set)
        if n <= HEATMAP_LIMIT:
            kind, alt = "heatmap", "cosine similarity heatmap"
        elif "shown" in self._png:
            kind, alt = "shown", "2-D map as last shown, with its view and selection"
        else:
            kind, alt = "map", "2-D map coloured by label"
        if kind not in self._png:
            self._png[kind] = self._draw_png(kind)
        # The figure goes inside the HTML: nbconvert and GitHub show text/html, not a
        # separate image/png beside it.
        return {"text/html": self._neighbors_html() + png_img(self._png[kind], alt)}

    def _draw_png(self, kind: str) -> bytes:
        from ..plots import projection_scatter, render_png, similarity_heatmap

        if kind == "heatmap":
            return render_png(similarity_heatmap(self.set.similarity(), self._texts))
        # Matplotlib needs seconds for a million markers: a sample shows the same shape.
        n = len(self._xy)
        keep = np.arange(n)
        if n > FALLBACK_POINTS:
            keep = np.sort(np.random.default_rng(0).choice(n, FALLBACK_POINTS, replace=False))
        labels = self.set.labels
        groups = [labels[i] for i in keep] if any(x is not None for x in labels) else None
        return render_png(projection_scatter(self._xy[keep], None, title=self.title, groups=groups))

    def _neighbors_html(self) -> str:
        note = (
            ""
            if len(self.set) <= HEATMAP_LIMIT
            else f" (over {HEATMAP_LIMIT} texts: the map and neighbour lists, no heatmap)"
        )
        head = f"<div><b>EmbeddingExplorer</b> · {html.escape(self.title)}{note}</div>"
        if self.selection:
            head += f"<div>{len(self.selection)} selected</div>"
        if self.clusters:
            named = ", ".join(html.escape(c["name"]) for c in self.clusters)
            head += (
                f"<div>Clusters named by {html.escape(self.naming.get('model', ''))}: {named}</div>"
            )
        if self.query:
            about = f"query “{html.escape(self.query['text'])}”"
        elif self.focus >= 0:
            about = f"“{html.escape(self._texts[self.focus][:200])}”"
        else:
            return head
        items = "".join(
            f"<li><code>{r['score']:.3f}</code> {html.escape(r['text'][:200])}"
            f"{' <i>[' + html.escape(r['label']) + ']</i>' if r.get('label') else ''}</li>"
            for r in self.neighbors
        )
        return f"{head}<div>Nearest to {about} (cosine, original space):</div><ol>{items}</ol>"

    def _snapshot_after_click(self) -> None:
        # Above the heatmap's size the browser sends its picture once the overlay shows
        # the click, and that picture updates the snapshot. A display update now as well
        # would make JupyterLab re-create the view once more, while the user clicks on.
        if len(self.set) <= HEATMAP_LIMIT:
            self._snapshot_later()

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
                    self._focus(index)
                    self._snapshot_after_click()
                else:
                    self.clear_focus()
            elif kind == "query" and str(content.get("text", "")).strip():
                if self._ask(str(content["text"])):
                    self._snapshot_after_click()
            elif kind == "texts":
                ids = [int(i) for i in content.get("ids", [])[:TEXTS_PER_REQUEST]]
                ids = [i for i in ids if 0 <= i < len(self._texts)]
                texts = [self._texts[i][:500] for i in ids]
                self.send({"type": "texts", "ids": ids, "texts": texts})
            elif kind == "select":
                self.select_polygon(content.get("polygon") or [])
            elif kind == "search":
                with contextlib.suppress(ValueError):  # said in search_info
                    self.search(str(content.get("pattern", "")), bool(content.get("regex")))
            elif kind == "name_clusters":
                k = int(content.get("k") or 0) or None
                prompt = str(content.get("prompt") or PROMPT)
                self.name_clusters(self.naming.get("model") or "smollm2:135m", k, prompt)
            elif kind == "png":
                # The display update re-creates the view, which draws the same map and
                # sends it again: a picture of what is already kept changes nothing.
                key = str(content.get("key", ""))
                if key != self._png_key or "shown" not in self._png:
                    self._png_key = key
                    self._png["shown"] = base64.b64decode(str(content.get("data", "")))
                    self._snapshot_later()
        except Exception as exc:  # never lose a callback error
            from .stream import error_message

            self.error = error_message(exc)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal: dict) -> list[int]:
        # Sorted, unique, in range: a validator, not an observer that sets it again, so
        # that linked explorers see one change.
        return sorted({int(i) for i in proposal["value"] if 0 <= i < self.count})

    def _on_selection(self, change: dict) -> None:
        valid = change["new"]
        self.selected_ids = np.asarray(valid, dtype="<u4").tobytes()
        self._snapshot_later()
