"""A client that leaves stops its work at once, also while its prompt is evaluated, and a
stopping server ends every request with an error line (issue 26, item 6).

Each test drives its own embedded server, whose log it reads: the server logs a request
it cancelled with the prompt tokens it had evaluated by then.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time

import httpx
import pytest

from localllm_nb.embedded import start_server
from tests.models import CHAT

# ~1,500 prompt tokens: seconds of evaluation on one core, never finished by these tests.
LONG = "word " * 1500
CANCELLED = re.compile(
    r"request cancelled after (\d+) of (\d+) prompt tokens and (\d+) generated tokens "
    r"\(([\d.]+) s\)"
)
SHUTTING_DOWN = "server is shutting down"


@pytest.fixture(scope="module")
def server():
    server = start_server()
    yield server
    server.stop()


def chat_body(content: str, stream: bool = True, **options) -> dict:
    return {
        "model": CHAT,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
        "options": {"num_predict": 4, **options},
    }


def cancelled_in(read_log, timeout: float = 10) -> tuple[int, int, int, float]:
    """The server's line for a cancelled request: prompt tokens evaluated, prompt tokens,
    tokens generated, seconds it ran."""
    deadline = time.monotonic() + timeout
    while (found := CANCELLED.search(read_log())) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found, read_log()
    evaluated, total, generated, seconds = found.groups()
    return int(evaluated), int(total), int(generated), float(seconds)


def test_a_client_that_leaves_during_its_prompt_frees_the_model_at_once(server):
    # Was: the engine evaluated the whole prompt for nobody (a 2,000-message chat held
    # the model ~25 s after its client left) while the next client waited.
    mark = len(server.log())
    with httpx.stream("POST", server.url + "/api/chat", json=chat_body(LONG), timeout=60) as resp:
        assert resp.status_code == 200  # the prompt is ready and queued
        time.sleep(1.0)  # then the client leaves, inside the prompt's evaluation
    reply = httpx.post(
        server.url + "/api/chat", json=chat_body("Hi", stream=False), timeout=120
    ).json()
    assert reply["done"] is True and reply["eval_count"] > 0, reply

    evaluated, total, generated, seconds = cancelled_in(lambda: server.log()[mark:])
    assert total > 1500 and evaluated < total and generated == 0
    # The second request waited behind the first (its total less its own work) for far
    # less than the rest of the first prompt would have taken at the rate it ran.
    waited = (
        reply["total_duration"]
        - reply["load_duration"]
        - reply["prompt_eval_duration"]
        - reply["eval_duration"]
    ) / 1e9
    if evaluated:
        assert waited < (total - evaluated) / evaluated * seconds, (waited, evaluated, seconds)


def read_all(url: str, path: str, body: dict, out: dict, started: threading.Event) -> None:
    """A streamed request: its status and every non-empty line (headers set `started`)."""
    try:
        with httpx.stream("POST", url + path, json=body, timeout=60) as resp:
            out["status"] = resp.status_code
            started.set()
            out["lines"] = [line for line in resp.iter_lines() if line]
    except httpx.HTTPError as exc:  # a connection cut without a last line
        out["failure"] = repr(exc)
    finally:
        started.set()


def test_sigterm_during_prompts_ends_every_request_with_an_error_line():
    # Was: a request whose prompt was still being prepared got no line at all (its job
    # started after the interruption and was skipped), and the log a CancelledError
    # traceback when shutdown stopped waiting for it.
    own = start_server()
    history = [
        {"role": ("user", "assistant")[i % 2], "content": f"message {i}: word word"}
        for i in range(2000)
    ]
    requests = {
        "history": ("/api/chat", {**chat_body(""), "messages": history}),
        "native": ("/api/chat", chat_body(LONG)),
        "openai": (
            "/v1/chat/completions",
            {
                "model": CHAT,
                "stream": True,
                "max_tokens": 4,
                "messages": chat_body(LONG)["messages"],
            },
        ),
    }
    results = {name: {} for name in requests}
    started = {name: threading.Event() for name in requests}
    threads = [
        threading.Thread(target=read_all, args=(own.url, path, body, results[name], started[name]))
        for name, (path, body) in requests.items()
    ]
    try:
        for thread in threads:  # the history first: it is surely read before the others
            thread.start()
            time.sleep(0.2)
        assert started["native"].wait(60) and started["openai"].wait(60)
        own.process.send_signal(signal.SIGTERM)
        own.process.wait(timeout=60)
        for thread in threads:
            thread.join(timeout=60)
    finally:
        own.stop()

    native = results["native"]
    assert native["status"] == 200 and json.loads(native["lines"][-1]) == {"error": SHUTTING_DOWN}
    openai = results["openai"]
    assert openai["status"] == 200, openai
    last = json.loads(openai["lines"][-1].removeprefix("data: "))
    assert last["error"]["message"] == SHUTTING_DOWN
    # Its answer had not started: Ollama's error object, as a status or as the last line.
    history_answer = results["history"]
    assert history_answer["status"] in (200, 500), history_answer
    assert json.loads(history_answer["lines"][-1]) == {"error": SHUTTING_DOWN}

    log = own.log()
    assert "Traceback" not in log and "CancelledError" not in log, log
    assert "graceful shutdown exceeded" not in log, log
    assert re.search(r"shutting down: \d running request\(s\) ended with an error", log), log
