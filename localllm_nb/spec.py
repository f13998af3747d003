"""ModelSpec: one validated, JSON-serialisable description of a model to build.

A spec names the backend (`ollama`, `mlx`, `openai` for any OpenAI-compatible server), the kind (`chat`, `llm`, `embeddings`), the
model and every constructor parameter the LangChain references document. It is plain
data: widgets edit it, `to_kwargs()` feeds the LangChain constructor, `to_code()` prints
the same model as Python source, and run histories store it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import SpecError, SpecProblem
from .fields import FIELD_RULES, MLX_RULES, MODEL_FIELD, SpecField, check_value, mlx_fields

Backend = Literal["ollama", "mlx", "openai"]
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
# OllamaLLM (langchain-ollama 1.1.0) has no logprobs fields and drops the per-chunk ones.
_LOGPROBS = ("logprobs", "top_logprobs")
FIELDS_BY_TARGET: dict[tuple[str, str], tuple[str, ...]] = {
    ("ollama", "chat"): _OLLAMA_SHARED + _OLLAMA_GENERATE + _LOGPROBS,
    ("ollama", "llm"): _OLLAMA_SHARED + _OLLAMA_GENERATE,
    ("ollama", "embeddings"): _OLLAMA_SHARED,
    ("mlx", "chat"): ("pipeline_kwargs", "system_message", *_LOGPROBS),
    ("mlx", "llm"): ("pipeline_kwargs", *_LOGPROBS),
    ("openai", "chat"): (
        "base_url",
        "api_key",
        "api_key_env",
        "reasoning_effort",
        "temperature",
        "top_p",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "max_tokens",
        "stop",
    ),
    ("openai", "embeddings"): ("base_url", "api_key", "api_key_env", "dimensions"),
}
# The class each (backend, kind) builds, for messages.
TARGET_CLASS = {
    ("ollama", "chat"): "ChatOllama",
    ("ollama", "llm"): "OllamaLLM",
    ("ollama", "embeddings"): "OllamaEmbeddings",
    ("mlx", "chat"): "ChatMLX",
    ("mlx", "llm"): "MLXPipeline",
    ("openai", "chat"): "ChatOpenAI",
    ("openai", "embeddings"): "OpenAIEmbeddings",
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
    logprobs: bool | None = None
    top_logprobs: int | None = None
    keep_alive: int | str | None = None
    base_url: str | None = None
    client_kwargs: dict[str, Any] | None = None
    sync_client_kwargs: dict[str, Any] | None = None
    async_client_kwargs: dict[str, Any] | None = None

    # --- OpenAI-compatible servers (ChatOpenAI / OpenAIEmbeddings) ---
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    dimensions: int | None = None
    # Never serialised: JSON dumps (histories, widget state, snapshots) leave it out.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    api_key_env: str | None = None

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

    @model_validator(mode="before")
    @classmethod
    def _alternatives_need_logprobs(cls, data: Any) -> Any:
        # As ChatOllama does: asking for alternatives turns logprobs on.
        if isinstance(data, dict) and data.get("top_logprobs") and data.get("logprobs") is None:
            data = {**data, "logprobs": True}
        return data

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
            kinds = ", ".join(k for b, k in FIELDS_BY_TARGET if b == self.backend)
            _field_error(
                "kind",
                f"kind={self.kind!r} is not available for backend={self.backend!r}; "
                f"allowed kinds: {kinds}",
            )
        allowed = FIELDS_BY_TARGET[target]
        for name in self.set_params():
            if name not in allowed:
                _field_error(
                    name,
                    f"{name} is not a parameter of {TARGET_CLASS[target]} "
                    f"(backend={self.backend!r}, kind={self.kind!r}); allowed: {', '.join(allowed)}",
                )
        for name, message in _kind_conflicts(self.kind, self.set_params()):
            _field_error(name, message)
        if self.top_logprobs and self.logprobs is False:
            _field_error(
                "top_logprobs",
                f"top_logprobs={self.top_logprobs} needs logprobs=True (or unset), "
                "not logprobs=False",
            )
        return self

    # --- views -----------------------------------------------------------------------

    def set_params(self) -> dict[str, Any]:
        """The constructor parameters that are set (not None), besides backend/kind/model.
        An `api_key` is there as the SecretStr it is (masked when printed)."""
        data = self.model_dump(exclude_none=True)
        for key in ("backend", "kind", "model"):
            data.pop(key, None)
        if self.api_key is not None:
            data["api_key"] = self.api_key
        return data

    @property
    def target_class(self) -> str:
        """Name of the LangChain class this spec builds, e.g. 'ChatOllama'."""
        return TARGET_CLASS[(self.backend, self.kind)]

    def to_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the constructor this spec targets, only what is set.

        Ollama kinds: the `ChatOllama`/`OllamaLLM`/`OllamaEmbeddings` keywords.
        MLX kinds: `model_id`, `pipeline_kwargs`, `logprobs` and `top_logprobs` for
        `MLXPipeline.from_model_id`, plus `system_message` for `ChatMLX` (chat).
        `top_logprobs=0` (no alternatives) is left out for ChatOllama, which takes only
        a positive number and means the same when it is unset.
        OpenAI kinds: the `ChatOpenAI`/`OpenAIEmbeddings` keywords without the key
        (`api_key`, `api_key_env`), which the builder resolves.
        """
        params = self.set_params()
        if self.backend == "openai":
            params.pop("api_key", None)
            params.pop("api_key_env", None)
        if self.backend == "mlx":
            kwargs: dict[str, Any] = {"model_id": self.model}
            kwargs.update(params)
            return kwargs
        if params.get("top_logprobs") == 0:
            del params["top_logprobs"]
        return {"model": self.model, **params}

    def to_code(self, variable: str = "model", redact: bool = False) -> str:
        """Python source that builds the same model with the LangChain class itself.

        `redact=True` replaces credentials (base_url userinfo, auth headers) by '***'.
        """
        from ._spec_code import spec_to_code

        target = self.redacted() if redact else self
        if self.api_key is not None:
            # Code never prints a key (it asks for one): keep the fact that there is one.
            target = target.model_copy(update={"api_key": self.api_key})
        return spec_to_code(target, variable)

    def redacted(self) -> ModelSpec:
        """A copy without credentials: userinfo in base_url, auth-like client kwargs and
        the API key (`api_key_env` stays: it names a variable, it holds no key)."""
        from .errors import safe_url

        changes: dict[str, Any] = {"api_key": None} if self.api_key is not None else {}
        if self.base_url:
            changes["base_url"] = safe_url(self.base_url)
        for name in ("client_kwargs", "sync_client_kwargs", "async_client_kwargs"):
            value = getattr(self, name)
            if value:
                changes[name] = _redact_mapping(value)
        return self.model_copy(update=changes) if changes else self

    def replace(self, **changes: Any) -> ModelSpec:
        """A validated copy with `changes` applied (None unsets a parameter).

        Names may be dotted, as `fields()` names MLX settings:
        `spec.replace(**{"pipeline_kwargs.temp": 0.5})`.
        """
        data = self.model_dump(exclude_none=True)
        if self.api_key is not None:  # excluded from dumps, kept by copies
            data["api_key"] = self.api_key
        for name, value in changes.items():
            head, _, key = name.partition(".")
            if key:
                inner = {**(data.get(head) or {}), key: value}
                data[head] = {k: v for k, v in inner.items() if v is not None} or None
            else:
                data[name] = value
        return ModelSpec.model_validate({k: v for k, v in data.items() if v is not None})

    def get(self, name: str) -> Any:
        """A field's value by name, dotted names included ('pipeline_kwargs.temp')."""
        head, _, key = name.partition(".")
        value = getattr(self, head)
        return getattr(value, key) if key and value is not None else (None if key else value)

    @classmethod
    def fields_for(cls, backend: str = "ollama", kind: str = "chat") -> tuple[str, ...]:
        """The parameter names a (backend, kind) accepts (top-level names)."""
        return FIELDS_BY_TARGET[(backend, kind)]

    @classmethod
    def fields(
        cls,
        backend: str = "ollama",
        kind: str = "chat",
        server_defaults: dict[str, Any] | None = None,
    ) -> tuple[SpecField, ...]:
        """Every field that applies to `backend` and `kind`, as editors read them: name,
        type, bounds, choices, documented default, help, group (`fields.GROUPS`).

        `server_defaults` (e.g. `ModelInfo.parameters` from `list_models()`) fills each
        field's `server_default`: what that server does when the field is unset.

        >>> [f.name for f in ModelSpec.fields("mlx", "llm")][:4]
        ['model', 'logprobs', 'top_logprobs', 'pipeline_kwargs.temp']
        """
        if (backend, kind) not in FIELDS_BY_TARGET:
            raise SpecError(f"no fields for backend={backend!r}, kind={kind!r}")
        names = FIELDS_BY_TARGET[(backend, kind)]
        out = [MODEL_FIELD, *(rule for rule in FIELD_RULES.values() if rule.name in names)]
        if "pipeline_kwargs" in names:
            out.extend(mlx_fields())
        defaults = server_defaults or {}
        return tuple(
            f.with_server_default(defaults[f.name]) if f.name in defaults else f for f in out
        )

    def retarget(self, backend: str | None = None, kind: str | None = None) -> Retargeted:
        """This spec for another backend and/or kind: what applies is kept, equivalent MLX
        and Ollama settings are carried across (temperature <-> temp, num_predict <->
        max_tokens, ...), the rest is dropped and listed in `dropped`.

        >>> new = ModelSpec(model="m", temperature=0.2, mirostat=1).retarget(backend="mlx")
        >>> new.spec.pipeline_kwargs.temp, new.dropped
        (0.2, {'mirostat': 1})
        """
        backend = backend or self.backend
        kind = kind or self.kind
        if (backend, kind) not in FIELDS_BY_TARGET:
            raise SpecError(
                f"kind={kind!r} is not available for backend={backend!r}",
                [
                    SpecProblem(
                        "kind",
                        kind,
                        "chat, llm or embeddings (mlx: chat, llm; openai: chat, embeddings)",
                        "",
                    )
                ],
            )
        return _retarget(self, backend, kind)


