"""Test session setup shared by the unit tests and the notebook validation.

A run that needs a server (a test asking for `server_url`, a notebook, a browser test)
starts its own embedded server on a free loopback port and points OLLAMA_HOST at it
before any test or notebook kernel starts, so a test run never depends on, or disturbs,
an Ollama the user already runs. A run of server-free tests (numpy, parsing, MLX) starts
none, and its OLLAMA_HOST leads nowhere.
"""

from __future__ import annotations

import os

import pytest

# Where OLLAMA_HOST points when this run started no server: the discard port, where
# nothing answers, rather than the user's Ollama.
NOWHERE = "http://127.0.0.1:9"

_server = None


def pytest_configure(config):
    if os.environ.get("LOCALLLM_NB_TEST_SERVER"):
        # Reuse a server started by an outer test run (e.g. a notebook subprocess).
        os.environ["OLLAMA_HOST"] = os.environ["LOCALLLM_NB_TEST_SERVER"]
    else:
        os.environ["OLLAMA_HOST"] = NOWHERE


def needs_server(item: pytest.Item) -> bool:
    """A notebook cell (its kernel reads OLLAMA_HOST when it starts), or a test that asks
    for `server_url`, directly or through its fixtures."""
    return item.path.suffix == ".ipynb" or "server_url" in getattr(item, "fixturenames", ())


def pytest_collection_finish(session):
    # Before the first test: nbval starts a notebook's kernel without any fixture.
    if any(needs_server(item) for item in session.items):
        start_test_server()


def start_test_server() -> str:
    """This run's embedded server (started on first call); sets OLLAMA_HOST to it."""
    global _server
    url = os.environ.get("LOCALLLM_NB_TEST_SERVER")
    if not url:
        from localllm_nb.embedded import start_server

        _server = start_server()
        url = os.environ["LOCALLLM_NB_TEST_SERVER"] = _server.url
    os.environ["OLLAMA_HOST"] = url
    return url


def pytest_unconfigure(config):
    if _server is not None:
        _server.stop()


@pytest.fixture(scope="session")
def server_url() -> str:
    """Base URL of this run's embedded server (also in OLLAMA_HOST)."""
    return start_test_server()
