"""ModelSpec: one validated, JSON-serialisable description of a model to build.

A spec names the backend (`ollama`, `mlx`), the kind (`chat`, `llm`, `embeddings`), the
model and every constructor parameter the LangChain references document. It is plain
data: widgets edit it, `to_kwargs()` feeds the LangChain constructor, `to_code()` prints
the same model as Python source, and run histories store it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from ._spec_rules import FIELD_RULES, MLX_RULES, check_value
from .errors import SpecError

Backend = Literal["ollama", "mlx"]
Kind = Literal["chat", "llm", "embeddings"]

# Which fields each (backend, kind) accepts, as the references document them.
_OLLAMA_SHARED = (
    "validate_model_on_init",
    "base_url",
    "client_kwargs",
    "sync_client_kwargs",
    "async_client_kwargs",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_thread",
    "keep_alive",
    "repeat_last_n",
    "repeat_penalty",
    "temperature",
    "stop",
    "tfs_z",
    "top_k",
    "top_p",
)
_OLLAMA_GENERATE = ("reasoning", "num_predict", "seed", "format")
FIELDS_BY_TARGET: dict[tuple[str, str], tuple[str, ...]] = {
    ("ollama", "chat"): _OLLAMA_SHARED + _OLLAMA_GENERATE,
    ("ollama", "llm"): _OLLAMA_SHARED + _OLLAMA_GENERATE,
    ("ollama", "embeddings"): _OLLAMA_SHARED,
    ("mlx", "chat"): ("pipeline_kwargs", "system_message"),
    ("mlx", "llm"): ("pipeline_kwargs",),
}
# The class each (backend, kind) builds, for messages.
TARGET_CLASS = {
    ("ollama", "chat"): "ChatOllama",
    ("ollama", "llm"): "OllamaLLM",
    ("ollama", "embeddings"): "OllamaEmbeddings",
    ("mlx", "chat"): "ChatMLX",
    ("mlx", "llm"): "MLXPipeline",
}
_SECRET_KEY = re.compile(r"auth|token|key|secret|password|cookie|credential", re.IGNORECASE)


class MLXPipelineKwargs(BaseModel):
    """MLXPipeline's `pipeline_kwargs`: sampling settings for mlx-lm's generate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temp: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    min_tokens_to_keep: int | None = None
    repetition_penalty: float | None = None
    repetition_context_size: int | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _ranges(cls, value: Any, info) -> Any:
        return check_value(f"pipeline_kwargs.{info.field_name}", value, MLX_RULES[info.field_name])


