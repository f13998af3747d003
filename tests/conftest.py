"""Fixtures shared by the test modules (the embedded server is started by the root conftest;
the models' names are in tests/models.py)."""

from __future__ import annotations

import os

import pytest

from tests.models import CHAT
from tests.venvs import kernel_venv, wheel  # noqa: F401  (fixtures shared by the install tests)

# The slowest files first (measured on 2 cores: the MLX suites, the install tests, the
# browser views), so the two workers `make test` runs end together: xdist hands out
# files in this order. The install tests keep theirs: the quickstart's `%pip install`
# must meet the shared environment fresh, before Binder's install into it.
SLOW_FIRST = (
    "test_mlx_standard.py",
    "test_mlx_constrained.py",
    "test_installed_wheel.py",
    "test_binder.py",
    "test_mlx_backend.py",
    "12_mlx.ipynb",
    "test_mlx_conversion.py",
    "test_views.py",
    "test_widgets2.py",
)


def pytest_collection_modifyitems(items):
    """Run the files in SLOW_FIRST first, in that order (all else keeps its order)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))


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


@pytest.fixture(scope="session")
def client(server_url):
    """ollama-python's client on this run's server (a generous timeout for a busy machine)."""
    import ollama

    return ollama.Client(host=server_url, timeout=300)


@pytest.fixture(scope="session")
def mlx_llm(mlx_cache):
    """The bundled model on MLX, converted and loaded once for the session; greedy and
    short. Modules with other settings derive a pipeline that shares its weights:
    `mlx_llm.model_copy(update={"pipeline_kwargs": {...}})`."""
    from localllm_nb.backends.mlx import MLXPipeline

    return MLXPipeline.from_model_id(CHAT, pipeline_kwargs={"max_tokens": 12, "temp": 0.0})


LLAMA_SERVER_MODEL = "smollm2-135m"
LLAMA_SERVER_KEY_ENV = "LOCALLLM_NB_TEST_LLAMA_KEY"


@pytest.fixture(scope="session")
def llama_server():
    """llama.cpp's own `llama-server` (run in process by xllamacpp, not through our Ollama
    layer) on the bundled GGUF, listening on a free loopback port behind an API key: the
    reference OpenAI-compatible peer for the openai backend. Yields `url` (ending in /v1),
    `key`, `model` (its alias) and `key_env`, the variable that holds the key meanwhile."""
    import secrets
    from types import SimpleNamespace

    import xllamacpp as xlc

    from localllm_nb.embedded.engine.instance import reclaim_signals
    from localllm_nb.embedded.models.wheels import SMOLLM2_GGUF

    params = xlc.CommonParams()
    params.model.path = str(SMOLLM2_GGUF.locate())
    params.model_alias = {LLAMA_SERVER_MODEL}
    params.verbosity = -1
    params.warmup = False
    params.n_ctx = 2048
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # llama-server binds a free port; listening_address names it
    key = "sk-test-" + secrets.token_hex(12)
    params.api_keys = [key]
    params.ui = False
    params.n_threads_http = 2
    server = xlc.Server(params)
    reclaim_signals()
    old = os.environ.get(LLAMA_SERVER_KEY_ENV)
    os.environ[LLAMA_SERVER_KEY_ENV] = key
    yield SimpleNamespace(
        url=server.listening_address + "/v1",
        key=key,
        model=LLAMA_SERVER_MODEL,
        key_env=LLAMA_SERVER_KEY_ENV,
    )
    if old is None:
        os.environ.pop(LLAMA_SERVER_KEY_ENV, None)
    else:
        os.environ[LLAMA_SERVER_KEY_ENV] = old
    del server
