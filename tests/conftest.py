"""Fixtures shared by the test modules (the embedded server is started by the root conftest)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def mlx_cache(tmp_path_factory):
    """Point the MLX conversion cache at this session's temp dir, so tests convert the
    bundled model once and never touch the user's cache."""
    from localllm_nb.backends._mlx_bundled import CACHE_ENV

    root = tmp_path_factory.getbasetemp() / "mlx-cache"
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    yield root
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old
