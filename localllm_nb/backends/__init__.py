"""Build LangChain objects from a ModelSpec; list the models a server offers.

`build_chat`, `build_llm` and `build_embeddings` return the real LangChain classes
(`ChatOllama`, `OllamaLLM`, `OllamaEmbeddings`; `ChatMLX`/`MLXPipeline` for the MLX
backend). LangChain and MLX load on first use, not when this package is imported.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..spec import ModelSpec
from .discovery import ModelInfo, clear_model_cache, list_models, thinking_model

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


def build_chat(spec: ModelSpec | dict | str) -> Any:
    """A chat model (`ChatOllama`, or `ChatMLX` for backend='mlx') built from `spec`."""
    spec = _as_spec(spec, "chat")
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
    """An embeddings model (`OllamaEmbeddings`) built from `spec`."""
    spec = _as_spec(spec, "embeddings")
    from .ollama import build_ollama

    return build_ollama(spec)


def build(spec: ModelSpec) -> Any:
    """Whatever `spec.kind` names: chat, llm or embeddings."""
    builders = {"chat": build_chat, "llm": build_llm, "embeddings": build_embeddings}
    return builders[spec.kind](spec)


def spec_from_model(model: Any) -> ModelSpec:
    """The ModelSpec describing an Ollama LangChain object (the inverse of the builders)."""
    from .ollama import spec_from_ollama

    return spec_from_ollama(model)
