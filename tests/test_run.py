"""Runs against the real embedded server: text, timeline, stats, events, cancellation,
async, tools/thinking paths and the typed errors (no server, missing model, server dying
mid-stream)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage

from localllm_nb import (
    ModelNotFoundError,
    ModelSpec,
    ServerDiedError,
    ServerError,
    ServerUnavailableError,
    astream_run,
    build_chat,
    build_llm,
    list_models,
    start_run,
    stream_run,
)
from localllm_nb.run import Run, RunRecorder
from tests.models import CHAT

FAST = dict(temperature=0, seed=11, num_predict=24)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chat(server_url):
    return build_chat(ModelSpec(model=CHAT, base_url=server_url, **FAST))


def test_chat_run_records_text_timeline_and_server_stats(chat):
    run = stream_run(chat, [SystemMessage("You are terse."), HumanMessage("Name three fruits.")])
    assert run.status == "done" and run.error is None
    assert run.content and run.thinking == ""
    assert run.done_reason in ("stop", "length")
    stats = run.stats
    # One Ollama stream line per token: the client count matches the server's.
    assert stats.tokens == stats.eval_tokens == len(run.timeline)
    assert stats.source == "ollama" and stats.prompt_tokens > 5
    times = [p.t for p in run.timeline]
    assert times == sorted(times) and times[0] == pytest.approx(stats.ttft_s)
    assert [p.tokens for p in run.timeline] == list(range(1, stats.tokens + 1))
    assert 0 < stats.ttft_s < stats.duration_s
    # The client's rate covers the same span as the server's eval rate.
    assert stats.client_tps == pytest.approx(stats.server_tps, rel=0.5)
    assert "tok/s" in stats.summary()


def test_same_seed_same_text(chat):
    a = stream_run(chat, "Write one word.")
    b = stream_run(chat, "Write one word.")
    assert a.content == b.content and a.content


def test_llm_run_with_a_prompt(server_url):
    llm = build_llm(ModelSpec(model=CHAT, kind="llm", base_url=server_url, **FAST))
    run = stream_run(llm, "The capital of France is")
    assert run.status == "done" and run.content
    assert run.stats.eval_tokens == run.stats.tokens and run.stats.server_tps > 0
    assert run.done_reason in ("stop", "length")


def test_a_spec_is_built_and_kept_on_the_run(server_url):
    spec = ModelSpec(model=CHAT, base_url=server_url, **FAST)
    run = stream_run(spec, "Hi")
    assert run.spec == spec and run.model_name == CHAT and run.content


def test_observers_see_every_token_and_survive_their_own_bugs(chat):
    events = []

    def broken(event):
        raise RuntimeError("observer bug")

    run = start_run(chat, "Count to five.", on_event=events.append)
    run.subscribe(broken)
    assert run.wait(60)
    kinds = [e.type for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert "".join(e.text for e in events if e.type == "token") == run.content
    assert all(e.channel == "content" for e in events if e.type == "token")
    assert run.callback_errors and isinstance(run.callback_errors[0], RuntimeError)
    assert run.status == "done"
    # Events come from the worker thread, not the caller's.
    thread_names = []
    run2 = start_run(
        chat, "Hi", on_event=lambda e: thread_names.append(threading.current_thread().name)
    )
    run2.wait(60)
    assert thread_names and all(n.startswith("localllm-run-") for n in thread_names)


def test_cancel_from_another_thread_stops_fast_and_frees_the_server(server_url):
    long = build_chat(
        ModelSpec(model=CHAT, base_url=server_url, temperature=0.7, seed=1, num_predict=2000)
    )
    run = start_run(long, "Tell a very long story about the sea.")
    deadline = time.monotonic() + 60
    while run.stats.tokens < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    partial_before = run.content
    assert partial_before
    canceller = threading.Thread(target=run.cancel)
    started = time.perf_counter()
    canceller.start()
    assert run.wait(0.5), "run did not stop within 0.5 s"
    assert time.perf_counter() - started < 0.5
    assert run.status == "cancelled" and run.cancelled and run.error is None
    assert run.content.startswith(partial_before) and run.stats.tokens >= 5
    # The server stopped generating: a short run right after is not stuck behind the
    # ~2,000 tokens the cancelled run would still have produced at its own rate.
    remaining_s = (2000 - run.stats.tokens) / run.stats.client_tps
    t0 = time.perf_counter()
    quick = stream_run(build_chat(ModelSpec(model=CHAT, base_url=server_url, num_predict=3)), "Hi")
    assert quick.status == "done" and time.perf_counter() - t0 < remaining_s / 2


def test_cancel_before_the_first_token(server_url):
    slow = build_chat(ModelSpec(model=CHAT, base_url=server_url, num_predict=500))
    run = start_run(slow, "Explain gravity. " * 200)  # a long prompt: a while to first token
    time.sleep(0.05)
    started = time.perf_counter()
    run.cancel()
    assert run.wait(0.5) and time.perf_counter() - started < 0.5
    assert run.status == "cancelled"


def test_timeout_cancels(server_url):
    long = build_chat(ModelSpec(model=CHAT, base_url=server_url, num_predict=2000))
    run = stream_run(long, "Write a long essay about rivers.", timeout=1.0)
    assert run.status == "cancelled" and 0.9 < run.elapsed() < 2.0


def test_async_run_and_cancel_from_another_thread(chat, server_url):
    done, cancelled = asyncio.run(_async_cancel_scenario(chat, server_url))
    assert done.status == "done" and done.content
    assert done.stats.eval_tokens == done.stats.tokens
    assert cancelled.status == "cancelled" and cancelled.stats.tokens >= 3


async def _async_cancel_scenario(chat, server_url):
    done = await astream_run(chat, "Name a colour.")
    long = build_chat(ModelSpec(model=CHAT, base_url=server_url, num_predict=2000))
    holder: list[Run] = []

    def on_event(event):
        if event.type == "token" and event.run.stats.tokens == 3 and not holder:
            holder.append(event.run)
            threading.Thread(target=event.run.cancel).start()

    started = time.perf_counter()
    cancelled = await astream_run(long, "Tell a long story.", on_event=on_event)
    assert time.perf_counter() - started < 60
    return done, cancelled


def test_no_server_streaming_and_not(server_url):
    url = f"http://127.0.0.1:{_free_port()}"
    chat = build_chat(ModelSpec(model=CHAT, base_url=url))
    run = stream_run(chat, "Hi", raise_errors=False)  # streaming: httpx.ConnectError inside
    assert run.status == "error" and isinstance(run.error, ServerUnavailableError)
    message = str(run.error)
    assert url in message and "ollama serve" in message and "localllm-nb serve" in message
    with pytest.raises(ServerUnavailableError, match=url):  # non-streaming: builtin ConnectionError
        list_models(url, refresh=True)


def test_missing_model_says_how_to_pull_and_lists_models(server_url):
    chat = build_chat(ModelSpec(model="llama3.2:1b", base_url=server_url))
    with pytest.raises(ModelNotFoundError) as info:
        stream_run(chat, "Hi")
    message = str(info.value)
    assert "ollama pull llama3.2:1b" in message and CHAT in message
    assert info.value.run.status == "error"


def test_server_dying_mid_stream_keeps_the_partial_output():
    from localllm_nb import start_server

    server = start_server()
    try:
        chat = build_chat(
            ModelSpec(model=CHAT, base_url=server.url, temperature=0.7, num_predict=2000)
        )
        run = start_run(chat, "Tell a very long story about mountains.")
        deadline = time.monotonic() + 90
        while run.stats.tokens < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.stats.tokens >= 5
        server.process.kill()
        assert run.wait(10)
    finally:
        server.stop()
    assert run.status == "error" and isinstance(run.error, ServerDiedError)
    assert server.url in str(run.error) and "partial output is kept" in str(run.error)
    assert len(run.content) > 0 and run.stats.tokens >= 5


def test_server_side_errors_are_typed(chat, server_url):
    capable = {m.name: m for m in list_models(server_url, refresh=True)}
    thinker = "smollm2:135m-think"
    assert capable[thinker].supports("thinking") and capable[thinker].supports("tools")
    assert not capable[CHAT].supports("thinking")
    run = stream_run(chat, "Hi", reasoning=True, raise_errors=False)
    assert isinstance(run.error, ServerError) and "does not support thinking" in str(run.error)


def test_thinking_and_tool_call_chunks_are_recorded_on_their_channels():
    # The chunks langchain-ollama builds from Ollama's `thinking` and `tool_calls` lines.
    recorder = RunRecorder(model_name="qwen3")
    run = recorder.run
    recorder.start()
    recorder.feed(AIMessageChunk(content="", additional_kwargs={"reasoning_content": "Let me "}))
    recorder.feed(AIMessageChunk(content="", additional_kwargs={"reasoning_content": "think."}))
    recorder.feed(
        AIMessageChunk(
            content="",
            tool_calls=[{"name": "get_weather", "args": {"city": "Tokyo"}, "id": "call_1"}],
        )
    )
    recorder.feed(AIMessageChunk(content="Sunny."))
    recorder.feed(
        AIMessageChunk(
            content="",
            response_metadata={
                "done_reason": "stop",
                "eval_count": 3,
                "eval_duration": 30_000_000,
                "prompt_eval_count": 10,
                "prompt_eval_duration": 5_000_000,
            },
        )
    )
    recorder.finish()
    assert run.thinking == "Let me think." and run.content == "Sunny."
    assert run.tool_calls == [{"name": "get_weather", "args": {"city": "Tokyo"}, "id": "call_1"}]
    assert [p.channel for p in run.timeline] == ["thinking", "thinking", "tool_call", "content"]
    stats = run.stats
    assert stats.thinking_tokens == 2 and stats.content_tokens == 1
    assert stats.server_tps == pytest.approx(100.0) and stats.prompt_tps == pytest.approx(2000.0)
    assert run.done_reason == "stop"


def test_thinking_from_a_thinking_capable_model(server_url):
    thinkers = [m.name for m in list_models(server_url, refresh=True) if m.supports("thinking")]
    if not thinkers:
        pytest.skip("the embedded server offers no thinking-capable model yet")
    chat = build_chat(ModelSpec(model=thinkers[0], base_url=server_url, reasoning=True, **FAST))
    run = stream_run(chat, "Is 7 prime?")
    assert run.thinking and "<think>" not in run.content
    assert {p.channel for p in run.timeline} >= {"thinking"}


_INTERRUPTED_CELL = """
import time
from localllm_nb import ModelSpec, build_chat, stream_run
chat = build_chat(ModelSpec(model={model!r}, base_url={url!r}, num_predict=2000, seed=1))
print("STARTED", flush=True)
try:
    stream_run(chat, "Write a very long story about a dragon.")
