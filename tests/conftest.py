"""Fixtures shared by the test modules (the embedded server is started by the root conftest)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def mlx_cache(tmp_path_factory):
    """Point the model cache (`LOCALLLM_NB_MODELS`, whose `mlx/` folder holds converted
    MLX models) at this session's temp dir, so tests convert the bundled model once and
    never touch the user's cache. Bundled files already fetched stay visible (linked)."""
    from localllm_nb.embedded.models.fetch import CACHE_ENV, cache_root

    root = tmp_path_factory.getbasetemp() / "model-cache"
    root.mkdir(exist_ok=True)
    real = cache_root()
    for fetched in real.iterdir() if real.is_dir() else ():
        # `<distribution>-<version>` folders; not a fetch in progress, not the MLX cache
        if fetched.name[0] != "." and fetched.name != "mlx" and fetched.is_dir():
            (root / fetched.name).symlink_to(fetched)
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    yield root
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old
