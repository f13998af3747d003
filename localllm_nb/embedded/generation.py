"""One generation request end to end: prompt building, queueing on the model's engine,
and turning engine events into Ollama's chat or generate lines."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache

from .engine import Job
from .options import Options
from .protocol import now_iso
from .registry import ModelEntry
from .templates import render_chat


@dataclass
class Request:
    """What the handler decided; the engine and the line builder work from this."""

    name: str  # the model name as the client wrote it; echoed back
    entry: ModelEntry
    options: Options
    kind: str  # "chat" or "generate"
    started: float = field(default_factory=time.perf_counter)
    load_duration: int = 0
    format: object = None
    include_context: bool = False


@lru_cache(maxsize=64)
def _grammar(key: str):
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF

    if key == "json":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    return LlamaGrammar.from_json_schema(key, verbose=False)


def grammar_for(fmt):
    """A llama.cpp grammar constraining output to JSON, or to a JSON schema."""
    if fmt is None:
        return None
    key = "json" if fmt == "json" else json.dumps(fmt, sort_keys=True)
    return _grammar(key)


def fit_messages(engine, entry: ModelEntry, messages: list[dict], opts: Options, **ctx):
    """Render the chat prompt; if it overflows the context, drop the oldest non-system
    messages (always keeping the last) as Ollama does. Returns the prompt tokens."""
    reserve = min(opts.predict_limit(), opts.num_ctx // 4)
    budget = max(1, opts.num_ctx - reserve)
    start = 0
    last = max(0, len(messages) - 1)
    while True:
        kept = [m for m in messages[:start] if m.get("role") == "system"] + messages[start:]
        tokens = engine.tokenize(render_chat(entry.template, kept, **ctx))
        if len(tokens) <= budget or start >= last:
            return tokens
        start += 1
        while start < last and messages[start].get("role") == "system":
            start += 1


async def run_job(engine, job_tokens: list[int], req: Request, grammar) -> AsyncIterator[dict]:
    """Queue a job on the engine's worker and yield its events; cancelling the
    iteration (client gone) cancels the job."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict] = asyncio.Queue()

    def emit(event: dict) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the loop is gone: the server is shutting down
            job.cancel.set()

    job = Job(prompt_tokens=job_tokens, options=req.options, emit=emit, grammar=grammar)
    engine.submit(job)
    try:
        while True:
            event = await events.get()
            yield event
            if event["type"] in ("done", "error"):
                return
    finally:
        job.cancel.set()


def line(req: Request, text: str = "", thinking: str = "", tool_calls=None) -> dict:
    """A streamed, not-final line."""
    base = {"model": req.name, "created_at": now_iso()}
    if req.kind == "chat":
        message = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        if tool_calls:
            message["tool_calls"] = tool_calls
        base["message"] = message
    else:
        base["response"] = text
        if thinking:
            base["thinking"] = thinking
    base["done"] = False
    return base


def final_line(req: Request, event: dict) -> dict:
    """The last line: done_reason and Ollama's measured counts and durations."""
    out = line(req)
    out["done"] = True
    out["done_reason"] = event["done_reason"]
    if req.kind == "generate" and req.include_context:
        out["context"] = event["context"]
    out["total_duration"] = int((time.perf_counter() - req.started) * 1e9)
    out["load_duration"] = req.load_duration
    out["prompt_eval_count"] = event["prompt_eval_count"]
    out["prompt_eval_duration"] = event["prompt_eval_duration"]
    out["eval_count"] = event["eval_count"]
    out["eval_duration"] = event["eval_duration"]
    return out


def merge(lines: list[dict]) -> dict:
    """`stream: false`: one object with text and thinking concatenated, tool calls
    accumulated, and the final line's figures."""
    final = dict(lines[-1])
    key = "message" if "message" in final else "response"
    if key == "message":
        message = {"role": "assistant", "content": "".join(x["message"]["content"] for x in lines)}
        thinking = "".join(x["message"].get("thinking", "") for x in lines)
        calls = [c for x in lines for c in x["message"].get("tool_calls", [])]
        if thinking:
            message["thinking"] = thinking
        if calls:
            message["tool_calls"] = calls
        final["message"] = message
    else:
        final["response"] = "".join(x["response"] for x in lines)
        thinking = "".join(x.get("thinking", "") for x in lines)
        if thinking:
            final["thinking"] = thinking
    return final
