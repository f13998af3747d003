"""Cost of constrained decoding on the embedded server: a JSON-schema answer and a tool
call against unconstrained chat on the same server, in one run. Reported as latency and
as per-token time relative to unconstrained decoding (the grammar's overhead)."""

from __future__ import annotations

import statistics
import time

ROUNDS = 3
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
TOOL = {
    "type": "function",
    "function": {
        "name": "multiply",
        "description": "Multiply two integers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


def _timed(call) -> tuple[float, float]:
    """(seconds, server seconds per generated token)."""
    started = time.perf_counter()
    reply = call()
    seconds = time.perf_counter() - started
    return seconds, reply.eval_duration / 1e9 / max(1, reply.eval_count)


def run() -> dict:
    import ollama

    from localllm_nb.embedded import start_server

    server = start_server()
    try:
        client = ollama.Client(host=server.url)
        client.chat(model="smollm2", messages=[], keep_alive="10m")
        opts = {"temperature": 0, "num_predict": 40}
        user = [
            {"role": "user", "content": "Ada is 36. Give her name and age; what is 45 times 67?"}
        ]
        plain, schema, tool = [], [], []
        for _ in range(ROUNDS):
            plain.append(_timed(lambda: client.chat(model="smollm2", messages=user, options=opts)))
            schema.append(
                _timed(
                    lambda: client.chat(model="smollm2", messages=user, options=opts, format=SCHEMA)
                )
            )
            tool.append(
                _timed(
                    lambda: client.chat(model="smollm2", messages=user, options=opts, tools=[TOOL])
                )
            )
    finally:
        server.stop()

    def med(rows, i):
        return statistics.median(r[i] for r in rows)

    return {
        "plain_chat_s": round(med(plain, 0), 3),
        "schema_answer_s": round(med(schema, 0), 3),
        "tool_call_s": round(med(tool, 0), 3),
        "schema_ms_per_token_vs_plain": round(med(schema, 1) / med(plain, 1), 2),
        "tool_ms_per_token_vs_plain": round(med(tool, 1) / med(plain, 1), 2),
        "plain_ms_per_token": round(med(plain, 1) * 1000, 1),
    }
