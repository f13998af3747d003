"""Run one generation: blocking (`stream_run`), in a background thread (`start_run`), or
as a coroutine (`astream_run`), recording everything on a `Run`.

Cancellation must work while the worker is blocked reading the socket (a model still
loading, a long prompt being evaluated): the worker attaches the HTTP connection's
socket to its `RunRecorder`, and `Run.cancel()` shuts it down, which wakes the read at
once and makes the server see the client leave, so it stops generating too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from .chunks import ChunkParts
from .context import context_headers
from .direct import adirect_stream, direct_stream, unbind
from .observed_llm import aobserved_llm_stream, observed_llm_stream
from .record import Run, RunEvent, RunRecorder
from .workers import Workers

# The hook below sits on the model's httpx client, which every run of that model shares:
# this says which run the current worker thread is streaming.
_streaming: ContextVar[RunRecorder | None] = ContextVar("localllm_streaming", default=None)
_workers = Workers()


def _capture_socket(response: Any) -> None:
    """httpx response hook: attach the connection's socket to the current run."""
    recorder = _streaming.get()
    if recorder is None:
        return
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        recorder.attach_socket(sock)
    _note_context(recorder, response)


def _note_context(recorder: RunRecorder, response: Any) -> None:
    """Record the context figures the embedded server sends as response headers."""
    figures = context_headers(response.headers)
    if figures and recorder.run.status == "running":
        recorder.feed(ChunkParts(metadata=figures))


async def _acapture_context(response: Any) -> None:
    """httpx.AsyncClient response hook: `_capture_socket`'s context figures (an async
    run is cancelled through its task, so it needs no socket)."""
    recorder = _streaming.get()
    if recorder is not None:
        _note_context(recorder, response)


def _unwrap(model: Any) -> Any:
    """The LangChain model under a `bind_tools`/`bind` wrapper."""
    while hasattr(model, "bound"):
        model = model.bound
    return model


def _install_hook(model: Any) -> None:
    # ChatOllama/OllamaLLM keep an ollama.Client whose `_client` is the httpx.Client;
    # the openai backend builds ChatOpenAI on an httpx.Client of its own (`http_client`);
    # other models (MLX, mocks) have none and are cancelled between chunks instead.
    inner = _unwrap(model)
    for attr, hook in (("_client", _capture_socket), ("_async_client", _acapture_context)):
        client = getattr(getattr(inner, attr, None), "_client", None)
        if client is None and attr == "_client":
            client = getattr(inner, "http_client", None)
        hooks = getattr(client, "event_hooks", None)
        if isinstance(hooks, dict) and hook not in hooks.get("response", []):
            hooks.setdefault("response", []).append(hook)


def _is_llm(model: Any) -> bool:
    from langchain_core.language_models import BaseLLM

    return isinstance(model, BaseLLM)


def _llm_prompt(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"a text-completion model (LLM) takes a prompt string, not {type(value)}")


def _sources(model: Any, value: Any, tools: list | None) -> tuple[Any, Any, Any]:
    """(model to stream, input, the LLM under it or None), checking the input's kind."""
    inner = _unwrap(model)
    if _is_llm(inner):
        if tools:
            raise TypeError("tools need a chat model (kind='chat'), not a text-completion LLM")
        return model, _llm_prompt(value), inner
    return (model.bind_tools(tools) if tools else model), value, None


# Where no direct path applies, chat models go through LangChain's `stream`, and LLMs
# through their own chunk stream inside LangChain's callbacks (BaseLLM.stream yields bare
# strings and drops each chunk's thinking and final figures).


def _open(model: Any, value: Any, tools: list | None, kwargs: dict, asynchronous: bool) -> Any:
    """The chunk stream of one run: an iterator, or an async iterator for `astream_run`."""
    target, value, llm = _sources(model, value, tools)
    direct = (adirect_stream if asynchronous else direct_stream)(target, value, kwargs)
    if direct is not None:
        return direct
    if llm is not None:
        observed = aobserved_llm_stream if asynchronous else observed_llm_stream
        return observed(llm, value, unbind(target, kwargs)[1])
    return target.astream(value, **kwargs) if asynchronous else target.stream(value, **kwargs)


