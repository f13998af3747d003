"""Cosine similarity, PCA to 2-D and top-k neighbours, numpy only.

Inputs are anything `np.asarray` takes (lists from `embed_documents`, arrays). float32
inputs stay float32: a 5,000 x 5,000 similarity matrix is 100 MB in float32, twice that
in float64, and the extra precision buys nothing for display.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _matrix(vectors: Any, name: str = "vectors") -> np.ndarray:
    arr = np.asarray(vectors)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


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
    eigenvectors, much cheaper than an SVD for n >> dim (5,000 x 384). Signs are fixed so
    that each axis's largest projected coordinate is positive, making the picture stable
    between calls.
    """
    arr = _matrix(vectors)
    n, dim = arr.shape
    mean = arr.mean(axis=0)
    axes = np.zeros((dim, 2), dtype=arr.dtype)
    if n < 2:
        return mean, axes
    centered = arr - mean
    if n < dim:
        # Few points: the SVD of the small n x dim data is the cheap one.
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        found = vt[:2].T
    else:
        _, vecs = np.linalg.eigh(centered.T @ centered)
        found = vecs[:, ::-1][:, :2]
    comps = centered @ found
    # Eigenvector signs are arbitrary; make each column's largest value positive.
    idx = np.argmax(np.abs(comps), axis=0)
    signs = np.sign(comps[idx, range(comps.shape[1])])
    axes[:, : found.shape[1]] = found * np.where(signs == 0, 1, signs)
    return mean, axes


def pca_2d(vectors: Any) -> np.ndarray:
    """Project rows onto their first two principal components, shape (n, 2).

    >>> [round(float(x), 1) + 0.0 for x in pca_2d([[0, 0], [2, 0], [4, 0.1]])[:, 0]]
    [-2.0, 0.0, 2.0]
    """
    arr = _matrix(vectors)
    mean, axes = pca_fit(arr)
    return (arr - mean) @ axes


def top_k(
    query: Any,
    vectors: Any,
    k: int = 5,
    *,
    exclude: int | None = None,
    normalized: bool = False,
) -> list[tuple[int, float]]:
    """The `k` rows of `vectors` most similar to `query`: [(index, cosine), ...], best
    first, ties in index order; row `exclude` left out (a text's own row).

    One row of similarities and a partial sort: never the n x n matrix, which at
    50,000 texts would take 10 GB. With `normalized`, `vectors` are unit rows already
    (`normalize(vectors)`, kept by a caller that asks many times).

    >>> [(i, round(s, 3)) for i, s in top_k([1.0, 0.0], [[0.0, 1.0], [1.0, 0.1], [1.0, 0.0]], k=2)]
    [(2, 1.0), (1, 0.995)]
    >>> top_k([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], exclude=0)
    [(1, 0.0)]
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    unit = _matrix(vectors) if normalized else normalize(vectors)
    q = normalize(query)
    if q.shape != (1, unit.shape[1]):
        raise ValueError(f"query must be one vector of dimension {unit.shape[1]}, got {q.shape}")
    sims = unit @ q[0]
    np.clip(sims, -1.0, 1.0, out=sims)  # rounding can push |cos| a hair above 1
    if exclude is not None:
        sims[exclude] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    if k == 0:
        return []
    idx = np.sort(np.argpartition(-sims, k - 1)[:k])
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    return [(int(i), float(sims[i])) for i in idx]
