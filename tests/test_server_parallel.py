"""`OLLAMA_NUM_PARALLEL`: one model serving several requests at once (off by default)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from localllm_nb.embedded import start_server
from tests.models import CHAT


@pytest.fixture(scope="module")
def parallel_server():
    server = start_server(env={"OLLAMA_NUM_PARALLEL": "2"})
    yield server
    server.stop()


def timed_stream(url: str, prompt: str) -> tuple[float, float, dict]:
    """(first line at, last line at, final line) of one streamed chat."""
    body = {
        "model": CHAT,
        "messages": [{"role": "user", "content": prompt}],
        "options": {"temperature": 0, "num_predict": 24},
    }
    with httpx.stream("POST", url + "/api/chat", json=body, timeout=300) as resp:
        stamps, lines = [], []
        for raw in resp.iter_lines():
            if raw:
                stamps.append(time.perf_counter())
                lines.append(json.loads(raw))
    return stamps[0], stamps[-1], lines[-1]


def test_two_requests_run_at_once(parallel_server):
    timed_stream(parallel_server.url, "Hi")  # load the model first
    prompts = ["Write about the sea.", "Write about the mountains."]
    with ThreadPoolExecutor(2) as pool:
        (a0, a1, a), (b0, b1, b) = pool.map(lambda p: timed_stream(parallel_server.url, p), prompts)
    assert a["eval_count"] == b["eval_count"] == 24
    # Served together, each one's tokens arrive before the other has finished; a queue
    # would finish one before the other's first token.
    assert b0 < a1 and a0 < b1