def _protocol(model: Any) -> str:
    """'ollama', 'openai' or '' (MLX, mocks): whose errors a failed run may carry."""
    for cls in type(_unwrap(model)).__mro__:
        if cls.__module__.startswith("langchain_openai"):
            return "openai"
        if "ollama" in cls.__module__:
            return "ollama"
    return ""


def _translate(exc: BaseException, model: Any, run: Run, started: bool) -> BaseException:
    protocol = _protocol(model)
    if protocol == "openai":
        from ..backends.openai import server_url_of, translate_openai_error

        url = server_url_of(_unwrap(model))
        return translate_openai_error(exc, url, run.model_name, streaming_started=started)
    if protocol != "ollama":
        return exc
    from ..backends._client import server_url, translate_error

    url = server_url(_unwrap(model))
    return translate_error(exc, url, run.model_name, streaming_started=started)


def _model_name(model: Any) -> str:
    # Ollama classes name the model in `model`; MLXPipeline keeps the loaded weights
    # there and the name in `model_id`; ChatMLX wraps an MLXPipeline in `llm`.
    for candidate in (model, getattr(model, "llm", None)):
        for attr in ("model", "model_id"):
            value = getattr(candidate, attr, None)
            if isinstance(value, str) and value:
                return value
    return type(model).__name__


def _check_generates(model: Any) -> None:
    if hasattr(model, "embed_documents"):
        raise TypeError(
            f"{type(model).__name__} embeds text, it does not generate: call "
            "embed_documents(texts) or embed_query(text) on it, or run a chat model"
        )
    if not hasattr(model, "stream"):
        raise TypeError(
            "stream_run needs a LangChain chat model or LLM (or a ModelSpec), "
            f"not {type(model).__name__}"
        )


def _prepare(model: Any, value: Any, on_event: Callable[[RunEvent], None] | None) -> tuple:
    """(model or spec, the run's recorder). A spec is checked here but built on the worker, so a slow
    build (an MLX load, `validate_model_on_init`) never holds up the caller."""
    from ..spec import ModelSpec

    if isinstance(model, ModelSpec):
        from ..errors import SpecError

        if model.kind == "embeddings":
            raise SpecError(
                "kind='embeddings': an embeddings model does not generate text; embed with "
                "build_embeddings(spec).embed_documents(texts), or run a kind='chat' spec"
            )
        recorder = RunRecorder(model_name=model.model, spec=model, prompt=value)
        run = recorder.run
    else:
        inner = _unwrap(model)
        _check_generates(inner)
        recorder = RunRecorder(model_name=_model_name(inner), prompt=value)
        run = recorder.run
        run.model = model
        with contextlib.suppress(Exception):  # a description is a bonus, not a must
            from ..backends import spec_from_model

            run.spec = spec_from_model(inner)
    if on_event is not None:
        run.subscribe(on_event)
    return model, recorder


def _built(model: Any, run: Run) -> Any:
    """The LangChain model to stream: `model` itself, or built from a spec (on the
    worker, while the run is pending)."""
    from ..spec import ModelSpec

    if not isinstance(model, ModelSpec):
        return model
    from ..backends import build

    built = build(model)
    _check_generates(_unwrap(built))
    run.model_name = _model_name(_unwrap(built))
    run.model = built
    return built


def _drive(recorder: RunRecorder, model: Any, value: Any, tools: list | None, kwargs: dict) -> None:
    """Worker body: build the model if needed, then stream into the run until the end,
    an error or a cancel."""
    run = recorder.run
    token = _streaming.set(recorder)
    stream = None
    started = False
    error: BaseException | None = None
    try:
        model = _built(model, run)
        _install_hook(model)
        if recorder.start() and not recorder.cancel_requested:
            stream = _open(model, value, tools, kwargs, asynchronous=False)
            for chunk in stream:
                started = True
                recorder.feed(chunk)
                if recorder.cancel_requested:
                    break
    except Exception as exc:
        if not recorder.cancel_requested:
            error = _translate(exc, model, run, started)
    finally:
        if stream is not None:
            # Closing the generator closes the HTTP response: the server sees us leave.
            with contextlib.suppress(Exception):
                stream.close()
        _streaming.reset(token)
        recorder.finish(error)


