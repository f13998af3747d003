"""What the embedding explorer sends and answers, as plain numpy: the 2-D map as binary
buffers, label codes and box selections. Neighbours come from `EmbeddingSet.neighbors`
(`math.top_k`: one row of similarities, never the n x n matrix). No widget code here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