class Retargeted(NamedTuple):
    """`ModelSpec.retarget`'s answer: the new spec and the settings it could not keep."""

    spec: ModelSpec
    dropped: dict[str, Any]


# One setting under each backend's name (None: that backend has no equivalent).
_EQUIVALENT = (
    {"ollama": "temperature", "mlx": "pipeline_kwargs.temp", "openai": "temperature"},
    {"ollama": "top_p", "mlx": "pipeline_kwargs.top_p", "openai": "top_p"},
    {"ollama": "num_predict", "mlx": "pipeline_kwargs.max_tokens", "openai": "max_tokens"},
    {"ollama": "repeat_penalty", "mlx": "pipeline_kwargs.repetition_penalty", "openai": None},
    {"ollama": "repeat_last_n", "mlx": "pipeline_kwargs.repetition_context_size", "openai": None},
)
# Same name, different meaning across backends: Ollama's base_url is the server's root,
# an OpenAI-compatible one ends in /v1; a key belongs to one server.
_NOT_CARRIED = ("base_url", "api_key", "api_key_env", "client_kwargs")


def _rename(name: str, source: str, target: str) -> str:
    for row in _EQUIVALENT:
        if row[source] == name:
            return row[target] or f"{source}:{name}"
    if source != target and name.split(".")[0] in _NOT_CARRIED:
        return f"{source}:{name}"
    return name


