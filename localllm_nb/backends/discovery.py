"""Which models a server offers and what they can do (`/api/tags` + `/api/show`)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .._host import base_url as _normalise
from ..errors import NoThinkingModelError
from ..fields import parse_parameters
from ._client import ollama_client, translate_error

_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, list[ModelInfo]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """One model on a server: identity, size, details and capabilities.

    `capabilities` is what `/api/show` reports: 'completion', 'tools', 'thinking',
    'embedding', 'insert', 'vision'. `parameters` are the server's defaults for this
    model; `ModelSpec.fields(..., server_defaults=info.parameters)` shows them.
    """

    name: str
    size: int = 0
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    format: str = ""
    digest: str = ""
    modified_at: str = ""
    capabilities: tuple[str, ...] = ()
    context_length: int | None = None
    embedding_length: int | None = None
    families: tuple[str, ...] = field(default=())
    parameters: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """The server's defaults for this model (`/api/show` parameters), e.g. num_ctx."""
    model_info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """The architecture fields `/api/show` gives (GGUF header keys, e.g.
    'llama.block_count'), which `estimate_memory` reads."""

    def supports(self, capability: str) -> bool:
        """True when the server lists `capability` for this model."""
        return capability in self.capabilities

    @property
    def can_chat(self) -> bool:
        """Chat/generate work (Ollama's 'completion' capability)."""
        return "completion" in self.capabilities

    @property
    def can_embed(self) -> bool:
        """An embedding model. (Ollama lets chat models embed too, without this flag.)"""
        return "embedding" in self.capabilities


def _info_from(entry: Any, show: Any | None) -> ModelInfo:
    details = getattr(entry, "details", None)
    caps: tuple[str, ...] = ()
    ctx = emb = None
    params: dict[str, Any] = {}
    info: dict[str, Any] = {}
    if show is not None:
        caps = tuple(show.capabilities or ())
        params = parse_parameters(show.parameters or "")
        details = show.details or details
        info = show.modelinfo or {}
        arch = info.get("general.architecture", "")
        ctx = info.get(f"{arch}.context_length")
        emb = info.get(f"{arch}.embedding_length")
    modified = getattr(entry, "modified_at", None)
    return ModelInfo(
        name=entry.model,
        size=int(entry.size or 0),
        family=(details.family if details else "") or "",
        families=tuple((details.families if details else None) or ()),
        parameter_size=(details.parameter_size if details else "") or "",
        quantization=(details.quantization_level if details else "") or "",
        format=(details.format if details else "") or "",
        digest=entry.digest or "",
        modified_at=modified.isoformat() if modified else "",
        capabilities=caps,
        context_length=int(ctx) if isinstance(ctx, (int, float)) else None,
        embedding_length=int(emb) if isinstance(emb, (int, float)) else None,
        parameters=params,
        model_info=dict(info),
    )


def list_models(
    base_url: str | None = None,
    *,
    client_kwargs: dict | None = None,
    refresh: bool = False,
) -> list[ModelInfo]:
    """The models at `base_url` (default: OLLAMA_HOST), with their capabilities.

    Results are cached for a few seconds per server, so that editors can call this on
    every redraw; `refresh=True` asks the server again. Raises
    `ServerUnavailableError` when nothing answers.
    """
    url = _normalise(base_url)
    key = url + "|" + json.dumps(client_kwargs or {}, sort_keys=True, default=str)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and not refresh and now - hit[0] < _CACHE_SECONDS:
            return list(hit[1])
    client = ollama_client(url, client_kwargs)
    try:
        entries = client.list().models
        records = []
        for entry in entries:
            try:
                show = client.show(entry.model)
            except Exception as exc:
                # A model deleted between the two calls: list it without capabilities.
                if getattr(exc, "status_code", None) != 404:
                    raise
                show = None
            records.append(_info_from(entry, show))
    except Exception as exc:
        raise translate_error(exc, url) from exc
    finally:
        client.close()
    with _cache_lock:
        _cache[key] = (time.monotonic(), records)
    return list(records)


def clear_model_cache() -> None:
    """Forget cached listings (after a pull or delete)."""
    with _cache_lock:
        _cache.clear()


# Reasoning families, best first: what a real Ollama most often has pulled. Other thinking
# models come next; the embedded server's thinking variant of the bundled 135M model last,
# since it shows the protocol only.
_THINKING_PREFERENCE = ("qwen3", "deepseek-r1", "gpt-oss", "magistral")
_PROTOCOL_ONLY = "smollm2:135m-think"


def _thinking_rank(model: ModelInfo) -> tuple[int, int, str]:
    family = len(_THINKING_PREFERENCE)  # other thinking models: after the known ones
    for i, prefix in enumerate(_THINKING_PREFERENCE):
        if model.name.startswith(prefix):
            family = i
            break
    else:
        if model.name.startswith(_PROTOCOL_ONLY):
            family += 1
    return (family, model.size, model.name)


def thinking_model(base_url: str | None = None, *, client_kwargs: dict | None = None) -> str:
    """The name of a model at `base_url` whose `/api/show` capabilities include 'thinking'.

    Prefers qwen3, deepseek-r1, gpt-oss, magistral (in that order; within one, the smallest,
    so tutorials stay quick), then any other thinking model, and the embedded server's
    `smollm2:135m-think` last. Raises `NoThinkingModelError` (a `ModelNotFoundError`)
    when none can think.
    """
    url = _normalise(base_url)
    models = list_models(url, client_kwargs=client_kwargs)
    thinking = [m for m in models if m.supports("thinking")]
    if not thinking:
        raise NoThinkingModelError(url, [m.name for m in models])
    return min(thinking, key=_thinking_rank).name
