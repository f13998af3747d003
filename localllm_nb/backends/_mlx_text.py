"""Pure text helpers for the MLX backend: generation settings, the pieces a generation
streams, stop strings, tool calls.

Nothing here imports mlx, so these pieces are tested without a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .._stream_text import HoldBack, tool_call_parts

# mlx-lm's own default window for the repetition penalty; langchain-community passed
# `None` through, which crashes mlx-lm when a penalty is set.
DEFAULT_REPETITION_CONTEXT_SIZE = 20


@dataclass(frozen=True)
class GenerationSettings:
    """The `pipeline_kwargs` of `MLXPipeline`, with the reference's defaults.

    >>> GenerationSettings.from_kwargs({"temp": 0.5}).temp
    0.5
    >>> GenerationSettings.from_kwargs({"repetition_penalty": 1.2}).repetition_context_size
    20
    """

    temp: float = 0.0
    max_tokens: int = 100
    verbose: bool = False
    formatter: Callable[[str, float], None] | None = None
    repetition_penalty: float | None = None
    repetition_context_size: int | None = None
    top_p: float = 1.0
    min_p: float = 0.0
    min_tokens_to_keep: int = 1
    top_k: int = 0
    logprobs: bool = False
    top_logprobs: int = 0

    @classmethod
    def names(cls) -> frozenset[str]:
        """Every accepted key."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def from_kwargs(cls, *layers: dict[str, Any] | None) -> GenerationSettings:
        """Merge dicts of settings, later ones winning; unknown keys raise `ValueError`.

        `None` values mean "not set" so that a caller can pass a sparse dict.
        """
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in (layer or {}).items():
                if key not in cls.names():
                    raise ValueError(
                        f"unknown MLX generation setting {key!r}; known: {sorted(cls.names())}"
                    )
                if value is not None:
                    merged[key] = value
        settings = cls(**merged)
        if settings.max_tokens == 0 or settings.max_tokens < -1:
            raise ValueError("max_tokens must be positive, or -1 for no limit")
        if not 0 <= settings.top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 0 and 20")
        if settings.top_logprobs and not settings.logprobs:  # as ChatOllama: implied
            settings = replace(settings, logprobs=True)
        if settings.repetition_penalty is not None and settings.repetition_context_size is None:
            settings = replace(settings, repetition_context_size=DEFAULT_REPETITION_CONTEXT_SIZE)
        return settings


@dataclass(frozen=True)
class GenerationFigures:
    """How one generation went: mlx-lm's figures from its last `GenerationResponse`,
    the prompt tokens reused from a recent prompt, and why it ended.

    `as_info()` is LangChain's `generation_info`.
    """

    prompt_tokens: int
    prompt_cached_tokens: int
    prompt_tps: float  # over the tokens computed, not the cached ones
    generation_tokens: int
    generation_tps: float
    peak_memory: float  # GB
    finish_reason: str  # "stop" (EOS or a stop string) or "length"
    model_name: str = ""

    def as_info(self) -> dict[str, Any]:
        """The figures as a dict (`generation_info`, `response_metadata`)."""
        return asdict(self)


@dataclass(frozen=True)
class Piece:
    """Text a generation streams. The last piece of every generation carries its
    `figures` (and perhaps text held back until the end); the others carry None.
    With `logprobs` on, `logprobs` holds an Ollama-shaped entry per token whose text
    the piece completes (`{token, logprob, bytes, top_logprobs}`).

    >>> Piece("Hi").final
    False
    """

    text: str
    figures: GenerationFigures | None = None
    logprobs: tuple[dict[str, Any], ...] = ()

    @property
    def final(self) -> bool:
        """True on the generation's last piece."""
        return self.figures is not None


class StopStrings:
    """Stop strings over a stream: text before the first stop is passed on, then nothing.

    >>> s = StopStrings(["\\nUser:"])
    >>> s.feed("Hi.\\nUs"), s.feed("er: more"), s.stopped
    ('Hi.', '', True)
    """

    def __init__(self, stops: Iterable[str] | None):
        self._filter = HoldBack(stops or [])

    @property
    def stopped(self) -> bool:
        return self._filter.match is not None

    def feed(self, text: str) -> str:
        return self._filter.feed(text)

    def flush(self) -> str:
        return "" if self.stopped else self._filter.flush()


@dataclass
class ParsedToolCall:
    """One tool call the model wrote, with arguments as a dict."""

    name: str
    arguments: dict[str, Any]


def _default_tool_parser(text: str, tools: Any = None) -> dict:
    return json.loads(text.strip())


class ToolCallSplitter:
    """Separates tool-call blocks (`<tool_call>...</tool_call>` by default) from content.

    `feed` returns `(content, calls)`: content outside the blocks, and the calls whose
    closing marker arrived. A block that never closes or does not parse stays content.

    >>> t = ToolCallSplitter()
    >>> t.feed('ok <tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
    ('ok ', [ParsedToolCall(name='f', arguments={'x': 1})])
    """

    def __init__(
        self,
        start: str = "<tool_call>",
        end: str = "</tool_call>",
        parser: Callable[..., Any] | None = None,
        tools: Any = None,
    ):
        self.start, self.end = start, end
        self.parser = parser or _default_tool_parser
        self.tools = tools
        self._outside = HoldBack([start])
        self._inside: HoldBack | None = None
        self._body: list[str] = []

    def feed(self, text: str) -> tuple[str, list[ParsedToolCall]]:
        content: list[str] = []
        calls: list[ParsedToolCall] = []
        while text:
            if self._inside is None:
                content.append(self._outside.feed(text))
                if self._outside.match is None:
                    break
                text = self._outside.after
                self._outside = HoldBack([self.start])
                self._inside = HoldBack([self.end])
                self._body = []
            else:
                self._body.append(self._inside.feed(text))
                if self._inside.match is None:
                    break
                text = self._inside.after
                body = "".join(self._body)
                self._inside = None
                call = self._parse(body)
                if call is None:
                    content.append(f"{self.start}{body}{self.end}")
                else:
                    calls.append(call)
        return "".join(content), calls

    def flush(self) -> str:
        """End of stream: an unclosed block is returned as plain content."""
        if self._inside is not None:
            body = "".join(self._body) + self._inside.flush()
            self._inside = None
            return f"{self.start}{body}"
        return self._outside.flush()

    def _parse(self, body: str) -> ParsedToolCall | None:
        try:
            data = self.parser(body, self.tools)
        except Exception:  # a model's malformed call is content, not a crash
            return None
        parts = tool_call_parts(data)
        return None if parts is None else ParsedToolCall(*parts)