def _retarget(spec: ModelSpec, backend: str, kind: str) -> Retargeted:
    allowed = FIELDS_BY_TARGET[(backend, kind)]
    flat = dict(spec.set_params())
    for key, value in (flat.pop("pipeline_kwargs", None) or {}).items():
        flat[f"pipeline_kwargs.{key}"] = value
    # New name -> (original name, value): what is dropped is reported as the user set it.
    params = {_rename(name, spec.backend, backend): (name, v) for name, v in flat.items()}
    keep: dict[str, Any] = {}
    dropped: dict[str, Any] = {}
    for name, (original, value) in params.items():
        head, _, key = name.partition(".")
        rule = MLX_RULES.get(key) if key else FIELD_RULES.get(name)
        try:
            if head not in allowed or rule is None:
                raise ValueError(name)
            keep[name] = check_value(name, value, rule)
        except ValueError:  # no equivalent, or none for this value (num_predict=-1)
            dropped[original] = value
    for name, _ in _kind_conflicts(kind, keep):
        dropped[params[name][0]] = keep.pop(name)
    base = ModelSpec(backend=backend, kind=kind, model=spec.model)
    return Retargeted(base.replace(**keep) if keep else base, dropped)


def _kind_conflicts(kind: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """Values a field accepts in general but not for this kind: (field, message)."""
    out = []
    reasoning, fmt, keep_alive = (values.get(k) for k in ("reasoning", "format", "keep_alive"))
    if kind == "llm" and isinstance(reasoning, str):
        out.append(
            (
                "reasoning",
                f"reasoning={reasoning!r}: OllamaLLM accepts only True, False or None; "
                "effort levels ('low', 'medium', 'high') are for ChatOllama (kind='chat')",
            )
        )
    if kind == "llm" and isinstance(fmt, dict):
        out.append(
            (
                "format",
                "format: OllamaLLM accepts only '' or 'json'; a JSON schema is for "
                "ChatOllama (kind='chat')",
            )
        )
    if kind == "embeddings" and isinstance(keep_alive, str):
        out.append(
            (
                "keep_alive",
                f"keep_alive={keep_alive!r}: OllamaEmbeddings takes whole seconds "
                "(an int), not a duration string",
            )
        )
    return out


def _field_error(name: str, message: str) -> None:
    # A custom error type keeps the field's name, which a model-level check cannot put
    # in the error's location.
    raise PydanticCustomError("spec_field", "{message}", {"field": name, "message": message})


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
        inner = _inner_spec_error(exc)
        if inner is not None:
            raise inner from None
        problems = _problems(exc)
        raise SpecError(
            "Invalid ModelSpec: " + "; ".join(p.message for p in problems), problems
        ) from None


def _inner_spec_error(exc: ValidationError) -> SpecError | None:
    """The SpecError an overridden `__init__` raised inside pydantic's own validation
    (model_validate runs through `__init__`), so it is not wrapped a second time."""
    for err in exc.errors(include_url=False):
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, SpecError):
            return inner
    return None


def _problems(exc: ValidationError) -> list[SpecProblem]:
    """One SpecProblem per invalid field: field, value given, what is allowed, message."""
    problems: dict[str, SpecProblem] = {}
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "spec_field":
            loc, given = ctx["field"], None
            msg, allowed = ctx["message"], ""
        else:
            loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
            # Union members add their type names to the location; keep the field path only.
            loc = re.sub(
                r"\.(bool|int|str|float|dict\[.*|list\[.*|literal\[.*|function-.*)$", "", loc
            )
            given = err["input"]
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field; ModelSpec forbids fields the references do not document"
            rule = _rule_for(loc)
            allowed = rule.allowed if rule else ""
            if err["type"] != "value_error":
                msg += f" (got {given!r})" + (f"; allowed: {allowed}" if allowed else "")
        where = f"{loc}: " if loc else ""
        # Union types repeat one problem per member; say each field once.
        problems.setdefault(loc, SpecProblem(loc, given, allowed, where + msg))
    return list(problems.values())


def _rule_for(loc: str) -> SpecField | None:
    head, _, key = loc.partition(".")
    if head == "pipeline_kwargs" and key:
        return MLX_RULES.get(key)
    return FIELD_RULES.get(head)
