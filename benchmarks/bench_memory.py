"""Memory before loading: `estimate_memory` against what the embedded server takes once
the bundled chat model is loaded, at three `num_ctx`: llama.cpp's own allocation
(`/api/ps` size) and the server process's RSS growth (target: ratios within 0.85-1.15)."""

from __future__ import annotations

import time

MODEL = "smollm2:135m"
CONTEXTS = (1024, 4096, 8192)


def _unload(client) -> None:
    client.post("/api/generate", json={"model": MODEL, "keep_alive": 0})
    deadline = time.monotonic() + 10
    while client.get("/api/ps").json()["models"] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the engine is freed on a thread of its own


def _load(client, num_ctx: int) -> None:
    options = {"num_ctx": num_ctx, "num_predict": 1}
    body = {"model": MODEL, "prompt": "Hi", "stream": False, "options": options}
    client.post("/api/generate", json=body).raise_for_status()


def run() -> dict:
    import httpx

    from localllm_nb.embedded import start_server
    from localllm_nb.memory import estimate_memory
    from tests.processes import server_memory

    server = start_server()
    figures: dict = {}
    try:
        pid = server.process.pid
        client = httpx.Client(base_url=server.url, timeout=120)
        _load(client, 256)  # the library's one-time costs, which are no model's
        for num_ctx in CONTEXTS:
            _unload(client)
            before = server_memory(pid)[0]
            _load(client, num_ctx)
            grown = server_memory(pid)[0] - before
            (row,) = client.get("/api/ps").json()["models"]
            estimate = estimate_memory(MODEL, num_ctx, base_url=server.url)
            figures[f"ctx{num_ctx}_estimate_mb"] = round(estimate.total / 1e6, 1)
            figures[f"ctx{num_ctx}_ps_size_mb"] = round(row["size"] / 1e6, 1)
            figures[f"ctx{num_ctx}_estimate_over_ps"] = round(estimate.total / row["size"], 3)
            figures[f"ctx{num_ctx}_rss_growth_mb"] = round(grown / 1e6, 1)
            figures[f"ctx{num_ctx}_estimate_over_rss_growth"] = round(estimate.total / grown, 3)
        figures["ps_source"] = row.get("memory", {}).get("source", "")
    finally:
        server.stop()
    return figures
