"""Build LangChain objects from a ModelSpec; list the models a server offers.

`build_chat`, `build_llm` and `build_embeddings` return the real LangChain classes
(`ChatOllama`, `OllamaLLM`, `OllamaEmbeddings`; `ChatMLX`/`MLXPipeline` for the MLX
backend; `ChatOpenAI`/`OpenAIEmbeddings` for OpenAI-compatible servers). LangChain and MLX load on first use, not when this package is imported.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..spec import ModelSpec
from . import discovery
from .discovery import ModelInfo, thinking_model

__all__ = [
    "ModelInfo",
    "build",
    "build_chat",
    "build_embeddings",
    "build_llm",
    "clear_model_cache",
    "list_models",
    "spec_from_model",
    "thinking_model",
]


def _as_spec(spec: ModelSpec | dict | str, kind: str) -> ModelSpec:
    if isinstance(spec, str):
        return ModelSpec(model=spec, kind=kind)
    if isinstance(spec, dict):
        return ModelSpec.model_validate({"kind": kind, **spec})
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"expected a ModelSpec, a dict or a model name, got {type(spec).__name__}")
    if spec.kind != kind:
        raise SpecError(
            f"kind={spec.kind!r}: this builder makes kind={kind!r} models; use "
            f"build_{'chat' if spec.kind == 'chat' else spec.kind}(spec) or build(spec), "
            f"or spec.replace(kind={kind!r})"
        )
    return spec


def _mlx_builder(name: str):
    try:
        from . import mlx
    except ImportError as exc:
        raise SpecError(
            "backend='mlx': the MLX backend is not installed (pip install 'localllm-nb[mlx]'); "
            f"import failed: {exc}"
        ) from exc
    builder = getattr(mlx, name, None)
    if builder is None:
        raise SpecError(f"backend='mlx': localllm_nb.backends.mlx has no {name}() yet")
    return builder


def _openai_builder() -> Any:
    try:
        from .openai import build_openai
    except ImportError as exc:
        raise SpecError(
            "backend='openai': langchain-openai is not installed "
            f"(pip install 'localllm-nb[openai]'); import failed: {exc}"
        ) from exc
    return build_openai


def list_models(
    base_url: str | None = None,
    *,
    backend: str = "ollama",
    api_key: Any = None,
    client_kwargs: dict | None = None,
    refresh: bool = False,
) -> list[ModelInfo]:
    """The models a server offers, with what it reports they can do.

    `backend='ollama'` (default: OLLAMA_HOST) asks `/api/tags` and `/api/show`;
    `backend='openai'` asks an OpenAI-compatible `base_url` (ending in /v1) for
    `/v1/models`, and llama-server's `/props` when it is one. Cached for a few seconds
    per server; `refresh=True` asks again. Raises `ServerUnavailableError` when nothing
    answers.
    """
    if backend == "openai":
        from .openai_models import list_openai_models

        if not base_url:
            raise SpecError("backend='openai': list_models needs the server's base_url")
        return list_openai_models(base_url, api_key=api_key, refresh=refresh)
    return discovery.list_models(base_url, client_kwargs=client_kwargs, refresh=refresh)


def clear_model_cache() -> None:
    """Forget cached listings (after a pull or delete)."""
    discovery.clear_model_cache()
    import sys

    # Only when it was ever used: clearing must not import langchain-openai's side.
    listing = sys.modules.get(__name__ + ".openai_models")
    if listing is not None:
        listing.clear_cache()


def build_chat(spec: ModelSpec | dict | str) -> Any:
    """A chat model (`ChatOllama`; `ChatMLX` for backend='mlx'; `ChatOpenAI` for
    backend='openai') built from `spec`."""
    spec = _as_spec(spec, "chat")
    if spec.backend == "openai":
        return _openai_builder()(spec)
    if spec.backend == "mlx":
        kwargs = spec.to_kwargs()
        return _mlx_builder("build_mlx_chat")(
            kwargs["model_id"],
            kwargs.get("pipeline_kwargs"),
            kwargs.get("system_message"),
            kwargs.get("logprobs"),
            kwargs.get("top_logprobs"),
        )
    from .ollama import build_ollama

    return build_ollama(spec)


def build_llm(spec: ModelSpec | dict | str) -> Any:
    """A text-completion model (`OllamaLLM`, or `MLXPipeline` for backend='mlx')."""
    spec = _as_spec(spec, "llm")
    if spec.backend == "mlx":
        kwargs = spec.to_kwargs()
        return _mlx_builder("build_mlx_llm")(
            kwargs["model_id"],
            kwargs.get("pipeline_kwargs"),
            kwargs.get("logprobs"),
            kwargs.get("top_logprobs"),
        )
    from .ollama import build_ollama

    return build_ollama(spec)


def build_embeddings(spec: ModelSpec | dict | str) -> Any:
    """An embeddings model (`OllamaEmbeddings`; `OpenAIEmbeddings` for backend='openai')."""
    spec = _as_spec(spec, "embeddings")
    if spec.backend == "openai":
        return _openai_builder()(spec)
    from .ollama import build_ollama

    return build_ollama(spec)


def build(spec: ModelSpec) -> Any:
    """Whatever `spec.kind` names: chat, llm or embeddings."""
    builders = {"chat": build_chat, "llm": build_llm, "embeddings": build_embeddings}
    return builders[spec.kind](spec)


def spec_from_model(model: Any) -> ModelSpec:
    """The ModelSpec describing an Ollama or OpenAI LangChain object (the inverse of the
    builders; an API key is never read back)."""
    if any(c.__module__.startswith("langchain_openai") for c in type(model).__mro__):
        from .openai import spec_from_openai

        return spec_from_openai(model)
    from .ollama import spec_from_ollama

    return spec_from_ollama(model)