def start_run(
    model: Any,
    messages_or_prompt: Any,
    *,
    tools: list | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    **kwargs: Any,
) -> Run:
    """Start a generation in a background worker thread; return its live `Run` at once.

    `model` is a LangChain chat model or LLM (or a ModelSpec, built here); chat models
    take a string or a list of messages, LLMs a prompt string. `tools` are bound with
    `bind_tools`; other keyword arguments go to the model's stream call (e.g.
    `reasoning=True`, `stop=[...]`). `on_event` subscribes before the first event.
    """
    model, recorder = _prepare(model, messages_or_prompt, on_event)
    _workers.submit(_drive, recorder, model, messages_or_prompt, tools, kwargs)
    return recorder.run


def stream_run(
    model: Any,
    messages_or_prompt: Any,
    *,
    tools: list | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    timeout: float | None = None,
    raise_errors: bool = True,
    **kwargs: Any,
) -> Run:
    """Run a generation to its end and return the `Run` (same arguments as `start_run`).

    With `raise_errors` (default) a failed run raises its typed error; the exception's
    `run` attribute keeps the partial output. After `timeout` seconds the run is
    cancelled. Interrupting the kernel cancels the run before the interrupt propagates;
    the `KeyboardInterrupt`'s `run` attribute keeps the partial output.
    """
    run = start_run(model, messages_or_prompt, tools=tools, on_event=on_event, **kwargs)
    try:
        if not run.wait(timeout):
            run.cancel()
            run.wait()
    except KeyboardInterrupt as interrupt:
        run.cancel()
        run.wait(2.0)
        interrupt.run = run  # type: ignore[attr-defined]  # the partial output stays reachable
        raise
    if raise_errors and run.error is not None:
        with contextlib.suppress(AttributeError):
            run.error.run = run  # type: ignore[attr-defined]
        raise run.error
    return run


async def astream_run(
    model: Any,
    messages_or_prompt: Any,
    *,
    tools: list | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    raise_errors: bool = True,
    **kwargs: Any,
) -> Run:
    """`stream_run` for asyncio code: `await astream_run(...)`. `Run.cancel()` from any
    thread cancels the streaming task; cancelling the awaiting task cancels the run."""
    model, recorder = _prepare(model, messages_or_prompt, on_event)
    run = recorder.run
    loop = asyncio.get_running_loop()
    started = False
    error: BaseException | None = None
    stream = None
    try:
        model = await asyncio.to_thread(_built, model, run)
    except Exception as exc:
        recorder.finish(exc)
        model = None

    async def consume() -> None:
        nonlocal started, stream
        _streaming.set(recorder)  # this task's own context: its response hook reads it
        _install_hook(model)
        stream = _open(model, messages_or_prompt, tools, kwargs, asynchronous=True)
        async for chunk in stream:
            started = True
            recorder.feed(chunk)
            if recorder.cancel_requested:
                break

    if run.done or not recorder.start():
        if raise_errors and run.error is not None:
            raise run.error
        return run
    task = asyncio.ensure_future(consume())
    recorder.on_cancel(lambda: loop.call_soon_threadsafe(task.cancel))
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled() or not recorder.cancel_requested:
            # The awaiting task itself was cancelled: record it, then let it propagate.
            recorder.finish(cancelled=True)
            raise
    except Exception as exc:
        if not recorder.cancel_requested:
            error = _translate(exc, model, run, started)
    finally:
        if stream is not None and hasattr(stream, "aclose"):
            with contextlib.suppress(Exception):
                await stream.aclose()
    if not run.done:
        recorder.finish(error)
    if raise_errors and run.error is not None:
        with contextlib.suppress(AttributeError):
            run.error.run = run  # type: ignore[attr-defined]
        raise run.error
    return run