class ModelSpec(BaseModel):
    """What to build: backend, kind, model and the constructor parameters that are set.

    Unset parameters are None and left to the library's and server's defaults. Fields
    that the chosen backend/kind does not document are rejected, so a spec always
    builds. Invalid values raise `SpecError` naming the field, the value and what is
    allowed. Specs are immutable; `replace(**changes)` returns a validated copy.

    >>> ModelSpec(model="smollm2:135m", temperature=0).to_kwargs()
    {'model': 'smollm2:135m', 'temperature': 0.0}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = "ollama"
    kind: Kind = "chat"
    model: str

    # --- Ollama (ChatOllama / OllamaLLM / OllamaEmbeddings) ---
    reasoning: bool | Literal["low", "medium", "high"] | None = None
    validate_model_on_init: bool | None = None
    mirostat: int | None = None
    mirostat_eta: float | None = None
    mirostat_tau: float | None = None
    num_ctx: int | None = None
    num_gpu: int | None = None
    num_thread: int | None = None
    num_predict: int | None = None
    repeat_last_n: int | None = None
    repeat_penalty: float | None = None
    temperature: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    tfs_z: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    format: Literal["", "json"] | dict[str, Any] | None = None
    keep_alive: int | str | None = None
    base_url: str | None = None
    client_kwargs: dict[str, Any] | None = None
    sync_client_kwargs: dict[str, Any] | None = None
    async_client_kwargs: dict[str, Any] | None = None

    # --- MLX (MLXPipeline / ChatMLX) ---
    pipeline_kwargs: MLXPipelineKwargs | None = None
    system_message: str | None = None

    # Errors come out as SpecError with our wording, whichever way a spec is made.
    def __init__(self, **data: Any) -> None:
        with _spec_errors():
            super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> ModelSpec:
        with _spec_errors():
            return super().model_validate(obj, *args, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> ModelSpec:
        with _spec_errors():
            return super().model_validate_json(json_data, *args, **kwargs)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(
                f"got {value!r}; must be a model name (e.g. 'smollm2:135m') or an MLX path/id"
            )
        return value

    @field_validator(*FIELD_RULES, mode="before")
    @classmethod
    def _ranges(cls, value: Any, info) -> Any:
        return check_value(info.field_name, value, FIELD_RULES[info.field_name])

    @model_validator(mode="after")
    def _fits_target(self) -> ModelSpec:
        target = (self.backend, self.kind)
        if target not in FIELDS_BY_TARGET:
            raise ValueError(
                f"kind={self.kind!r} is not available for backend={self.backend!r}; "
                f"allowed kinds: {', '.join(k for b, k in FIELDS_BY_TARGET if b == self.backend)}"
            )
        allowed = FIELDS_BY_TARGET[target]
        for name in self.set_params():
            if name not in allowed:
                raise ValueError(
                    f"{name} is not a parameter of {TARGET_CLASS[target]} "
                    f"(backend={self.backend!r}, kind={self.kind!r}); allowed: {', '.join(allowed)}"
                )
        if self.kind == "llm" and isinstance(self.reasoning, str):
            raise ValueError(
                f"reasoning={self.reasoning!r}: OllamaLLM accepts only True, False or None; "
                "effort levels ('low', 'medium', 'high') are for ChatOllama (kind='chat')"
            )
        if self.kind == "llm" and isinstance(self.format, dict):
            raise ValueError(
                "format: OllamaLLM accepts only '' or 'json'; a JSON schema is for "
                "ChatOllama (kind='chat')"
            )
        if self.kind == "embeddings" and isinstance(self.keep_alive, str):
            raise ValueError(
                f"keep_alive={self.keep_alive!r}: OllamaEmbeddings takes whole seconds "
                "(an int), not a duration string"
            )
        return self

    # --- views -----------------------------------------------------------------------

    def set_params(self) -> dict[str, Any]:
        """The constructor parameters that are set (not None), besides backend/kind/model."""
        data = self.model_dump(exclude_none=True)
        for key in ("backend", "kind", "model"):
            data.pop(key, None)
        return data

    @property
    def target_class(self) -> str:
        """Name of the LangChain class this spec builds, e.g. 'ChatOllama'."""
        return TARGET_CLASS[(self.backend, self.kind)]

    def to_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the constructor this spec targets, only what is set.

        Ollama kinds: the `ChatOllama`/`OllamaLLM`/`OllamaEmbeddings` keywords.
        MLX kinds: `model_id` and `pipeline_kwargs` for `MLXPipeline.from_model_id`,
        plus `system_message` for `ChatMLX` (chat).
        """
        params = self.set_params()
        if self.backend == "mlx":
            kwargs: dict[str, Any] = {"model_id": self.model}
            kwargs.update(params)
            return kwargs
        return {"model": self.model, **params}

    def to_code(self, variable: str = "model", redact: bool = False) -> str:
        """Python source that builds the same model with the LangChain class itself.

        `redact=True` replaces credentials (base_url userinfo, auth headers) by '***'.
        """
        from ._spec_code import spec_to_code

        return spec_to_code(self.redacted() if redact else self, variable)

    def redacted(self) -> ModelSpec:
        """A copy without credentials: userinfo in base_url and auth-like client kwargs."""
        from .errors import safe_url

        changes: dict[str, Any] = {}
        if self.base_url:
            changes["base_url"] = safe_url(self.base_url)
        for name in ("client_kwargs", "sync_client_kwargs", "async_client_kwargs"):
            value = getattr(self, name)
            if value:
                changes[name] = _redact_mapping(value)
        return self.model_copy(update=changes) if changes else self

    def replace(self, **changes: Any) -> ModelSpec:
        """A validated copy with `changes` applied (None unsets a parameter)."""
        data = self.model_dump(exclude_none=True)
        data.update(changes)
        return ModelSpec.model_validate({k: v for k, v in data.items() if v is not None})

    @classmethod
    def fields_for(cls, backend: str = "ollama", kind: str = "chat") -> tuple[str, ...]:
        """The parameter names a (backend, kind) accepts, for editors such as widgets."""
        return FIELDS_BY_TARGET[(backend, kind)]


def _redact_mapping(value: Any) -> Any:
    """Replace values under auth-like keys (Authorization, api keys, cookies, auth)."""
    if isinstance(value, dict):
        return {
            k: "***" if _SECRET_KEY.search(str(k)) else _redact_mapping(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_mapping(v) for v in value]
    return value


@contextmanager
def _spec_errors() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        raise SpecError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """One line per problem: field, value given, what is allowed."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        # Union members add their type names to the location; keep the field path only.
        loc = re.sub(r"\.(bool|int|str|float|dict\[.*|list\[.*|literal\[.*|function-.*)$", "", loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field; ModelSpec forbids fields the references do not document"
        given = f" (got {err['input']!r})" if err["type"] != "value_error" else ""
        rule = FIELD_RULES.get(loc.split(".")[0])
        hint = f"; allowed: {rule.allowed}" if rule and err["type"] != "value_error" else ""
        where = f"{loc}: " if loc else ""
        lines.append(f"{where}{msg}{given}{hint}")
    # Union types repeat one problem per member; say each once.
    unique = list(dict.fromkeys(lines))
    return "Invalid ModelSpec: " + "; ".join(unique)
