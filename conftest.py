"""Test session setup shared by the unit tests and the notebook validation.

Every run starts its own embedded server on a free loopback port and points
OLLAMA_HOST at it before any test or notebook kernel starts, so a test run never
depends on, or disturbs, an Ollama the user already runs.
"""

from __future__ import annotations

import os

import pytest

_server = None


def pytest_configure(config):
    global _server
    if os.environ.get("LOCALLLM_NB_TEST_SERVER"):
        # Reuse a server started by an outer test run (e.g. a notebook subprocess).
        os.environ["OLLAMA_HOST"] = os.environ["LOCALLLM_NB_TEST_SERVER"]
        return
    from localllm_nb.embedded import start_server

    _server = start_server()
    os.environ["OLLAMA_HOST"] = _server.url
    os.environ["LOCALLLM_NB_TEST_SERVER"] = _server.url


def pytest_unconfigure(config):
    if _server is not None:
        _server.stop()


@pytest.fixture(scope="session")
def server_url() -> str:
    """Base URL of this run's embedded server."""
    return os.environ["LOCALLLM_NB_TEST_SERVER"]
