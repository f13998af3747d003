"""What the embedding explorer sends and answers, as plain numpy: the 2-D map as binary
buffers (uint16 x/y + uint16 label: 6 bytes a point), label codes and palettes, box and
lasso selections, text search. Neighbours come from `EmbeddingSet.neighbors`
(`math.top_k`: one row of similarities, never the n x n matrix). No widget code here.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

GRID = 65_535
"""x and y travel as uint16 steps across the map's bounds: 1/65,535 of its width is finer
than a pixel at 100x zoom, and half the bytes of float32."""

TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]  # fmt: skip
DISTINCT = 30
"""Labels up to this many get a colour of their own (Tableau 10, then hues spread by the
golden angle at two lightnesses); beyond it the rarest labels share grey, and the view
says so."""
OTHER = "#b0b0b0"

HEATMAP_LIMIT = 50
"""Up to this many texts the explorer shows a similarity heatmap with readable labels."""

TEXT_WIDTH = 200
"""Characters of each text the browser keeps for hover tooltips."""


def label_codes(labels: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """Labels as uint16 codes (0: no label) and the names of codes 1, 2, ... in first-seen order.

    >>> codes, names = label_codes(["b", None, "a", "b"])
    >>> codes.tolist(), names
    ([1, 0, 2, 1], ['b', 'a'])
    """
    names: dict[str, int] = {}
    codes = np.zeros(len(labels), dtype=np.uint16)
    for i, label in enumerate(labels):
        if label is not None:
            codes[i] = names.setdefault(label, len(names) + 1)
    if len(names) >= 2**16:
        raise ValueError(f"too many distinct labels to colour ({len(names)})")
    return codes, list(names)


def text_blob(texts: Sequence[str], width: int = TEXT_WIDTH) -> bytes:
    """The texts, each cut to `width` characters, as UTF-8 joined by NUL (one buffer).

    >>> text_blob(["héll", "a\\x00b", "long text"], width=4).split(b"\\x00")
    [b'h\\xc3\\xa9ll', b'a b', b'long\\xe2\\x80\\xa6']
    """
    cut = [t.replace("\x00", " ") for t in texts]
    cut = [t if len(t) <= width else t[:width] + "…" for t in cut]
    return "\x00".join(cut).encode("utf-8")


def points_blob(points: Any) -> bytes:
    """(n, 2) coordinates as little-endian float32 x0, y0, x1, y1, ... (one buffer)."""
    return np.ascontiguousarray(np.asarray(points, dtype="<f4")[:, :2]).tobytes()


def in_box(points: Any, x0: float, y0: float, x1: float, y1: float) -> list[int]:
    """Indices of the points inside the box (corners in any order), in index order.

    >>> in_box([[0, 0], [1, 1], [2, 2]], 2.5, 0.5, 0.5, 2.5)
    [1, 2]
    """
    pts = np.asarray(points, dtype=np.float64)
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y0, y1))
    inside = (pts[:, 0] >= lo_x) & (pts[:, 0] <= hi_x) & (pts[:, 1] >= lo_y) & (pts[:, 1] <= hi_y)
    return [int(i) for i in np.flatnonzero(inside)]


def map_blob(points: Any) -> tuple[bytes, list[float]]:
    """(n, 2) coordinates as little-endian uint16 x0, y0, x1, y1, ... scaled to their bounds,
    and the bounds [x0, x1, y0, y1] that turn steps back into coordinates.

    >>> blob, bounds = map_blob([[0.0, 10.0], [2.0, 20.0], [1.0, 15.0]])
    >>> np.frombuffer(blob, "<u2").tolist(), bounds
    ([0, 0, 65535, 65535, 32768, 32768], [0.0, 2.0, 10.0, 20.0])
    """
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    if len(pts) == 0:
        return b"", [0.0, 1.0, 0.0, 1.0]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    steps = np.rint((pts - lo) / span * GRID).astype("<u2")
    return steps.tobytes(), [
        float(lo[0]),
        float(lo[0] + span[0]),
        float(lo[1]),
        float(lo[1] + span[1]),
    ]


def in_polygon(points: Any, polygon: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points inside `polygon` (a lasso: [[x, y], ...], closed implicitly),
    by the even-odd rule, in index order; only points in its bounding box are tested.

    >>> in_polygon([[1, 1], [2, 1], [1, 2], [9, 9], [3, 3]], [[0, 0], [4, 0], [0, 4]])
    [0, 1, 2]
    """
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3:
        return []
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    (x0, y0), (x1, y1) = poly.min(axis=0), poly.max(axis=0)
    near = np.flatnonzero(
        (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    )
    x, y = pts[near, 0], pts[near, 1]
    inside = np.zeros(len(near), dtype=bool)
    for (ax, ay), (bx, by) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < at)
    return [int(i) for i in near[inside]]