except KeyboardInterrupt as interrupt:
    run = interrupt.run
    print("RESULT", run.status, run.stats.tokens, len(run.content), flush=True)
print("AFTER", time.perf_counter(), flush=True)
"""


def test_interrupting_the_kernel_cancels_the_run_and_keeps_its_text(server_url):
    # What a notebook user does: press the stop button while stream_run streams.
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute(_INTERRUPTED_CELL.format(model=CHAT, url=server_url))
        output = ""
        deadline = time.monotonic() + 120
        interrupted_at = None
        while "AFTER" not in output and time.monotonic() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=1)
            except Exception:  # queue.Empty: nothing yet
                msg = None
            if msg and msg["msg_type"] == "stream":
                output += msg["content"]["text"]
            if "STARTED" in output and interrupted_at is None:
                time.sleep(2.0)  # let tokens stream
                km.interrupt_kernel()
                interrupted_at = time.monotonic()
        waited = time.monotonic() - interrupted_at
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    result = next(line for line in output.splitlines() if line.startswith("RESULT")).split()
    status, tokens, chars = result[1], int(result[2]), int(result[3])
    assert status == "cancelled" and tokens > 0 and chars > 0, output
    assert waited < 5.0  # the interrupt is handled at once, not after 2,000 tokens
    # The server let go of the abandoned generation: a new answer does not queue behind
    # its 2,000 tokens (measured in the server's own pace, not in seconds).
    chat = build_chat(ModelSpec(model=CHAT, base_url=server_url, **FAST))
    after = stream_run(chat, "Hi").stats
    assert after.ttft_s < 100 / after.server_tps
