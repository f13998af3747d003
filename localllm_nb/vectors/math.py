"""Cosine similarity, PCA to 2-D and top-k neighbours, numpy only.

Inputs are anything `np.asarray` takes (lists from `embed_documents`, arrays). float32
inputs stay float32: a 5,000 x 5,000 similarity matrix is 100 MB in float32, twice that
in float64, and the extra precision buys nothing for display.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

PCA_SAMPLE = 20_000
"""`pca_fit` finds the axes from at most this many rows (seeded random sample); every
row is then projected on them."""

CHUNK = 4_096
"""Rows per block when a pass over every row would otherwise make a temporary copy (a
million 384-d rows are 1.5 GB in float32: centring or checking them whole doubles that)."""


def chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    """Row slices of at most `size` rows covering range(n).

    >>> list(chunks(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _matrix(vectors: Any, name: str = "vectors") -> np.ndarray:
    arr = np.asarray(vectors)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if not all(np.isfinite(arr[part]).all() for part in chunks(arr.shape[0])):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def row_norms(vectors: Any) -> np.ndarray:
    """Each row's length (float32), computed block by block (no copy of the rows).

    >>> row_norms([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [5.0, 0.0]
    """
    arr = _matrix(vectors)
    out = np.empty(arr.shape[0], dtype=np.float32)
    for part in chunks(arr.shape[0]):
        block = arr[part].astype(np.float32)
        out[part] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def project(vectors: Any, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """`(vectors - mean) @ axes`, block by block: (n, 2) float32, no centred copy."""
    arr = _matrix(vectors)
    out = np.empty((arr.shape[0], axes.shape[1]), dtype=np.float32)
    low = np.float64 if arr.dtype == np.float64 else np.float32
    shift, axes_low = mean.astype(np.float64) @ axes, np.ascontiguousarray(axes, dtype=low)
    for part in chunks(arr.shape[0]):
        out[part] = arr[part].astype(low, copy=False) @ axes_low - shift
    return out


def normalize(vectors: Any) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero.

    >>> normalize([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    arr = _matrix(vectors)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms == 0, 1, norms)


def cosine_similarity(a: Any, b: Any | None = None) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b` (default: `a`).

    >>> cosine_similarity([[1.0, 0.0], [1.0, 1.0]]).round(3).tolist()
    [[1.0, 0.707], [0.707, 1.0]]
    """
    na = normalize(a)
    nb = na if b is None else normalize(b)
    if na.shape[1] != nb.shape[1]:
        raise ValueError(f"dimensions differ: {na.shape[1]} vs {nb.shape[1]}")
    sim = na @ nb.T
    # Rounding can push |cos| a hair above 1.
    return np.clip(sim, -1.0, 1.0, out=sim)


def pca_fit(vectors: Any) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the first two principal axes of the rows: (mean (dim,), axes (dim, 2)).

    `(x - mean) @ axes` projects any vector of the same space, so a query lands on the
    same map as the points it is compared with. Uses the dim x dim covariance's
    eigenvectors, much cheaper than an SVD for n >> dim (5,000 x 384), summed block by
    block so a million rows need no centred copy and never an n x n matrix; above
    `PCA_SAMPLE` rows, from a random sample of them. Signs are
    fixed so that each axis's largest projected coordinate is positive, making the
    picture stable between calls.
    """
    arr = _matrix(vectors)
    full = arr
    if len(arr) > PCA_SAMPLE:  # the axes of 20,000 random rows are those of a million
        rows = np.sort(np.random.default_rng(0).choice(len(arr), PCA_SAMPLE, replace=False))
        arr = arr[rows]
    n, dim = arr.shape
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    mean = sum(arr[part].astype(np.float64).sum(axis=0) for part in chunks(n)) / max(n, 1)
    axes = np.zeros((dim, 2), dtype=dtype)
    if n < 2:
        return mean.astype(dtype), axes
    if n < dim:
        # Few points: the SVD of the small n x dim data is the cheap one.
        _, _, vt = np.linalg.svd(arr - mean, full_matrices=False)
        found = vt[:2].T
    else:
        cov = np.zeros((dim, dim))
        low = np.float64 if dtype == np.float64 else np.float32  # float32 BLAS: twice as fast
        for part in chunks(n):
            block = (arr[part] - mean).astype(low)
            cov += block.T @ block
        _, vecs = np.linalg.eigh(cov)
        found = vecs[:, ::-1][:, :2]
    comps = project(full, mean, found)
    # Eigenvector signs are arbitrary; make each column's largest value positive.
    idx = np.argmax(np.abs(comps), axis=0)
    signs = np.sign(comps[idx, range(comps.shape[1])])
    axes[:, : found.shape[1]] = found * np.where(signs == 0, 1, signs)
    return mean.astype(dtype), axes


def pca_2d(vectors: Any) -> np.ndarray:
    """Project rows onto their first two principal components, shape (n, 2).

    >>> [round(float(x), 1) + 0.0 for x in pca_2d([[0, 0], [2, 0], [4, 0.1]])[:, 0]]
    [-2.0, 0.0, 2.0]
    """
    arr = _matrix(vectors)
    mean, axes = pca_fit(arr)
    return project(arr, mean, axes)


def top_k(
    query: Any,
    vectors: Any,
    k: int = 5,
    *,
    exclude: int | None = None,
    normalized: bool = False,
    norms: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """The `k` rows of `vectors` most similar to `query`: [(index, cosine), ...], best
    first, ties in index order; row `exclude` left out (a text's own row).

    One row of similarities and a partial sort: never the n x n matrix, which at
    50,000 texts would take 10 GB. With `normalized`, `vectors` are unit rows already
    (`normalize(vectors)`, kept by a caller that asks many times). With `norms`
    (`row_norms(vectors)`), the rows stay as they are: no unit copy of a million rows.

    >>> [(i, round(s, 3)) for i, s in top_k([1.0, 0.0], [[0.0, 1.0], [1.0, 0.1], [1.0, 0.0]], k=2)]
    [(2, 1.0), (1, 0.995)]
    >>> top_k([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], exclude=0)
    [(1, 0.0)]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    # Rows a caller kept (unit or with norms) were checked once; a million-row check
    # per click would cost more than the ranking.
    kept = normalized or norms is not None
    unit = np.asarray(vectors) if kept else normalize(vectors)
    q = normalize(query)
    if unit.ndim != 2 or q.shape != (1, unit.shape[1]):
        raise ValueError(f"query must be one vector of dimension {unit.shape[-1]}, got {q.shape}")
    q32 = q[0].astype(np.float32 if unit.dtype != np.float64 else np.float64)
    if unit.dtype == np.float16:  # numpy has no fast float16 product: by blocks in float32
        sims = np.concatenate([unit[p].astype(np.float32) @ q32 for p in chunks(len(unit))])
    else:
        sims = unit @ q32
    if norms is not None:
        sims /= np.where(norms == 0, 1, norms)
    np.clip(sims, -1.0, 1.0, out=sims)  # rounding can push |cos| a hair above 1
    if exclude is not None:
        sims[exclude] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    if k == 0:
        return []
    return [(int(i), float(sims[i])) for i in largest(sims, k)]


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` largest of `values`, largest first, ties in index order.

    The k-th largest of a strided sample is at most the k-th largest of all, so every
    answer is at least that: the few values above it are sorted, not the whole row
    (argpartition over a million clustered similarities took 170-350 ms here).

    >>> largest(np.array([0.1, 0.9, 0.5, 0.9, 0.2]), 3).tolist()
    [1, 3, 2]
    """
    step = max(1, len(values) // 4096)
    sample = values[::step]
    if step > 1 and len(sample) > k:
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        candidates = np.flatnonzero(values >= floor)
    else:
        candidates = np.arange(len(values))
    return candidates[np.argsort(-values[candidates], kind="stable")[:k]]
