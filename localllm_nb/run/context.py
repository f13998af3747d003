"""How much of the model's context a run used, and whether its prompt was cut to fit.

The embedded server says so explicitly: response headers carry the prompt's tokens
before fitting and the context size (`X-Prompt-Tokens`, `X-Num-Ctx`), and a cut answer's
final line a `prompt_truncated` object. A real Ollama truncates silently, so there it is
inferred from the counts it returns: a prompt that filled the context was cut.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

_CACHE_SECONDS = 10.0
NEAR_FULL = 0.8  # a conversation this full drops its oldest turns within a turn or two
_limits: dict[tuple[str, str], tuple[float, int | None]] = {}
_limits_lock = threading.Lock()


@dataclass(frozen=True)
class ContextUse:
    """A run's use of the context: `used` tokens (prompt evaluated + generated) of
    `limit` (None when unknown), and whether the prompt was `truncated` (`needed` tokens
    before fitting when the server reports it). `explicit` says the server reported the
    truncation; otherwise it was inferred from the counts."""

    used: int
    limit: int | None
    truncated: bool
    prompt_tokens: int = 0
    generated_tokens: int = 0
    needed: int | None = None
    explicit: bool = False

    @property
    def fraction(self) -> float | None:
        """used / limit (None when the limit is unknown)."""
        return self.used / self.limit if self.limit else None

    @property
    def near_full(self) -> bool:
        """True when the context is at least `NEAR_FULL` used: a conversation that goes
        on will soon lose its oldest messages."""
        return self.fraction is not None and self.fraction >= NEAR_FULL

    def message(self) -> str:
        """One line for people: the fill, and what was cut."""
        of = f" of {self.limit}" if self.limit else ""
        text = f"context: {self.used}{of} tokens"
        if self.limit:
            text += f" ({self.fraction:.0%})"
        if self.truncated:
            if self.needed:
                cut = f"the prompt needed {self.needed} tokens and was cut to {self.prompt_tokens}"
            else:
                cut = "the prompt filled the context and was probably cut"
            text += f"; {cut}: raise num_ctx or shorten the conversation"
        return text

    def __repr__(self) -> str:
        return f"ContextUse({self.message()})"


def context_headers(headers: Any) -> dict[str, int]:
    """The embedded server's context headers as run figures ({} when absent)."""
    out = {}
    for header, key in (("x-prompt-tokens", "prompt_tokens_needed"), ("x-num-ctx", "num_ctx")):
        value = headers.get(header)
        if value is not None and str(value).isdigit():
            out[key] = int(value)
    return out


def _server_limit(spec: Any, model: str) -> int | None:
    """The context a server runs `model` with when the spec sets none: `/api/ps`'s
    context_length for the loaded model, else the server's default from `/api/show`."""
    import httpx

    from .._host import base_url

    url = base_url(spec.base_url)
    key = (url, model)
    with _limits_lock:
        hit = _limits.get(key)
        if hit and time.monotonic() - hit[0] < _CACHE_SECONDS:
            return hit[1]
    limit = None
    kwargs = {k: v for k, v in (spec.client_kwargs or {}).items() if k in ("headers", "auth")}
    try:
        with httpx.Client(base_url=url, timeout=5.0, **kwargs) as client:
            for row in client.get("/api/ps").json().get("models", []):
                if row.get("model") == model and row.get("context_length"):
                    limit = int(row["context_length"])
            if limit is None:
                from ..fields import parse_parameters

                show = client.post("/api/show", json={"model": model}).json()
                value = parse_parameters(show.get("parameters", "")).get("num_ctx")
                limit = int(value) if isinstance(value, (int, float)) else None
    except Exception:
        return None
    with _limits_lock:
        _limits[key] = (time.monotonic(), limit)
    return limit


def context_use(run: Any) -> ContextUse:
    """`run`'s context use, from what its server returned (final once the run is done)."""
    server = dict(run.server)
    prompt = int(server.get("prompt_eval_count") or 0)
    generated = int(server.get("eval_count") or 0)
    spec = run.spec
    limit = server.get("num_ctx") or getattr(spec, "num_ctx", None)
    ended = run.status not in ("pending", "running")
    counted = prompt + generated > 0  # a run that failed before the server answered: none
    if limit is None and counted and spec is not None and spec.backend == "ollama" and ended:
        limit = _server_limit(spec, run.model_name or spec.model)
    needed = server.get("prompt_tokens_needed")
    if needed is not None:
        truncated, explicit = needed > prompt > 0, True
    else:
        # Ollama keeps a cut prompt within the context, so a cut one fills it.
        truncated, explicit = bool(limit and prompt and prompt + generated >= limit), False
    return ContextUse(
        used=prompt + generated,
        limit=limit,
        truncated=truncated,
        prompt_tokens=prompt,
        generated_tokens=generated,
        needed=needed,
        explicit=explicit,
    )
