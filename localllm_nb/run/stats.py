"""Timing of one generation: the client's own clock beside the server's figures.

Ollama's final stream line carries counts and nanosecond durations; mlx-lm reports
rates (`prompt_tps`, `generation_tps`) and peak memory; OpenAI-compatible servers send
token counts as `usage` (llama-server adds `timings` in milliseconds). Both land in one `RunStats`,
next to what the client measured per chunk, so the notebook's own overhead is visible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

_NS = 1e-9


@dataclass(frozen=True)
class TimelinePoint:
    """A chunk as the client saw it: seconds since the run started, tokens so far
    (content + thinking), and which channel the chunk belonged to."""

    t: float
    tokens: int
    channel: str  # "content" | "thinking" | "tool_call"


@dataclass(frozen=True)
class RunStats:
    """Client-side and server-side figures of one run. Missing figures are None."""

    # Client clock.
    ttft_s: float | None = None
    duration_s: float | None = None
    tokens: int = 0
    content_tokens: int = 0
    thinking_tokens: int = 0
    client_tps: float | None = None
    # Server figures (Ollama's final line, mlx-lm's rates, or an OpenAI server's usage).
    prompt_tokens: int | None = None
    prompt_eval_s: float | None = None
    eval_tokens: int | None = None
    eval_s: float | None = None
    load_s: float | None = None
    total_s: float | None = None
    server_tps: float | None = None
    prompt_tps: float | None = None
    peak_memory_gb: float | None = None
    source: str | None = None  # "ollama" | "mlx" | "openai" | None when the server said nothing

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON/CSV)."""
        return asdict(self)

    def summary(self) -> str:
        """One line for humans, e.g. 'ttft 0.17 s · 38 tokens · 81.2 tok/s (server 82.0)'."""
        parts = []
        if self.ttft_s is not None:
            parts.append(f"ttft {self.ttft_s:.2f} s")
        parts.append(f"{self.tokens} tokens")
        if self.client_tps is not None:
            parts.append(f"{self.client_tps:.1f} tok/s")
        if self.server_tps is not None:
            parts.append(f"server {self.server_tps:.1f} tok/s")
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.2f} s total")
        return " · ".join(parts)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def server_figures(meta: dict[str, Any]) -> dict[str, Any]:
    """RunStats fields from a server's metadata (Ollama's final line or mlx-lm's)."""
    out: dict[str, Any] = {}
    if any(k in meta for k in ("eval_count", "eval_duration", "prompt_eval_count")):
        out["source"] = "ollama"
        count, dur = _num(meta.get("eval_count")), _num(meta.get("eval_duration"))
        pcount, pdur = _num(meta.get("prompt_eval_count")), _num(meta.get("prompt_eval_duration"))
        out["eval_tokens"] = int(count) if count is not None else None
        out["eval_s"] = dur * _NS if dur is not None else None
        out["prompt_tokens"] = int(pcount) if pcount is not None else None
        out["prompt_eval_s"] = pdur * _NS if pdur is not None else None
        if count and dur:
            out["server_tps"] = count / (dur * _NS)
        if pcount and pdur:
            out["prompt_tps"] = pcount / (pdur * _NS)
        for key, field in (("load_duration", "load_s"), ("total_duration", "total_s")):
            value = _num(meta.get(key))
            out[field] = value * _NS if value is not None else None
    if any(k in meta for k in ("generation_tps", "prompt_tps", "peak_memory")):
        out["source"] = "mlx"
        out["server_tps"] = _num(meta.get("generation_tps"))
        out["prompt_tps"] = _num(meta.get("prompt_tps"))
        out["peak_memory_gb"] = _num(meta.get("peak_memory"))
        for key, field in (
            ("prompt_tokens", "prompt_tokens"),
            ("generation_tokens", "eval_tokens"),
        ):
            value = _num(meta.get(key))
            if value is not None:
                out[field] = int(value)
    if "usage" in meta and "source" not in out:
        out.update(_openai_figures(meta["usage"], meta.get("timings")))
    return out


def _openai_figures(usage: Any, timings: Any) -> dict[str, Any]:
    """An OpenAI-compatible server's usage counts, and llama-server's `timings` (ms).

    >>> _openai_figures({"input_tokens": 31, "output_tokens": 8},
    ...                 {"prompt_ms": 500.0, "predicted_ms": 160.0, "predicted_per_second": 50.0})
    {'source': 'openai', 'prompt_tokens': 31, 'eval_tokens': 8, 'prompt_eval_s': 0.5, 'eval_s': 0.16, 'server_tps': 50.0}
    """
    usage = usage if isinstance(usage, dict) else {}
    out: dict[str, Any] = {"source": "openai"}
    for key, field in (("input_tokens", "prompt_tokens"), ("output_tokens", "eval_tokens")):
        value = _num(usage.get(key))
        out[field] = int(value) if value is not None else None
    if isinstance(timings, dict):
        for key, field in (("prompt_ms", "prompt_eval_s"), ("predicted_ms", "eval_s")):
            value = _num(timings.get(key))
            if value is not None:
                out[field] = value / 1000
        for key, field in (
            ("predicted_per_second", "server_tps"),
            ("prompt_per_second", "prompt_tps"),
        ):
            value = _num(timings.get(key))
            if value is not None:
                out[field] = value
    return out


def compute_stats(
    timeline: list[TimelinePoint], duration_s: float | None, server: dict[str, Any]
) -> RunStats:
    """RunStats from the client timeline, the run's wall time and the server metadata.

    Client tokens/s counts the tokens after the first over the time after the first, the
    same span the server's eval rate covers, so the two are comparable.
    """
    text_points = [p for p in timeline if p.channel != "tool_call"]
    tokens = text_points[-1].tokens if text_points else 0
    thinking = sum(1 for p in text_points if p.channel == "thinking")
    ttft = timeline[0].t if timeline else None
    client_tps = None
    if len(text_points) >= 2:
        span = text_points[-1].t - text_points[0].t
        if span > 0:
            client_tps = (text_points[-1].tokens - text_points[0].tokens) / span
    return RunStats(
        ttft_s=ttft,
        duration_s=duration_s,
        tokens=tokens,
        content_tokens=tokens - thinking,
        thinking_tokens=thinking,
        client_tps=client_tps,
        **server_figures(server),
    )


def rate_series(timeline: list[TimelinePoint], window: int = 8) -> list[tuple[float, float, str]]:
    """(time, tokens/s, channel) along a run: the rate over the last `window` chunks.

    A moving window rather than per-chunk gaps, because chunk arrival jitters by
    milliseconds and single gaps would make the chart unreadable.
    """
    points = [p for p in timeline if p.channel != "tool_call"]
    series = []
    for i in range(1, len(points)):
        j = max(0, i - window)
        dt = points[i].t - points[j].t
        if dt > 0:
            series.append(
                (points[i].t, (points[i].tokens - points[j].tokens) / dt, points[i].channel)
            )
    return series
