"""Memory before loading: the estimate against what the embedded server really takes
(llama.cpp's own figures in /api/ps, and the RSS of the server and its engine host), and the ControlPanel's
note beside num_ctx."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest

from localllm_nb import ModelSpec
from localllm_nb.memory import available_memory, estimate_memory
from localllm_nb.widgets import ControlPanel
from tests.models import CHAT
from tests.processes import server_memory


@pytest.fixture(scope="module")
def own_server():
    """A server of this module's own, so its RSS is this module's loads only."""
    from localllm_nb.embedded import start_server

    server = start_server()
    yield server
    server.stop()


def _loaded(client: httpx.Client) -> list[dict]:
    return client.get("/api/ps").json()["models"]


def _unload(client: httpx.Client) -> None:
    client.post("/api/generate", json={"model": CHAT, "keep_alive": 0})
    deadline = time.monotonic() + 10
    while _loaded(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the engine is freed on a thread of its own


def test_estimate_within_15_percent_of_what_the_server_takes(own_server):
    pid = own_server.process.pid
    client = httpx.Client(base_url=own_server.url, timeout=120)
    # A first load pays the library's one-time costs, which are no model's.
    client.post(
        "/api/generate",
        json={
            "model": CHAT,
            "prompt": "Hi",
            "stream": False,
            "options": {"num_ctx": 256, "num_predict": 1},
        },
    )
    seen = {}
    for num_ctx in (1024, 4096, 8192):
        _unload(client)
        before = server_memory(pid)[0]
        reply = client.post(
            "/api/generate",
            json={
                "model": CHAT,
                "prompt": "Hi",
                "stream": False,
                "options": {"num_ctx": num_ctx, "num_predict": 1},
            },
        )
        assert reply.status_code == 200, reply.text
        grown = server_memory(pid)[0] - before
        (row,) = _loaded(client)
        estimate = estimate_memory(CHAT, num_ctx, base_url=own_server.url)
        assert row["memory"]["source"] == "llama.cpp" and row["context_length"] == num_ctx
        assert estimate.source == "embedded /api/show" and estimate.num_ctx == num_ctx
        # Against llama.cpp's own buffer sizes, and against what the process took.
        assert abs(estimate.total - row["size"]) <= 0.15 * row["size"], (estimate, row)
        assert abs(estimate.total - grown) <= 0.15 * grown, (estimate, grown)
        seen[num_ctx] = row["memory"]["kv"]
    assert seen[8192] == 8 * seen[1024]  # the KV cache grows with the context


def test_estimate_from_the_file_header_and_the_free_memory(server_url):
    from localllm_nb.embedded.models.registry import Registry

    path = Registry().resolve(CHAT).path()
    from_file = estimate_memory(path, 2048)
    from_server = estimate_memory(ModelSpec(model=CHAT, base_url=server_url, num_ctx=2048))
    assert from_file.source == "gguf header" and from_file.kv == from_server.kv
    assert from_file.weights == from_server.weights == path.stat().st_size
    # (Compute buffers differ: the embedded server's batch is smaller and keeps every
    # token's logits, as it can pool embeddings; plain llama.cpp keeps the last one's.)
    free = available_memory()
    assert 0 < free <= psutil.virtual_memory().total and from_file.available is not None
    assert from_file.fits and "GB free" in from_file.message()


def test_control_panel_shows_the_estimate_and_warns(server_url):
    panel = ControlPanel(ModelSpec(model=CHAT, base_url=server_url))
    first = panel.memory_estimate
    assert first.num_ctx == 4096 and "memory: ~" in panel.memory.value  # server default
    assert panel.memory in panel.rows["num_ctx"].box.children
    panel.rows["num_ctx"].control.value = "8192"
    assert panel.memory_estimate.kv == 2 * first.kv and "num_ctx 8192" in panel.memory.value
    assert "alert" not in panel.memory.value
    tight = ControlPanel(
        ModelSpec(model=CHAT, base_url=server_url, num_ctx=8192),
        memory_limit=panel.memory_estimate.total // 2,
    )
    assert tight.memory_estimate.fits is False
    assert "role='alert'" in tight.memory.value and "will not fit" in tight.memory.value
    assert f"{CHAT} will not fit at num_ctx 8192" in tight.memory_alert.value  # in view
    assert tight.memory_alert in tight.children
    tight.rows["num_ctx"].control.value = "256"  # small enough: the warning goes
    assert tight.memory_estimate.fits and "alert" not in tight.memory.value
    assert tight.memory_alert.value == ""
    tight.model.value = "all-minilm"  # no chat model, no estimate
    assert tight.memory_estimate is None and tight.memory.value == ""
