"""A client that leaves inside a long prompt: how long the next client's short chat
waits, against the same chat with nothing before it, in prompt batches of the abandoned
prompt (target <= 2: the batch running when the client left and the one llama-server
had already started when it saw the cancel), and how much of the abandoned prompt was
evaluated (issue 26, item 6)."""

from __future__ import annotations

import re
import statistics
import time

LONG = "word " * 1500  # ~1,500 prompt tokens: 10 s or more on one core
ROUNDS = 3
LEAVE_AFTER = 1.0  # seconds into the long prompt's evaluation
CANCELLED = re.compile(r"request cancelled after (\d+) of (\d+) prompt tokens")


def _chat(content: str, stream: bool) -> dict:
    from tests.models import CHAT

    return {
        "model": CHAT,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
        "options": {"num_predict": 4, "temperature": 0},
    }


def _short(url: str) -> tuple[float, float]:
    """Seconds for a 4-token chat, from sending it to its answer, and the seconds its
    prompt took per token."""
    import httpx

    started = time.perf_counter()
    reply = httpx.post(url + "/api/chat", json=_chat("Hi", False), timeout=300).json()
    assert reply["done"], reply
    per_token = reply["prompt_eval_duration"] / 1e9 / reply["prompt_eval_count"]
    return time.perf_counter() - started, per_token


def _leave(url: str) -> None:
    import httpx

    with httpx.stream("POST", url + "/api/chat", json=_chat(LONG, True), timeout=300) as r:
        assert r.status_code == 200
        time.sleep(LEAVE_AFTER)


def run() -> dict:
    from localllm_nb.embedded import start_server
    from localllm_nb.embedded.engine.instance import PROMPT_BATCH

    server = start_server()
    try:
        _short(server.url)  # loads the model
        alone, after = [], []
        for _ in range(ROUNDS):
            alone.append(_short(server.url))
            _leave(server.url)
            after.append(_short(server.url))
        time.sleep(0.5)
        left = [(int(e), int(t)) for e, t in CANCELLED.findall(server.log())]
    finally:
        server.stop()
    added = statistics.median(b[0] - a[0] for a, b in zip(alone, after, strict=True))
    evaluated = statistics.median(e for e, _ in left) if left else None
    # One batch at the rate of the short chats' prompts: the first batches of a long
    # prompt cost about as much per token, later ones more (attention grows).
    batch = statistics.median(a[1] for a in alone) * PROMPT_BATCH
    return {
        "short_chat_alone_ms": round(statistics.median(a[0] for a in alone) * 1000),
        "short_chat_after_a_client_left_ms": round(statistics.median(a[0] for a in after) * 1000),
        "added_ms": round(added * 1000),
        "prompt_batch_ms": round(batch * 1000),
        "added_in_prompt_batches": round(added / batch, 2),
        "added_target": "<= 2 prompt batches",
        "abandoned_prompts_cancelled": f"{len(left)} of {ROUNDS}",
        "abandoned_prompt_tokens": left[0][1] if left else None,
        "abandoned_prompt_tokens_evaluated": evaluated,
    }
