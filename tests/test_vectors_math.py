"""Embedding math: known values, invariants, and a planted structure PCA must find."""

from __future__ import annotations

import numpy as np
import pytest

from localllm_nb.vectors import cosine_similarity, normalize, pca_2d, top_k


def test_cosine_similarity_known_values():
    sim = cosine_similarity([[1, 0], [0, 2], [-3, 0], [1, 1]])
    assert sim.shape == (4, 4)
    assert np.allclose(np.diag(sim), 1.0) and np.allclose(sim, sim.T)
    assert sim[0, 1] == pytest.approx(0.0) and sim[0, 2] == pytest.approx(-1.0)
    assert sim[0, 3] == pytest.approx(2**-0.5)


def test_cross_similarity_and_dimension_check():
    sim = cosine_similarity([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert sim.shape == (1, 3) and sim[0].round(3).tolist() == [1.0, 0.0, 0.707]
    with pytest.raises(ValueError, match="dimensions differ"):
        cosine_similarity([[1.0, 0.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        cosine_similarity([[np.nan, 1.0]])


def test_float32_stays_float32_and_zero_rows_do_not_explode():
    x = np.random.default_rng(0).standard_normal((50, 384)).astype(np.float32)
    x[3] = 0
    sim = cosine_similarity(x)
    assert sim.dtype == np.float32 and np.all(np.isfinite(sim))
    assert np.all(sim <= 1.0) and np.all(sim >= -1.0)
    assert np.allclose(np.linalg.norm(normalize(x)[[0, 1]], axis=1), 1.0, atol=1e-6)


def test_pca_recovers_a_planted_plane():
    rng = np.random.default_rng(1)
    n, dim = 600, 384
    basis = np.linalg.qr(rng.standard_normal((dim, 2)))[0]
    coords = rng.standard_normal((n, 2)) * [10.0, 4.0]
    x = coords @ basis.T + 0.01 * rng.standard_normal((n, dim)) + 5.0
    proj = pca_2d(x)
    assert proj.shape == (n, 2)
    # Components match the planted coordinates up to sign, in order of variance.
    for k in range(2):
        assert abs(np.corrcoef(proj[:, k], coords[:, k])[0, 1]) > 0.999
    assert proj[:, 0].var() > proj[:, 1].var()
    # Same input, same picture (signs are pinned).
    assert np.array_equal(proj, pca_2d(x))


def test_pca_with_fewer_points_than_dimensions():
    x = np.random.default_rng(2).standard_normal((5, 384))
    proj = pca_2d(x)
    # Centred, to float32's precision (the projection is float32: the explorer's maps are).
    assert proj.shape == (5, 2)
    assert np.allclose(proj.mean(axis=0), 0.0, atol=1e-6 * np.abs(proj).max())
    assert pca_2d(x[:1]).tolist() == [[0.0, 0.0]]


def test_top_k_orders_best_first():
    vectors = [[0.0, 1.0], [1.0, 0.2], [1.0, 0.0], [-1.0, 0.0]]
    hits = top_k([1.0, 0.0], vectors, k=3)
    assert [i for i, _ in hits] == [2, 1, 0]
    assert hits[0][1] == pytest.approx(1.0)
    assert len(top_k([1.0, 0.0], vectors, k=10)) == 4
    with pytest.raises(ValueError, match="k must be"):
        top_k([1.0, 0.0], vectors, k=0)