def search(texts: Sequence[str], pattern: str, *, regex: bool = False) -> np.ndarray:
    """Indices (uint32) of the texts containing `pattern`, ignoring case; with `regex`, a
    regular expression searched anywhere. A bad expression raises ValueError with a
    short reason.

    >>> search(["Cat", "dog", "cats"], "cat").tolist(), search(["a1", "b", "c22"], r"\\d+$", regex=True).tolist()
    ([0, 2], [0, 2])
    >>> search(["x"], "(", regex=True)
    Traceback (most recent call last):
    ValueError: not a regular expression: missing ), unterminated subpattern at position 0
    """
    if not pattern:
        return np.zeros(0, dtype=np.uint32)
    if regex:
        try:
            found = re.compile(pattern, re.IGNORECASE).search
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        hits = [i for i, text in enumerate(texts) if found(text)]
    else:
        needle = pattern.casefold()
        hits = [i for i, text in enumerate(texts) if needle in text.casefold()]
    return np.asarray(hits, dtype=np.uint32)


def palette(count: int, limit: int = DISTINCT) -> list[str]:
    """`count` colours, one per label code 1..count: Tableau 10 first, then hues spread by
    the golden angle at alternating lightness, up to `limit` distinct; the rest grey.

    >>> palette(3), len(set(palette(30))), palette(32)[-2:]
    (['#1f77b4', '#ff7f0e', '#2ca02c'], 30, ['#b0b0b0', '#b0b0b0'])
    """
    out = TAB10[: min(count, 10)]
    for i in range(10, min(count, limit)):
        hue = (0.13 + (i - 10) * 0.618034) % 1.0
        light, sat = (0.38, 0.75) if i % 2 else (0.62, 0.65)
        r, g, b = colorsys.hls_to_rgb(hue, light, sat)
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return out + [OTHER] * max(0, count - limit)


def by_frequency(codes: np.ndarray, count: int) -> np.ndarray:
    """Label codes renumbered so the most frequent label is 1 (gets the first colour):
    returns `order`, with order[old_code] = new_code (0 stays 0).

    >>> by_frequency(np.array([1, 2, 2, 0, 2]), 2).tolist()
    [0, 2, 1]
    """
    sizes = np.bincount(codes, minlength=count + 1)[1:]
    ranked = np.argsort(-sizes, kind="stable")
    order = np.zeros(count + 1, dtype=np.int64)
    order[ranked + 1] = np.arange(1, count + 1)
    return order


def value_codes(values: Any) -> tuple[bytes, list[float]]:
    """A numeric column as one uint8 step per point (0..254 across [min, max]; 255 for a
    missing value) and [min, max], for colouring by value.

    >>> blob, span = value_codes([1.0, 3.0, float("nan"), 2.0])
    >>> list(blob), span
    ([0, 254, 255, 127], [1.0, 3.0])
    """
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr)
    if not ok.any():
        return bytes([255]) * len(arr), [0.0, 1.0]
    lo, hi = float(arr[ok].min()), float(arr[ok].max())
    span = hi - lo if hi > lo else 1.0
    steps = np.full(len(arr), 255, dtype=np.uint8)
    steps[ok] = np.floor((arr[ok] - lo) / span * 254 + 0.5).astype(np.uint8)
    return steps.tobytes(), [lo, hi]
