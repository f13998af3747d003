"""Server behaviour under load and misuse: queueing, disconnects, the generation cap."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from localllm_nb.embedded import start_server
from tests.models import CHAT

CAP = 24


@pytest.fixture(scope="module")
def own_server():
    """A separate server with a small generation cap, whose process we can watch."""
    server = start_server(env={"LOCALLLM_NB_NUM_PREDICT_CAP": str(CAP)})
    yield server
    server.stop()


def chat_body(prompt: str, **options) -> dict:
    return {"model": CHAT, "messages": [{"role": "user", "content": prompt}], "options": options}


def stream_chat(url: str, body: dict) -> tuple[str, dict]:
    with httpx.stream("POST", url + "/api/chat", json=body, timeout=300) as resp:
        lines = [json.loads(x) for x in resp.iter_lines() if x]
    return "".join(x["message"]["content"] for x in lines), lines[-1]


def test_generation_without_num_predict_is_capped(own_server):
    # langchain sends no num_predict unless asked; the server's cap ends the ramble.
    text, final = stream_chat(
        own_server.url, chat_body("Write a very long story about a dragon.", temperature=0)
    )
    assert final["done_reason"] == "length"
    assert final["eval_count"] == CAP
    assert text


def test_explicit_num_predict_overrides_the_cap(own_server):
    _, final = stream_chat(
        own_server.url,
        chat_body("Write a very long story about a dragon.", temperature=0, num_predict=CAP + 10),
    )
    assert final["eval_count"] == CAP + 10


def test_disconnect_mid_stream_stops_generation(own_server):
    # Left running, this request would hold the model for 8,000 tokens: minutes here.
    body = chat_body(
        "Write a very long story about a dragon.",
        num_predict=8000,
        num_ctx=8192,
        temperature=1.0,
        repeat_penalty=1.3,
    )
    with httpx.stream("POST", own_server.url + "/api/chat", json=body, timeout=60) as resp:
        for i, _ in enumerate(resp.iter_lines()):
            if i == 5:
                break
    # The next request is queued behind it unless the server stopped it when we left;
    # its total_duration counts the wait.
    _, final = stream_chat(own_server.url, chat_body("Hi", num_predict=3, temperature=0))
    assert final["done"]
    assert final["total_duration"] / 1e9 < 20, "the abandoned generation kept the model busy"


def test_eight_concurrent_streams_are_complete_and_not_crossed(server_url):
    prompts = [f"Give me one fact about the number {n}." for n in range(8)]
    bodies = [chat_body(p, temperature=0, num_predict=16, seed=n) for n, p in enumerate(prompts)]
    alone = [stream_chat(server_url, b) for b in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda b: stream_chat(server_url, b), bodies))
    for (text_alone, final_alone), (text, final) in zip(alone, together, strict=True):
        assert final["done"] and final["done_reason"] in ("stop", "length")
        assert final["eval_count"] == final_alone["eval_count"]
        assert text == text_alone


def test_async_requests_queue_fairly(server_url):
    # All eight start before any finishes: the server accepts them and queues them.
    bodies = [chat_body(f"Count to {n}.", temperature=0, num_predict=8) for n in range(3, 11)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(
                lambda b: httpx.post(
                    server_url + "/api/chat", json={**b, "stream": False}, timeout=300
                ).json(),
                bodies,
            )
        )
    assert all(r["done"] for r in replies)
    # Queued requests report a total duration that includes their wait.
    longest = max(r["total_duration"] for r in replies) / 1e9
    assert longest <= time.perf_counter() - started + 0.1
    assert longest > min(r["total_duration"] for r in replies) / 1e9


def test_server_exits_when_its_parent_is_killed():
    import os
    import signal
    import subprocess
    import sys

    import psutil

    code = (
        "from localllm_nb.embedded import start_server; s = start_server(); "
        "print(s.process.pid, flush=True); import time; time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    os.kill(parent.pid, signal.SIGKILL)  # no atexit handlers run
    parent.wait()
    try:
        child.wait(timeout=30)
    except psutil.TimeoutExpired:
        child.kill()
        pytest.fail("the embedded server outlived the process that started it")
