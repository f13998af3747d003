"""Chat plumbing for the MLX backend: LangChain messages to template dicts, generation
pieces to chat chunks (with tool calls), and a thread bridge for async streaming."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk

from ._mlx_text import Piece, ToolCallSplitter


def chat_chunks(
    pieces: Iterable[Piece], splitter: ToolCallSplitter | None = None
) -> Iterator[ChatGenerationChunk]:
    """Chat chunks from a generation's pieces: tool-call blocks become
    `tool_call_chunks`, and the final piece carries the figures and usage."""
    n_calls = 0
    for piece in pieces:
        text, figures, calls = piece.text, piece.figures, []
        # Where ChatOllama puts them: response_metadata["logprobs"] of each chunk.
        logprobs = {"logprobs": list(piece.logprobs)} if piece.logprobs else None
        if splitter is not None:
            text, calls = splitter.feed(text)
            if figures is not None:
                text += splitter.flush()
        tool_chunks = []
        for call in calls:
            tool_chunks.append(
                tool_call_chunk(
                    name=call.name,
                    args=_json(call.arguments),
                    id=f"call_{uuid.uuid4().hex[:24]}",
                    index=n_calls,
                )
            )
            n_calls += 1
        if figures is None:
            if text or tool_chunks or logprobs:
                message = AIMessageChunk(content=text, tool_call_chunks=tool_chunks)
                yield ChatGenerationChunk(message=message, generation_info=logprobs)
            continue
        usage = {
            "input_tokens": figures.prompt_tokens,
            "output_tokens": figures.generation_tokens,
            "total_tokens": figures.prompt_tokens + figures.generation_tokens,
            # the prompt's prefix reused from a recent one
            "input_token_details": {"cache_read": figures.prompt_cached_tokens},
        }
        message = AIMessageChunk(
            content=text, tool_call_chunks=tool_chunks, usage_metadata=usage, chunk_position="last"
        )
        yield ChatGenerationChunk(
            message=message, generation_info={**figures.as_info(), **(logprobs or {})}
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text_content(content: Any) -> str:
    """LangChain content (a string or a list of blocks) as plain text for a template."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "".join(parts)


def to_chat_dict(message: BaseMessage) -> dict[str, Any]:
    """A LangChain message as the dict Hugging Face chat templates expect."""
    content = _text_content(message.content)
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": content}
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": content}
    if isinstance(message, AIMessage):
        out: dict[str, Any] = {"role": "assistant", "content": content}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.get("id"),
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["args"]},
                }
                for call in message.tool_calls
            ]
        return out
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "content": content,
            "tool_call_id": message.tool_call_id,
            **({"name": message.name} if message.name else {}),
        }
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": content}
    raise ValueError(f"Unknown message type: {type(message).__name__}")


def _markers(tokenizer: Any) -> tuple[str, str]:
    start = getattr(tokenizer, "tool_call_start", None)
    end = getattr(tokenizer, "tool_call_end", None)
    return (start, end) if start and end else ("<tool_call>", "</tool_call>")


def tool_markers(tokenizer: Any) -> tuple[str, str] | None:
    """The markers around a `{"name", "arguments"}` JSON call in this model's replies:
    the tokenizer's own when mlx-lm knows them, else Hermes's `<tool_call>`. None when
    mlx-lm parses this model's calls in another syntax (Mistral's, pythonic, XML...),
    which the call grammar does not write."""
    parser = getattr(tokenizer, "tool_parser", None)
    if parser is not None and not getattr(parser, "__module__", "").endswith("json_tools"):
        return None
    return _markers(tokenizer)


def tool_splitter(tokenizer: Any, tools: list[dict]) -> ToolCallSplitter:
    """Use the tokenizer's own tool-call markers and parser when mlx-lm knows them."""
    start, end = _markers(tokenizer)
    return ToolCallSplitter(start, end, getattr(tokenizer, "tool_parser", None), tools)


def closed_json_pieces(pieces: Iterable[Piece]) -> Iterator[Piece]:
    """A `format` answer cut short by `max_tokens` is closed so that it parses, as the
    embedded server does; `finish_reason` stays "length", which says what happened."""
    from ..embedded.engine.json_close import close_json

    sent: list[str] = []
    for piece in pieces:
        if piece.figures is not None and piece.figures.finish_reason == "length":
            piece = replace(piece, text=piece.text + close_json("".join(sent) + piece.text))
        sent.append(piece.text)
        yield piece


_DONE = object()


async def iterate_in_thread(make_iter: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    """Run a synchronous generation in one worker thread and yield its items here.

    One thread for the whole stream (not one executor call per item): mlx-lm's
    generation stream is thread-local. Leaving the loop early stops the worker at its
    next item, which closes the generation and frees the model for the next call.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()

    def post(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop closed under us: nobody is listening
            cancelled.set()

    def work() -> None:
        try:
            iterator = make_iter()
            try:
                for item in iterator:
                    if cancelled.is_set():
                        break
                    post((item, None))
            finally:
                close = getattr(iterator, "close", None)
                if close:
                    close()
        except BaseException as exc:  # handed to the awaiting side
            post((_DONE, exc))
        else:
            post((_DONE, None))

    threading.Thread(target=work, name="mlx-generate", daemon=True).start()
    try:
        while True:
            item, error = await queue.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        cancelled.set()
