"""An LLM's chunk stream with LangChain's callbacks, for runs someone observes.

`BaseLLM.stream` fires the callbacks but yields bare strings, dropping each chunk's
`generation_info` (thinking, the final counts and durations) that a run records. So when
an LLM has callbacks, tracing or a `config`, the driver streams the model's own chunks
inside the same callback lifecycle `BaseLLM.stream` runs: start, a token per chunk (the
model fires those itself), then end or error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any


def _start_args(llm: Any, kwargs: dict) -> tuple[dict, dict, dict]:
    config = dict(kwargs.pop("config", None) or {})
    for key in ("callbacks", "tags", "metadata", "run_name"):
        if key in kwargs:
            config[key] = kwargs.pop(key)
    stop = kwargs.get("stop")
    configure = dict(
        inheritable_callbacks=config.get("callbacks"),
        local_callbacks=llm.callbacks,
        verbose=llm.verbose,
        inheritable_tags=config.get("tags"),
        local_tags=llm.tags,
        inheritable_metadata=config.get("metadata"),
        local_metadata=llm.metadata,
    )
    start = dict(
        invocation_params={**llm._identifying_params, **kwargs},
        options={"stop": stop},
        name=config.get("run_name"),
        batch_size=1,
    )
    return configure, start, kwargs


def _result(generation: Any) -> Any:
    from langchain_core.outputs import LLMResult

    return LLMResult(generations=[[generation]] if generation is not None else [])


def observed_llm_stream(llm: Any, prompt: str, kwargs: dict) -> Iterator[Any]:
    """`llm._stream(prompt)` between `on_llm_start` and `on_llm_end`/`on_llm_error`."""
    from langchain_core.callbacks import CallbackManager

    configure, start, kwargs = _start_args(llm, dict(kwargs))
    manager = CallbackManager.configure(**configure)
    (run_manager,) = manager.on_llm_start(llm._serialized, [prompt], **start)
    generation = None
    try:
        for chunk in llm._stream(prompt, run_manager=run_manager, **kwargs):
            generation = chunk if generation is None else generation + chunk
            yield chunk
    except BaseException as exc:  # GeneratorExit too: a cancelled run ends its trace
        run_manager.on_llm_error(exc, response=_result(generation))
        raise
    run_manager.on_llm_end(_result(generation))


async def aobserved_llm_stream(llm: Any, prompt: str, kwargs: dict) -> AsyncIterator[Any]:
    """The asyncio form of `observed_llm_stream`."""
    from langchain_core.callbacks import AsyncCallbackManager

    configure, start, kwargs = _start_args(llm, dict(kwargs))
    manager = AsyncCallbackManager.configure(**configure)
    (run_manager,) = await manager.on_llm_start(llm._serialized, [prompt], **start)
    generation = None
    try:
        async for chunk in llm._astream(prompt, run_manager=run_manager, **kwargs):
            generation = chunk if generation is None else generation + chunk
            yield chunk
    except BaseException as exc:
        await run_manager.on_llm_error(exc, response=_result(generation))
        raise
    await run_manager.on_llm_end(_result(generation))
