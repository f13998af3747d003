"""Talking to an Ollama server: the ollama-python client, the URL a model uses, and the
translation of ollama-python's and httpx's exceptions into the toolkit's errors.

A leaf of the backends package: discovery and the builders import it, it imports neither.
"""

from __future__ import annotations

from typing import Any

from .._host import base_url as _normalise
from ..errors import (
    LocalLLMError,
    ModelNotFoundError,
    ServerDiedError,
    ServerError,
    ServerUnavailableError,
)


def ollama_client(url: str, client_kwargs: dict | None = None) -> Any:
    """An ollama-python `Client` for `url` (userinfo and headers as langchain passes them)."""
    from ollama import Client

    return Client(host=url, **(client_kwargs or {}))


def server_url(model_or_spec: Any) -> str:
    """The base URL a model or spec talks to (OLLAMA_HOST when it names none)."""
    return _normalise(getattr(model_or_spec, "base_url", None))


def model_names(url: str, client_kwargs: dict | None = None) -> list[str]:
    """The server's model names, [] when it cannot be asked (for error messages)."""
    try:
        client = ollama_client(url, client_kwargs)
        try:
            return [m.model for m in client.list().models]
        finally:
            client.close()
    except Exception:
        return []


def translate_error(
    exc: BaseException, url: str, model: str | None = None, *, streaming_started: bool = False
) -> BaseException:
    """Map one exception from ollama-python/httpx to a toolkit error (or return it as is).

    ollama-python raises the builtin ConnectionError from non-streaming calls but a raw
    `httpx.ConnectError` from streaming ones (everything ChatOllama does): both mean no
    server answers. A transport error once bytes have arrived means the server died.
    """
    import httpx
    import ollama

    if isinstance(exc, LocalLLMError):
        return exc
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or (
        isinstance(exc, ConnectionError) and "Failed to connect" in str(exc)
    ):
        return ServerUnavailableError(url)
    if isinstance(
        exc,
        (
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
            ConnectionResetError,
            BrokenPipeError,
        ),
    ):
        if streaming_started or isinstance(exc, httpx.RemoteProtocolError):
            return ServerDiedError(url, type(exc).__name__)
        return ServerUnavailableError(url)
    if isinstance(exc, ollama.ResponseError):
        text = str(exc.error)
        if exc.status_code == 404 and "not found" in text and model:
            return ModelNotFoundError(model, url, model_names(url))
        if exc.status_code == -1 and not text:
            return ServerDiedError(url, "empty error line")
        return ServerError(text, url, exc.status_code)
    # langchain-ollama's validate_model_on_init wraps both cases in ValueError text.
    text = str(exc)
    if "Failed to connect to Ollama" in text:
        return ServerUnavailableError(url)
    if model and "not found in Ollama" in text:
        return ModelNotFoundError(model, url, model_names(url))
    return exc
