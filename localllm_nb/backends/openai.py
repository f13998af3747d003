"""The OpenAI-compatible backend: `ChatOpenAI` / `OpenAIEmbeddings` (langchain-openai) for
any `/v1` server (llama-server, vLLM, LM Studio, LiteLLM, Ollama's and the embedded
server's `/v1`), and the translation of the openai client's errors.

Two things ChatOpenAI does not do for such servers, done here: it turns `stream_usage`
off when `base_url` is set (the builder turns it back on: every server named above
sends the usage chunk), and it drops the reasoning text that vLLM (`reasoning_content`),
llama-server and Ollama (`reasoning`) send beside the content (`ChatOpenAICompatible`
keeps it where the run driver reads thinking, as langchain-ollama does).
"""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI

from .._api_key import resolve_api_key
from ..errors import (
    LocalLLMError,
    ModelNotFoundError,
    ServerDiedError,
    ServerError,
    ServerUnavailableError,
    SpecError,
)
from ..spec import ModelSpec

__all__ = [
    "ChatOpenAICompatible",
    "build_openai",
    "reasoning_of",
    "server_url_of",
    "spec_from_openai",
    "translate_openai_error",
]

# Where OpenAI-compatible servers put reasoning text: vLLM and DeepSeek's API use
# `reasoning_content`; llama-server, Ollama and LM Studio `reasoning`.
_REASONING_KEYS = ("reasoning_content", "reasoning")


def reasoning_of(message: Any) -> str:
    """The reasoning text of a chat message or delta (a dict), '' when it has none.

    >>> reasoning_of({"content": "", "reasoning": "Let me see."})
    'Let me see.'
    >>> reasoning_of({"reasoning_content": "vLLM's name"}), reasoning_of({"content": "x"})
    ("vLLM's name", '')
    """
    if not isinstance(message, dict):
        return ""
    for key in _REASONING_KEYS:
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


class ChatOpenAICompatible(ChatOpenAI):
    """`ChatOpenAI` that keeps the reasoning text of OpenAI-compatible servers in
    `additional_kwargs["reasoning_content"]` (streamed and not), and llama-server's
    `timings` in the last chunk's `response_metadata`."""

    def _convert_chunk_to_generation_chunk(
        self, chunk: dict, default_chunk_class: type, base_generation_info: dict | None
    ) -> Any:
        out = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if out is None:
            return None
        choices = chunk.get("choices") or []
        thinking = reasoning_of(choices[0].get("delta")) if choices else ""
        if thinking:
            out.message.additional_kwargs["reasoning_content"] = thinking
        if isinstance(chunk.get("timings"), dict):
            out.message.response_metadata["timings"] = chunk["timings"]
        # The usage chunk (no choices) says nothing of its source otherwise.
        out.message.response_metadata.setdefault("model_provider", "openai")
        return out

    def _create_chat_result(self, response: Any, generation_info: dict | None = None) -> Any:
        result = super()._create_chat_result(response, generation_info)
        data = response if isinstance(response, dict) else response.model_dump()
        for generation, choice in zip(result.generations, data.get("choices") or [], strict=False):
            thinking = reasoning_of(choice.get("message"))
            if thinking:
                generation.message.additional_kwargs["reasoning_content"] = thinking
        return result


def build_openai(spec: ModelSpec) -> Any:
    """`ChatOpenAICompatible` or `OpenAIEmbeddings` for an OpenAI-compatible spec."""
    import httpx

    kwargs = {**spec.to_kwargs(), "api_key": resolve_api_key(spec)}
    if spec.kind == "embeddings":
        from langchain_openai import OpenAIEmbeddings

        # Otherwise the client tokenizes with tiktoken and sends OpenAI's token ids,
        # which mean nothing to another model's vocabulary.
        return OpenAIEmbeddings(**kwargs, check_embedding_ctx_length=False)
    # Our own httpx client, so the run driver can reach the connection's socket to
    # cancel a blocked read (openai's default timeout: 10 minutes, 5 s to connect).
    timeout = httpx.Timeout(600.0, connect=5.0)
    try:
        return ChatOpenAICompatible(
            **kwargs,
            stream_usage=True,
            http_client=httpx.Client(timeout=timeout),
            http_async_client=httpx.AsyncClient(timeout=timeout),
        )
    except Exception as exc:
        raise SpecError(f"ChatOpenAI rejected the spec: {exc}") from exc


def spec_from_openai(model: Any) -> ModelSpec:
    """Read a ChatOpenAI/OpenAIEmbeddings back into a spec: the settings that are set,
    never the key."""
    kind = "embeddings" if hasattr(model, "embed_documents") else "chat"
    # ChatOpenAI names the model `model_name`, OpenAIEmbeddings `model`.
    name = getattr(model, "model_name", None) or model.model
    data: dict[str, Any] = {"backend": "openai", "kind": kind, "model": name}
    if getattr(model, "openai_api_base", None):
        data["base_url"] = model.openai_api_base
    for name in ModelSpec.fields_for("openai", kind):
        if name in ("base_url", "api_key", "api_key_env"):
            continue
        value = getattr(model, name, None)
        if value is not None:
            data[name] = value
    return ModelSpec.model_validate(data)


def server_url_of(model: Any) -> str:
    """The base URL a ChatOpenAI/OpenAIEmbeddings talks to."""
    return str(getattr(model, "openai_api_base", None) or "https://api.openai.com/v1")


def translate_openai_error(
    exc: BaseException, url: str, model: str | None = None, *, streaming_started: bool = False
) -> BaseException:
    """One exception from the openai client as a toolkit error (or as it is)."""
    import httpx
    import openai

    if isinstance(exc, LocalLLMError):
        return exc
    if isinstance(exc, (openai.APIConnectionError, httpx.ConnectError, httpx.ConnectTimeout)):
        cause = exc.__cause__
        if streaming_started or isinstance(cause, httpx.RemoteProtocolError):
            return ServerDiedError(url, type(cause or exc).__name__)
        return ServerUnavailableError(url, protocol="openai")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ServerDiedError(url, type(exc).__name__)
    if isinstance(exc, openai.NotFoundError) and model:
        return ModelNotFoundError(model, url, _model_names(url), protocol="openai")
    if isinstance(exc, openai.APIStatusError):
        return ServerError(_error_text(exc), url, exc.status_code)
    return exc


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(exc)


def _model_names(url: str) -> list[str]:
    from .openai_models import list_openai_models

    try:
        return [m.name for m in list_openai_models(url)]
    except Exception:  # only for the message: a server that cannot list says nothing
        return []
