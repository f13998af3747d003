"""One generation request end to end: prompt building, queueing on the model's engine,
and turning engine events into Ollama's chat or generate lines."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..._grammar import ANY_JSON_OBJECT
from ..engine.budget import SchemaBudgetError, budget_steer
from ..engine.events import DoneEvent, EngineEvent, ErrorEvent, TextEvent
from ..engine.grammars import format_grammar, tool_grammar
from ..engine.llama import Job
from ..engine.options import Options
from ..engine.steering import ThinkSteer, think_budget
from ..engine.streams import THINK_CLOSE, THINK_OPEN, OutputParser
from ..engine.templates import render_chat
from ..models.registry import ModelEntry
from .errors import ApiError
from .protocol import now_iso


@dataclass
class Request:
    """What the handler decided; the engine and the line builder work from this."""

    name: str  # the model name as the client wrote it; echoed back
    entry: ModelEntry
    options: Options
    kind: str  # "chat" or "generate"
    started: float = field(default_factory=time.perf_counter)
    load_duration: int = 0
    include_context: bool = False
    parser: OutputParser = field(default_factory=OutputParser)
    grammar: object = None
    steer: object = None
    thinking: bool | None = None  # passed to the template: False closes the think block
    json_answer: bool = False  # the answer is constrained to JSON (`format`)
    schema: object = None  # the `format` schema a non-thinking answer keeps within budget
    top_logprobs: int | None = None  # `logprobs`: None when off, else `top_logprobs`
    fit: PromptFit | None = None  # how the prompt was fitted to the context


@dataclass
class PromptFit:
    """The prompt tokens a request runs, and what fitting them into the context cost:
    `needed` tokens before fitting, `dropped_messages` left out of a chat history."""

    tokens: list[int]
    needed: int
    dropped_messages: int = 0

    @property
    def truncated(self) -> bool:
        """True when part of the prompt was left out (Ollama does this silently)."""
        return self.needed > len(self.tokens)

    def headers(self, num_ctx: int) -> dict[str, str]:
        """Response headers that say it (clients such as ollama-python drop unknown
        fields of a line, but an httpx hook sees headers): the prompt's tokens before
        fitting and the context size."""
        return {"X-Prompt-Tokens": str(self.needed), "X-Num-Ctx": str(num_ctx)}


def steer(
    req: Request,
    fmt,
    think,
    tools=None,
    last_role: str = "user",
    raw: bool = False,
    prefill: str | None = None,
) -> None:
    """Decide how this request's output is constrained and parsed.

    Thinking-capable models think unless `think` is false; the think block is split
    off into `thinking` and closed by the budget if the model does not close it.
    With tools offered on a user turn, the answer is a tool call constrained to the
    tools' schemas (unless the `tool_choice` option is "auto"); after a tool result
    the model answers in text. `format` or the tool call's grammar constrains the answer
    after any thinking (the think block is free text the budget closes, then the steer
    switches to the answer's grammar). Without thinking, a `format` answer is kept
    within the token budget (`keep_within_budget`); one still cut short is closed so
    that it parses (`json_close`).

    A continued assistant turn (`prefill`, its text) opens no think block: the output
    continues the answer, or the thought when the text leaves one open (shown as
    thinking, or dropped when `think` is false)."""
    can_think = "thinking" in req.entry.capabilities and not raw
    thinking = can_think and think is not False
    hidden = False
    if prefill is not None:
        inside = can_think and prefill.rfind(THINK_OPEN) > prefill.rfind(THINK_CLOSE)
        hidden = inside and not thinking
        thinking = thinking and inside
    try:
        answer = format_grammar(fmt)
    except Exception as exc:  # llama.cpp's converter asserts on schemas it cannot express
        raise ApiError(400, f"invalid format: {json.dumps(fmt)}; {exc}") from None
    req.json_answer = answer is not None
    req.schema = (ANY_JSON_OBJECT if fmt == "json" else fmt) if answer is not None else None
    if prefill:  # the answer began in the continued text, which the guard has not followed
        req.schema = None
    if tools and last_role != "tool" and req.options.tool_choice != "auto":
        req.json_answer = False
        try:
            answer = tool_grammar(tools)
        except Exception as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ApiError(400, f"invalid tools: {detail}") from None
    req.parser = OutputParser(
        thinking=thinking, tools=bool(tools), think_tags=can_think, hidden=hidden
    )
    req.thinking = thinking if can_think else None
    if thinking or hidden:  # a hidden thought is closed by the same budget
        budget = think_budget(think, req.options.think_budget or None)
        req.steer, req.grammar = ThinkSteer(budget, after_grammar=answer), None
        req.schema = None  # the think block's length is not known up front
    else:
        req.steer, req.grammar = None, answer


def keep_within_budget(req: Request, engine) -> None:
    """A `format` answer is finished with its smallest valid completion before
    num_predict runs out (`budget.py`); a num_predict too small for the smallest valid
    answer is the client's 400, saying how many tokens the schema needs."""
    if req.schema is None or not req.json_answer or req.steer is not None:
        return

    def count(text: str) -> int:
        return len(engine.tokenize(text, add_bos=False))

    try:
        req.steer = budget_steer(req.schema, req.options.predict_limit(), count)
    except SchemaBudgetError as exc:
        raise ApiError(400, str(exc)) from None


def prompt_budget(opts: Options) -> int:
    """How many prompt tokens leave room for an answer: the context less a quarter of
    it, or less num_predict when that is smaller."""
    return max(1, opts.num_ctx - min(opts.predict_limit(), opts.num_ctx // 4))


def keep_recent(tokens: list[int], opts: Options) -> list[int]:
    """An over-long prompt keeps its most recent tokens, as Ollama truncates one."""
    budget = prompt_budget(opts)
    return tokens if len(tokens) <= budget else tokens[-budget:]


def fit_messages(engine, entry: ModelEntry, messages: list[dict], opts: Options, **ctx):
    """The prompt tokens of `fit_chat`."""
    return fit_chat(engine, entry, messages, opts, **ctx).tokens


def fit_prompt(tokens: list[int], opts: Options) -> PromptFit:
    """A generate prompt's tokens, its most recent ones kept when it overflows."""
    return PromptFit(keep_recent(tokens, opts), len(tokens))


def fit_chat(engine, entry: ModelEntry, messages: list[dict], opts: Options, **ctx) -> PromptFit:
    """Render the chat prompt; if it overflows the context, drop the oldest non-system
    messages (always keeping the last) as Ollama does, and if the last alone is still
    too long, keep the prompt's most recent tokens.

    The first message to keep is found by bisection: dropping more never lengthens the
    prompt, and trying one cut per message rendered and tokenised a long history
    hundreds of times (1,200 short messages took over a minute)."""
    budget = prompt_budget(opts)
    last = max(0, len(messages) - 1)
    # Where the kept part may start: the beginning, or any later non-system message.
    starts = [0] + [i for i in range(1, last + 1) if messages[i].get("role") != "system"]
    if starts[-1] != last:
        starts.append(last)

    def tokens_from(start: int) -> list[int]:
        kept = [m for m in messages[:start] if m.get("role") == "system"] + messages[start:]
        return engine.tokenize(render_chat(entry.template, kept, **ctx))

    tokens = tokens_from(0)
    needed = len(tokens)
    if needed <= budget or starts[-1] == 0:  # fits, or one message: nothing to drop
        return PromptFit(keep_recent(tokens, opts), needed)
    del tokens  # a long prompt's ids take ~36 bytes each here; the candidates replace them
    lo, hi = 1, len(starts) - 1  # starts[hi] is the last resort: the last message alone
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = tokens_from(starts[mid])
        if len(candidate) <= budget:
            best, hi = candidate, mid - 1
        else:
            lo = mid + 1
    if best is None:
        best, lo = tokens_from(starts[-1]), len(starts) - 1
    # starts[lo] is where the kept part begins; system messages before it stay.
    dropped = sum(1 for m in messages[: starts[lo]] if m.get("role") != "system")
    return PromptFit(keep_recent(best, opts), needed, dropped)


async def run_job(
    engine, job_tokens: list[int], req: Request, lease=None
) -> AsyncIterator[EngineEvent]:
    """Queue a job on the engine's worker and yield its events; cancelling the
    iteration (client gone) cancels the job, and so do the request's `lease` being
    given back or interrupted (which also ends the events with its error)."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[EngineEvent] = asyncio.Queue()

    def emit(event: EngineEvent) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the loop is gone: the server is shutting down
            job.cancel.set()

    job = Job(
        prompt_tokens=job_tokens,
        options=req.options,
        emit=emit,
        grammar=req.grammar,
        steer=req.steer,
        top_logprobs=req.top_logprobs,
    )
    if lease is not None:
        job.cancel = lease.cancel
        lease.on_interrupt = lambda message: emit(ErrorEvent(message))
        if lease.interrupted is not None:
            # Interrupted while its prompt was prepared: the engine skips a cancelled job
            # without a word, so the error line comes from here.
            emit(ErrorEvent(lease.interrupted))
    engine.submit(job)
    try:
        while True:
            event = await events.get()
            yield event
            if not isinstance(event, TextEvent):  # a DoneEvent or ErrorEvent ends it
                return
    finally:
        job.cancel.set()


def _text_fields(kind: str) -> tuple[str, str]:
    """Where a line carries its text: chat lines in `message.content`, generate lines
    in `response`; thinking and tool calls sit beside it."""
    return ("message", "content") if kind == "chat" else ("", "response")


def line(req: Request, text: str = "", thinking: str = "", tool_calls=None, logprobs=()) -> dict:
    """A streamed, not-final line; `logprobs` (Ollama's entries for the tokens that
    arrived with it, also when a parser holds their text back) only when there are some."""
    base = {"model": req.name, "created_at": now_iso()}
    nest, key = _text_fields(req.kind)
    holder = base
    if nest:
        holder = base[nest] = {"role": "assistant"}
    holder[key] = text
    if thinking:
        holder["thinking"] = thinking
    if tool_calls:
        holder["tool_calls"] = tool_calls
    base["done"] = False
    if logprobs:
        base["logprobs"] = list(logprobs)
    return base


def final_line(req: Request, event: DoneEvent) -> dict:
    """The last line: done_reason and Ollama's measured counts and durations."""
    out = line(req)
    out["done"] = True
    out["done_reason"] = event.done_reason
    if req.kind == "generate" and req.include_context:
        out["context"] = event.context
    out["total_duration"] = int((time.perf_counter() - req.started) * 1e9)
    out["load_duration"] = req.load_duration
    out["prompt_eval_count"] = event.prompt_eval_count
    out["prompt_eval_duration"] = event.prompt_eval_duration
    out["eval_count"] = event.eval_count
    out["eval_duration"] = event.eval_duration
    if req.fit is not None and req.fit.truncated:
        # An extension (Ollama truncates silently): what the prompt needed, what ran.
        out["prompt_truncated"] = {
            "prompt_tokens": req.fit.needed,
            "kept_tokens": len(req.fit.tokens),
            "dropped_messages": req.fit.dropped_messages,
            "num_ctx": req.options.num_ctx,
        }
    return out


def merge(lines: list[dict]) -> dict:
    """`stream: false`: one object with text and thinking concatenated, tool calls and
    logprobs accumulated, and the final line's figures."""
    final = dict(lines[-1])
    nest, key = _text_fields("chat" if "message" in final else "generate")
    holders = [x[nest] if nest else x for x in lines]
    merged = {"role": "assistant"} if nest else final
    merged[key] = "".join(h[key] for h in holders)
    thinking = "".join(h.get("thinking", "") for h in holders)
    calls = [c for h in holders for c in h.get("tool_calls", [])]
    if thinking:
        merged["thinking"] = thinking
    if calls:
        merged["tool_calls"] = calls
    if nest:
        final[nest] = merged
    logprobs = [e for x in lines for e in x.get("logprobs", [])]
    if logprobs:
        final["logprobs"] = logprobs
    return final
