"""CPU-heavy requests never freeze the server (issue 15's stalls): a long history is
fitted to the context off the event loop, in a few tries rather than one per message."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from localllm_nb.embedded.api.generation import fit_messages, keep_recent, prompt_budget
from localllm_nb.embedded.engine.llama import LlamaEngine
from localllm_nb.embedded.engine.options import parse_options
from localllm_nb.embedded.engine.templates import render_chat
from localllm_nb.embedded.models.registry import Registry
from tests.models import CHAT


@pytest.fixture(scope="module")
def engine():
    entry = Registry().resolve(CHAT)
    engine = LlamaEngine(entry, num_ctx=512, num_thread=1)
    yield entry, engine
    engine.close()


def fit_one_by_one(engine, entry, messages, opts):
    """Ollama's rule, literally: drop the oldest non-system message until it fits."""
    budget = prompt_budget(opts)
    start, last = 0, len(messages) - 1
    while True:
        kept = [m for m in messages[:start] if m["role"] == "system"] + messages[start:]
        tokens = engine.tokenize(render_chat(entry.template, kept))
        if len(tokens) <= budget or start >= last:
            return keep_recent(tokens, opts)
        start += 1
        while start < last and messages[start]["role"] == "system":
            start += 1


def history(n: int, system_every: int = 0) -> list[dict]:
    messages = []
    for i in range(n):
        role = "system" if system_every and i % system_every == 0 else ("user", "assistant")[i % 2]
        messages.append({"role": role, "content": f"message {i}: " + "word " * (i % 7)})
    return messages


@pytest.mark.parametrize(
    ("n", "system_every", "num_ctx"),
    [(3, 0, 512), (60, 0, 512), (200, 0, 256), (150, 9, 512), (40, 0, 64), (1, 0, 8)],
)
def test_bisection_keeps_what_dropping_one_by_one_keeps(engine, n, system_every, num_ctx):
    entry, llama = engine
    messages = history(n, system_every)
    if n == 1:
        messages[0]["content"] = "word " * 50  # the last message alone overflows
    opts = parse_options({"num_ctx": num_ctx, "num_predict": 16}, entry.parameters)
    assert fit_messages(llama, entry, messages, opts) == fit_one_by_one(
        llama, entry, messages, opts
    )


def test_a_long_history_does_not_freeze_other_clients(server_url):
    # 1,200 one-line messages froze every client for 69.5 s (one render and tokenisation
    # per dropped message, on the event loop). Now /api/version and /api/ps answer while
    # the chat is being prepared and run.
    body = {
        "model": CHAT,
        "stream": False,
        "options": {"num_ctx": 1024, "num_predict": 1},
        "messages": history(1200),
    }
    answer = {}

    def run() -> None:
        reply = httpx.post(server_url + "/api/chat", content=json.dumps(body), timeout=600)
        answer.update(reply.json(), status=reply.status_code)

    chat = threading.Thread(target=run)
    chat.start()
    answered_while_busy = 0
    with httpx.Client(timeout=600) as client:
        while chat.is_alive():
            assert client.get(server_url + "/api/version").status_code == 200
            models = client.get(server_url + "/api/ps").json()["models"]
            answered_while_busy += chat.is_alive()
            assert all(m["name"] for m in models)
    chat.join()
    assert answer["status"] == 200, answer
    assert answer["prompt_eval_count"] <= prompt_budget(
        parse_options({"num_ctx": 1024, "num_predict": 1}, {})
    )
    assert answered_while_busy > 1
