"""Reading an Ollama model's stream without LangChain's per-chunk wrapping.

`ChatOllama.stream` turns every NDJSON line into three objects (ollama-python's
`ChatResponse`, then an `AIMessageChunk` inside a `ChatGenerationChunk`, then merged
metadata for the callbacks): about a third more client CPU per token than ollama-python
alone, and on a small machine that CPU is taken from the model's own threads. When
nothing would observe LangChain's callbacks (no handlers, no tracing, no rate limiter,
no `config`), the driver asks the model for its own request (`_chat_params` /
`_generate_params`, so every setting means exactly what it means in LangChain) and reads
ollama-python's stream itself (each response's `logprobs` included). Otherwise `direct_stream` returns None and the driver
goes through LangChain's `stream`.

The pieces come out as `ChunkParts`, with the figures of the final line under the keys
LangChain puts in `response_metadata`. Thinking is recorded whenever the server sends
it: with `reasoning=None` LangChain drops it, but a run shows it on its own channel.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .chunks import ChunkParts


def unbind(model: Any, kwargs: dict) -> tuple[Any, dict]:
    """The model under any `bind`/`bind_tools`/`with_config` layers, and the call's
    keyword arguments merged with theirs (their config, if any, under "config")."""
    from langchain_core.runnables import RunnableBinding

    merged = dict(kwargs)
    config = merged.pop("config", None)
    while isinstance(model, RunnableBinding):
        merged = {**model.kwargs, **merged}
        config = model._merge_configs(config)  # as the binding would pass it inward
        model = model.bound
    if config and any(config.values()):
        merged["config"] = config
    return model, merged


def _plain(model: Any, kwargs: dict) -> tuple[Any, dict] | None:
    """The Ollama model and its call's keyword arguments, or None when the direct path
    would skip something LangChain does (callbacks, tracing, config, rate limits)."""
    from langchain_ollama import ChatOllama, OllamaLLM

    model, merged = unbind(model, kwargs)
    if type(model) not in (ChatOllama, OllamaLLM):  # a subclass may stream its own way
        return None
    if any(key in merged for key in ("config", "callbacks")) or _observed(model):
        return None
    if getattr(model, "rate_limiter", None) or getattr(model, "disable_streaming", False):
        return None
    return model, merged


def _observed(model: Any) -> bool:
    """True when LangChain would call any handler for this model (its own callbacks,
    verbose output, tracing switched on by environment or context)."""
    from langchain_core.callbacks import CallbackManager

    manager = CallbackManager.configure(None, model.callbacks, model.verbose)
    return bool(manager.handlers)


def _chat_request(model: Any, value: Any, kwargs: dict) -> dict:
    from langchain_core.language_models._utils import _normalize_messages

    messages = _normalize_messages(model._convert_input(value).to_messages())
    stop = kwargs.pop("stop", None)
    return model._chat_params(messages, stop, **kwargs)


def _llm_request(model: Any, prompt: str, kwargs: dict) -> dict:
    stop = kwargs.pop("stop", None)
    return model._generate_params(prompt, stop=stop, **kwargs)


def _final_figures(response: Any) -> dict[str, Any]:
    # Same keys as the `response_metadata` LangChain builds from the last line.
    skip = ("message", "response", "logprobs")
    figures = {k: v for k, v in dict(response).items() if k not in skip}
    if "model" in figures:
        figures["model_name"] = figures["model"]
    figures["model_provider"] = "ollama"
    return figures


def _chat_parts(response: Any) -> ChunkParts:
    message = response.message
    content = message.content or ""
    if response.done and response.done_reason == "load" and not content.strip():
        # Empty messages only load the model: no text, but the run says why it ended.
        return ChunkParts(metadata=_final_figures(response))
    parts = ChunkParts(content=content, thinking=message.thinking or "")
    parts.logprobs = list(response.logprobs or ())
    if message.tool_calls:
        from langchain_ollama.chat_models import _get_tool_calls_from_response

        parts.tool_calls = [
            {"name": call["name"], "args": call["args"], "id": call["id"]}
            for call in _get_tool_calls_from_response(response)
        ]
    if response.done:
        parts.metadata = _final_figures(response)
    return parts


def _llm_parts(response: Any) -> ChunkParts:
    parts = ChunkParts(content=response.response or "", thinking=response.thinking or "")
    parts.logprobs = list(response.logprobs or ())
    if response.done:
        parts.metadata = _final_figures(response)
    return parts


def _request(model: Any, value: Any, kwargs: dict, asynchronous: bool) -> tuple | None:
    """(ollama-python's pending stream, the parser for its responses), or None."""
    plain = _plain(model, kwargs)
    if plain is None:
        return None
    model, merged = plain
    client = model._async_client if asynchronous else model._client
    if hasattr(model, "_chat_params"):
        return client.chat(**_chat_request(model, value, merged)), _chat_parts
    return client.generate(**_llm_request(model, value, merged)), _llm_parts


def direct_stream(model: Any, value: Any, kwargs: dict) -> Iterator[ChunkParts] | None:
    """ChunkParts read straight from ollama-python, or None to go through LangChain."""
    request = _request(model, value, kwargs, asynchronous=False)
    return None if request is None else _read(*request)


def adirect_stream(model: Any, value: Any, kwargs: dict) -> AsyncIterator[ChunkParts] | None:
    """The asyncio form of `direct_stream`."""
    request = _request(model, value, kwargs, asynchronous=True)
    return None if request is None else _aread(*request)


def _read(responses: Iterator[Any], parse: Any) -> Iterator[ChunkParts]:
    # Closing this generator closes ollama-python's, which closes the HTTP response.
    with contextlib.closing(responses):
        for response in responses:
            yield parse(response)


async def _aread(request: Any, parse: Any) -> AsyncIterator[ChunkParts]:
    responses = await request
    try:
        async for response in responses:
            yield parse(response)
    finally:
        with contextlib.suppress(Exception):
            await responses.aclose()
