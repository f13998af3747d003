"""The Ollama backend: ChatOllama / OllamaLLM / OllamaEmbeddings from a spec, and a spec
read back from such an object."""

from __future__ import annotations

from typing import Any

from ..errors import LocalLLMError, ModelNotFoundError, ServerError, SpecError
from ..spec import FIELDS_BY_TARGET, ModelSpec
from ._client import ollama_client, server_url, translate_error
from .discovery import list_models

__all__ = ["build_ollama", "check_model", "ollama_client", "server_url", "spec_from_ollama"]

_CLASSES = {"chat": "ChatOllama", "llm": "OllamaLLM", "embeddings": "OllamaEmbeddings"}


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
    url = server_url(spec)
    names = [m.name for m in list_models(url, client_kwargs=spec.client_kwargs, refresh=True)]
    if not _name_in(spec.model, names):
        raise ModelNotFoundError(spec.model, url, names)


def _name_in(model: str, names: list[str]) -> bool:
    def norm(n: str) -> str:
        n = n.strip().lower()
        return n if ":" in n.rsplit("/", 1)[-1] else n + ":latest"

    return norm(model) in {norm(n) for n in names}


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
