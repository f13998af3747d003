"""The embedded server under a soak of mixed and worst-case requests: peak resident
memory with the chat model and all-minilm loaded, the server and its engine host together
(target <= 400 MB; also as PSS, which counts the pages they share once), the
memory left after the work (it should come back to its steady level), and the longest
time the server took to answer `/api/version` meanwhile (its event loop's longest stall;
was 69.5 s under a long chat history).

Apart from the target: the peak of one chat-model embedding of a long input, which
needs a second llama.cpp instance and its logits for up to 512 tokens (bounded by that
cut; a 2,000-token input took 1.24 GB before it)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

CHAT, EMBED = "smollm2:135m", "all-minilm"
ROUNDS = 40
SETTLE = 17.0  # s: the embedding instance's idle time (10 s) plus a reaper period (5 s)


def _watch(url: str, pid: int, stop: threading.Event, out: dict) -> None:
    """Sample the RSS of the server and its engine host, and /api/version's latency,
    until stopped."""
    import httpx

    from tests.processes import server_memory

    with httpx.Client(timeout=600) as client:
        while not stop.is_set():
            rss, pss = server_memory(pid)
            out["peak_rss"] = max(out.get("peak_rss", 0), rss)
            out["peak_pss"] = max(out.get("peak_pss", 0), pss)
            started = time.perf_counter()
            client.get(url + "/api/version")
            out["stall"] = max(out.get("stall", 0.0), time.perf_counter() - started)
            time.sleep(0.05)


def _mixed(client, i: int) -> None:
    short = {"num_predict": 8, "seed": i}
    client.chat(model=CHAT, messages=[{"role": "user", "content": f"Say hi {i}."}], options=short)
    client.generate(model=CHAT, prompt=f"One word for {i}:", options=short)
    client.embed(model=EMBED, input=[f"sentence {i}.{k}" for k in range(16)])
    client.embed(model=CHAT, input=[f"sentence {i}"])
    client.ps()


def _post_refused(url: str, body: bytes) -> None:
    import httpx

    try:
        reply = httpx.post(url + "/api/chat", content=body, timeout=600)
        assert reply.status_code == 413, reply.status_code
    except httpx.WriteError:
        pass  # the server answered 413 and closed before the whole body was sent


def _worst(client, url: str) -> dict:
    """The inputs that stalled or bloated the server before (issue 15), within limits."""
    seconds = {}
    cases = {
        "history_1200": lambda: client.chat(
            model=CHAT,
            messages=[{"role": "user", "content": f"line {i} of a chat"} for i in range(1200)],
            options={"num_ctx": 1024, "num_predict": 1},
        ),
        "prompt_1_9_mb": lambda: client.chat(
            model=CHAT,
            messages=[{"role": "user", "content": "word " * 380_000}],
            options={"num_ctx": 1024, "num_predict": 1},
        ),
        "embed_16384_inputs": lambda: client.embed(
            model=EMBED, input=[f"item {k}" for k in range(16_384)]
        ),
        "body_100_mb_refused": lambda: _post_refused(url, b"x" * 100_000_000),
    }
    for name, call in cases.items():
        started = time.perf_counter()
        call()
        seconds[f"{name}_s"] = round(time.perf_counter() - started, 1)
    # Overlapping reloads: alternating context sizes under load.
    with ThreadPoolExecutor(3) as pool:
        list(
            pool.map(
                lambda n: client.chat(
                    model=CHAT,
                    messages=[{"role": "user", "content": "Count."}],
                    options={"num_ctx": n, "num_predict": 8},
                ),
                [4096, 2048, 4096, 2048, 4096, 2048],
            )
        )
    return seconds


def run() -> dict:
    import ollama

    from localllm_nb.embedded import start_server
    from tests.processes import server_memory

    server = start_server()
    pid = server.process.pid
    try:
        client = ollama.Client(host=server.url, timeout=600)
        _mixed(client, 0)
        time.sleep(SETTLE)  # the chat model's embedding instance is freed when idle
        steady_before = server_memory(pid)
        out = {}

        def soak() -> None:
            started = time.perf_counter()
            for i in range(1, ROUNDS + 1):
                _mixed(client, i)
            out["mixed_s"] = time.perf_counter() - started
            out["worst"] = _worst(client, server.url)
            for i in range(ROUNDS + 1, ROUNDS + 6):
                _mixed(client, i)  # back at the original context size, both models loaded
            time.sleep(SETTLE)
            out["steady_after"] = server_memory(pid)

        seen = _peak_during(server.url, pid, soak)
        mixed_s, worst, steady_after = out["mixed_s"], out["worst"], out["steady_after"]
        alive = client.ps() is not None
        long_embed = _peak_during(server.url, pid, lambda: client.embed(CHAT, "word " * 2000))
    finally:
        server.stop()
    mb = 2**20
    return {
        "mixed_rounds": ROUNDS,
        "mixed_requests_per_s": round(ROUNDS * 5 / mixed_s, 2),
        **worst,
        "server_alive_after": alive,
        "rss_steady_before_mb": round(steady_before[0] / mb, 1),
        "rss_peak_mb": round(seen["peak_rss"] / mb, 1),
        "rss_steady_after_mb": round(steady_after[0] / mb, 1),
        "rss_target": "<= 400 MB",
        "pss_peak_mb": round(seen["peak_pss"] / mb, 1),
        "pss_steady_after_mb": round(steady_after[1] / mb, 1),
        "longest_event_loop_stall_s": round(seen["stall"], 3),
        # RSS counts the chat model's weights twice while the second instance maps them
        # again; PSS counts each page once.
        "long_chat_embed_rss_peak_mb": round(long_embed["peak_rss"] / mb, 1),
        "long_chat_embed_pss_peak_mb": round(long_embed["peak_pss"] / mb, 1),
    }


def _watch_into(url: str, pid: int, stop, ready, results) -> None:
    seen: dict = {}
    seen["peak_rss"] = seen["peak_pss"] = 0
    ready.set()
    _watch(url, pid, stop, seen)
    results.put(seen)


def _peak_during(url: str, pid: int, call) -> dict:
    """The server's peak memory and longest /api/version wait while `call` runs. The
    watcher is a process of its own: in a thread here it waited for this process's GIL
    while the client decoded a large reply, and counted that as the server's stall."""
    ctx = multiprocessing.get_context("spawn")
    stop, ready, results = ctx.Event(), ctx.Event(), ctx.Queue()
    args = (url, pid, stop, ready, results)
    watcher = ctx.Process(target=_watch_into, args=args, daemon=True)
    watcher.start()
    ready.wait(timeout=120)
    try:
        call()
    finally:
        stop.set()
        seen = results.get(timeout=120)
        watcher.join()
    return seen
