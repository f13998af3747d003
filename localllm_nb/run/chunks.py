"""What one streamed chunk carries, whatever LangChain type it arrives as.

Chat models yield `AIMessageChunk`s: text in `content` (a string, or content blocks),
thinking in `additional_kwargs["reasoning_content"]` (langchain-ollama copies Ollama's
`message.thinking` there when `reasoning` is on) or in reasoning blocks, tool calls in
`tool_calls`, and the server's figures in `response_metadata` of the last chunk
(ChatOpenAI: in `usage_metadata`, with llama-server's `timings` in `response_metadata`).
LLMs yield `GenerationChunk`s with `text` and `generation_info`. Per-token logprobs
(when asked for) come in `response_metadata["logprobs"]` / `generation_info["logprobs"]`
of any chunk, the last included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChunkParts:
    """The pieces of one chunk the run record cares about."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    logprobs: list[Any] = field(default_factory=list)  # Ollama-shaped entries, as sent


def _blocks(content: list, parts: ChunkParts) -> None:
    for block in content:
        if isinstance(block, str):
            parts.content += block
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind == "text":
                parts.content += block.get("text", "")
            elif kind in ("reasoning", "thinking"):
                parts.thinking += block.get("reasoning") or block.get("thinking") or ""


def split_chunk(chunk: Any) -> ChunkParts:
    """Content, thinking, tool calls and metadata of a chunk, str or LangChain object."""
    if isinstance(chunk, ChunkParts):  # already split (the direct Ollama path)
        return chunk
    parts = ChunkParts()
    if isinstance(chunk, str):
        parts.content = chunk
        return parts
    content = getattr(chunk, "content", None)
    if content is None:  # GenerationChunk
        parts.content = getattr(chunk, "text", "") or ""
        info = getattr(chunk, "generation_info", None) or {}
        # OllamaLLM puts per-chunk thinking under reasoning_content (when `reasoning` is
        # on); its aggregated results use "thinking".
        thinking = info.get("reasoning_content") or info.get("thinking") or ""
        parts.thinking = thinking if isinstance(thinking, str) else ""
        parts.logprobs = list(info.get("logprobs") or ())
        parts.metadata = {
            k: v
            for k, v in info.items()
            if k not in ("thinking", "reasoning_content", "logprobs")
            # OllamaLLM fills finish_reason with its stop list; a reason is a string.
            and not (k == "finish_reason" and not isinstance(v, str))
        }
        return parts
    if isinstance(content, str):
        parts.content = content
    elif isinstance(content, list):
        _blocks(content, parts)
    extra = getattr(chunk, "additional_kwargs", None) or {}
    reasoning = extra.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.thinking = reasoning
    for call in getattr(chunk, "tool_calls", None) or []:
        parts.tool_calls.append(
            {"name": call.get("name"), "args": call.get("args"), "id": call.get("id")}
        )
    meta = dict(getattr(chunk, "response_metadata", None) or {})
    parts.logprobs = list(meta.pop("logprobs", None) or ())
    if meta:
        parts.metadata = meta
    # OpenAI-compatible servers send their counts as usage (the last chunk's, with
    # `stream_options.include_usage`); ChatOllama's copy of its own counts is not needed.
    usage = getattr(chunk, "usage_metadata", None)
    if usage and meta.get("model_provider") == "openai":
        parts.metadata["usage"] = dict(usage)
    return parts
