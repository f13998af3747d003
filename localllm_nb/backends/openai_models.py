"""Which models an OpenAI-compatible server offers, and what it says they can do.

`/v1/models` itself names models only (`id`, `owned_by`). Some servers say more, and
what they say is used, nothing else: vLLM's entries carry `max_model_len`; llama-server's
carry `meta` (context, parameters, size, quantization) and an Ollama-style list with
`capabilities`, and its `/props` tells the template's abilities (tools), modalities
(vision) and the sampling defaults. A server that reports less shows less.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import SecretStr

from .._api_key import KEY_VARIABLE, PLACEHOLDER
from .discovery import ModelInfo

__all__ = ["clear_cache", "list_openai_models", "openai_model_info"]

_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, list[ModelInfo]]] = {}
_lock = threading.Lock()
# llama-server's /props sampling defaults, under the spec's field names.
_PROPS_DEFAULTS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


def _size_label(n: Any) -> str:
    """A parameter count as Ollama writes it.

    >>> _size_label(134515008), _size_label(7_241_732_096), _size_label(None)
    ('134.52M', '7.24B', '')
    """
    if not isinstance(n, (int, float)) or isinstance(n, bool) or n <= 0:
        return ""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def openai_model_info(
    entry: dict, listed: dict | None = None, props: dict | None = None
) -> ModelInfo:
    """A `/v1/models` entry as a ModelInfo, with llama-server's `models` list entry
    (`listed`) and `/props` when the server gave them."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    caps: list[str] = []
    for cap in (listed or {}).get("capabilities") or ():
        if isinstance(cap, str) and cap and cap not in caps:
            caps.append(cap)
    parameters: dict[str, Any] = {}
    if props:
        template = props.get("chat_template_caps") or {}
        if template.get("supports_tools") and "tools" not in caps:
            caps.append("tools")
        if (props.get("modalities") or {}).get("vision") and "vision" not in caps:
            caps.append("vision")
        params = (props.get("default_generation_settings") or {}).get("params") or {}
        parameters = {k: params[k] for k in _PROPS_DEFAULTS if isinstance(params.get(k), float)}
    context = _int(entry.get("max_model_len")) or _int(meta.get("n_ctx"))
    if props and context is None:
        context = _int((props.get("default_generation_settings") or {}).get("n_ctx"))
    return ModelInfo(
        name=str(entry.get("id", "")),
        size=_int(meta.get("size")) or 0,
        family=str(entry.get("owned_by") or ""),
        parameter_size=_size_label(meta.get("n_params")),
        quantization=str((props or {}).get("model_ftype") or meta.get("ftype") or ""),
        format="gguf" if meta else "",
        capabilities=tuple(caps),
        context_length=context,
        embedding_length=_int(meta.get("n_embd")),
        parameters=parameters,
    )


def _client(base_url: str, api_key: Any) -> Any:
    import os

    import httpx

    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    key = api_key or os.environ.get(KEY_VARIABLE) or PLACEHOLDER
    return httpx.Client(
        base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def _props(client: Any, base_url: str) -> dict | None:
    """llama-server's `/props` (at the root, beside `/v1`), None when there is none."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        reply = client.get(root + "/props")
    except Exception:  # a bonus, not a must: the listing stands without it
        return None
    if reply.status_code != 200:
        return None
    data = reply.json()
    return data if isinstance(data, dict) else None


def list_openai_models(
    base_url: str, *, api_key: str | SecretStr | None = None, refresh: bool = False
) -> list[ModelInfo]:
    """The models at an OpenAI-compatible `base_url` (ending in /v1), with what the server
    reports about them. Cached for a few seconds; raises `ServerUnavailableError` when
    nothing answers and `ServerError` when the server refuses."""
    from ..errors import ServerError, ServerUnavailableError

    key = base_url.rstrip("/")
    with _lock:
        hit = _cache.get(key)
        if hit and not refresh and time.monotonic() - hit[0] < _CACHE_SECONDS:
            return list(hit[1])
    import httpx

    client = _client(base_url, api_key)
    try:
        try:
            reply = client.get(key + "/models")
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnavailableError(base_url, protocol="openai") from exc
        if reply.status_code != 200:
            raise ServerError(
                f"GET /models answered {reply.text[:200]}", base_url, reply.status_code
            )
        body = reply.json()
        entries = [e for e in body.get("data") or [] if isinstance(e, dict)]
        listed = {
            e.get("model") or e.get("name"): e
            for e in body.get("models") or []
            if isinstance(e, dict)
        }
        # /props describes the one model a llama-server serves.
        llama = len(entries) == 1 and entries[0].get("owned_by") == "llamacpp"
        props = _props(client, base_url) if llama else None
    finally:
        client.close()
    records = [openai_model_info(e, listed.get(e.get("id")), props) for e in entries]
    with _lock:
        _cache[key] = (time.monotonic(), records)
    return list(records)


def clear_cache() -> None:
    """Forget cached listings."""
    with _lock:
        _cache.clear()
