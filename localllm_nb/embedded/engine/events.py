"""What an engine's job reports, in order: `TextEvent`s, then one `DoneEvent` or one
`ErrorEvent`. Small records (as mlx-lm's `GenerationResponse`) so a consumer names every
field it reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextEvent:
    """Answer text, stop strings already cut, and when asked the logprobs of the tokens
    it completes (Ollama's entries; a token held back with its text comes later)."""

    text: str
    logprobs: tuple[dict, ...] = ()


@dataclass(frozen=True)
class ErrorEvent:
    """The job failed or was interrupted; nothing follows."""

    error: str


@dataclass(frozen=True)
class DoneEvent:
    """The job ended: why, and Ollama's counts and durations (nanoseconds)."""

    done_reason: str  # "stop" (end of turn or a stop string), "length", "cancelled"
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int
    context: list[int]  # prompt and answer tokens, for `/api/generate`'s `context`


EngineEvent = TextEvent | ErrorEvent | DoneEvent
