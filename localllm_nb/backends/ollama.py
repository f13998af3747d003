"""The Ollama backend: ChatOllama / OllamaLLM / OllamaEmbeddings from a spec, and the
translation of ollama-python's and httpx's exceptions into the toolkit's errors."""

from __future__ import annotations

from typing import Any

from .._host import base_url as _normalise
from ..errors import (
    LocalLLMError,
    ModelNotFoundError,
    ServerDiedError,
    ServerError,
    ServerUnavailableError,
    SpecError,
)
from ..spec import FIELDS_BY_TARGET, ModelSpec

_CLASSES = {"chat": "ChatOllama", "llm": "OllamaLLM", "embeddings": "OllamaEmbeddings"}


def ollama_client(url: str, client_kwargs: dict | None = None) -> Any:
    """An ollama-python `Client` for `url` (userinfo and headers as langchain passes them)."""
    from ollama import Client

    return Client(host=url, **(client_kwargs or {}))


def server_url(model_or_spec: Any) -> str:
    """The base URL a model or spec talks to (OLLAMA_HOST when it names none)."""
    return _normalise(getattr(model_or_spec, "base_url", None))


def build_ollama(spec: ModelSpec) -> Any:
    """The LangChain object for an Ollama spec. With `validate_model_on_init`, a missing
    server or model raises our typed error instead of a bare pydantic error."""
    import langchain_ollama

    if spec.validate_model_on_init:
        check_model(spec)
    cls = getattr(langchain_ollama, _CLASSES[spec.kind])
    try:
        return cls(**spec.to_kwargs())
    except Exception as exc:
        if isinstance(exc, LocalLLMError):
            raise
        translated = translate_error(exc, server_url(spec), spec.model)
        if isinstance(translated, ServerError):
            raise SpecError(f"{spec.target_class} rejected the spec: {exc}") from exc
        raise translated from exc


def check_model(spec: ModelSpec) -> None:
    """Raise ServerUnavailableError / ModelNotFoundError unless the spec's model is served."""
    from .discovery import list_models

    url = server_url(spec)
    names = [m.name for m in list_models(url, client_kwargs=spec.client_kwargs, refresh=True)]
    if not _name_in(spec.model, names):
        raise ModelNotFoundError(spec.model, url, names)


def _name_in(model: str, names: list[str]) -> bool:
    def norm(n: str) -> str:
        n = n.strip().lower()
        return n if ":" in n.rsplit("/", 1)[-1] else n + ":latest"

    return norm(model) in {norm(n) for n in names}


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
            from .discovery import model_names

            return ModelNotFoundError(model, url, model_names(url))
        if exc.status_code == -1 and not text:
            return ServerDiedError(url, "empty error line")
        return ServerError(text, url, exc.status_code)
    # langchain-ollama's validate_model_on_init wraps both cases in ValueError text.
    text = str(exc)
    if "Failed to connect to Ollama" in text:
        return ServerUnavailableError(url)
    if model and "not found in Ollama" in text:
        from .discovery import model_names

        return ModelNotFoundError(model, url, model_names(url))
    return exc


def spec_from_ollama(model: Any) -> ModelSpec:
    """Read a ChatOllama/OllamaLLM/OllamaEmbeddings back into a spec (non-default fields)."""
    kind = {v: k for k, v in _CLASSES.items()}.get(type(model).__name__)
    if kind is None:
        for base in type(model).__mro__:
            kind = {v: k for k, v in _CLASSES.items()}.get(base.__name__)
            if kind:
                break
    if kind is None:
        raise SpecError(f"cannot describe a {type(model).__name__} as a ModelSpec")
    data: dict[str, Any] = {"backend": "ollama", "kind": kind, "model": model.model}
    for name in FIELDS_BY_TARGET[("ollama", kind)]:
        value = getattr(model, name, None)
        # Library defaults ({} kwargs, False validation, OllamaLLM's format='') mean unset.
        if value is None or (value is False and name != "reasoning"):
            continue
        if isinstance(value, dict) and not value:
            continue
        if value == "" and name == "format":
            continue
        data[name] = value
    return ModelSpec.model_validate(data)
