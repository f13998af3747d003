"""What each ModelSpec parameter accepts and means: one record per field.

The same records drive validation (`check_value`) and editors (`ModelSpec.fields(...)`
hands them to the control panel), so a form's bounds, choices and help text can never
drift from what the spec enforces. Ranges and defaults are the LangChain references'
(ChatOllama, OllamaLLM, OllamaEmbeddings, MLXPipeline, ChatOpenAI, OpenAIEmbeddings); `server_default` is what a
particular server does when the field is unset, filled in from its `/api/show`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

EFFORTS = ("none", "minimal", "low", "medium", "high")
GROUPS = ("model", "sampling", "length", "context and memory", "server", "client")


@dataclass(frozen=True)
class SpecField:
    """One parameter as an editor sees it.

    `type` is 'int', 'float', 'bool', 'str', 'choice' (one of `choices`), or a structured
    kind: 'reasoning', 'format', 'stop', 'keep_alive', 'url', 'kwargs', 'effort', 'secret'
    (a key, shown masked and never serialised), 'envvar' (the name of a variable). `lo`/`hi` bound
    numbers (`lo_open` excludes `lo` itself). `default` is the documented default;
    `server_default` what the server in use does when the field is unset (None: not
    reported). Unset fields are None in a spec and left to the server.
    """

    name: str
    type: str
    group: str
    help: str
    allowed: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[Any, ...] = ()
    default: Any = None
    server_default: Any = None

    def with_server_default(self, value: Any) -> SpecField:
        """A copy that records what the server does when this field is unset."""
        return dataclasses.replace(self, server_default=value)


def _f(name, type_, group, help_, allowed, lo=None, hi=None, default=None, **kw) -> SpecField:
    return SpecField(name, type_, group, help_, allowed, lo, hi, default=default, **kw)


# Ollama's duration strings ("5m", "1h30m", "-1", "0") as Go's time.ParseDuration reads them.
_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?\d+$")

_FIELDS = (
    _f("model", "str", "model", "the model to run, e.g. 'smollm2:135m'", "a model name"),
    _f(
        "reasoning",
        "reasoning",
        "model",
        "thinking mode: True returns the reasoning separately, False disables it",
        "True, False, None, or 'low'/'medium'/'high' (chat only)",
        choices=(True, False, "low", "medium", "high"),
    ),
    _f(
        "format",
        "format",
        "model",
        "constrain the output: JSON, or a JSON schema",
        "'' (none), 'json', or a JSON schema object (chat only)",
        choices=("", "json"),
    ),
    _f(
        "logprobs",
        "bool",
        "model",
        "return each generated token's log-probability (a run records them)",
        "True or False",
        default=False,
    ),
    _f(
        "top_logprobs",
        "int",
        "model",
        "how many most likely alternatives to return per token (sets logprobs=True)",
        "an integer in [0, 20] (0 = none)",
        0,
        20,
        0,
    ),
    _f(
        "system_message",
        "str",
        "model",
        "system prompt ChatMLX puts before the messages",
        "a string",
    ),
    _f(
        "temperature",
        "float",
        "sampling",
        "randomness of sampling; higher answers more creatively",
        "a number >= 0 (0 = deterministic, default 0.8)",
        0,
        None,
        0.8,
    ),
    _f(
        "top_k",
        "int",
        "sampling",
        "sample among the k most likely tokens; lower is more conservative",
        "an integer >= 0 (0 = disabled, default 40)",
        0,
        None,
        40,
    ),
    _f(
        "top_p",
        "float",
        "sampling",
        "nucleus sampling; lower is more focused",
        "a number in [0, 1] (default 0.9)",
        0,
        1,
        0.9,
    ),
    _f(
        "seed",
        "int",
        "sampling",
        "random seed; a fixed seed gives the same text for the same prompt",
        "an integer >= -1 (-1 = random)",
        -1,
    ),
    _f(
        "repeat_penalty",
        "float",
        "sampling",
        "how strongly to penalise repetitions",
        "a number >= 0 (1.0 = no penalty, default 1.1)",
        0,
        None,
        1.1,
    ),
    _f(
        "repeat_last_n",
        "int",
        "sampling",
        "how far back to look to prevent repetition",
        "an integer >= -1 (0 = disabled, -1 = num_ctx, default 64)",
        -1,
        None,
        64,
    ),
    _f(
        "mirostat",
        "choice",
        "sampling",
        "Mirostat sampling for controlling perplexity (current Ollama ignores it)",
        "0 (disabled), 1 (Mirostat) or 2 (Mirostat 2.0)",
        0,
        2,
        0,
        choices=(0, 1, 2),
    ),
    _f(
        "mirostat_eta",
        "float",
        "sampling",
        "how quickly Mirostat responds to feedback (learning rate)",
        "a number > 0 (default 0.1)",
        0,
        None,
        0.1,
        lo_open=True,
    ),
    _f(
        "mirostat_tau",
        "float",
        "sampling",
        "balance between coherence (lower) and diversity (higher)",
        "a number > 0 (default 5.0)",
        0,
        None,
        5.0,
        lo_open=True,
    ),
    _f(
        "tfs_z",
        "float",
        "sampling",
        "tail free sampling: higher cuts unlikely tokens more (current Ollama ignores it)",
        "a number >= 1.0 (1.0 disables, default 1)",
        1,
        None,
        1.0,
    ),
    _f(
        "num_predict",
        "int",
        "length",
        "maximum number of tokens to generate",
        "an integer >= 0, or -1 (infinite) or -2 (fill the context)",
        -2,
        None,
        128,
    ),
    _f("stop", "stop", "length", "sequences that end generation", "a list of non-empty strings"),
    _f(
        "num_ctx",
        "int",
        "context and memory",
        "size of the context window in tokens",
        "an integer >= 1 (default 2048)",
        1,
        None,
        2048,
    ),
    _f(
        "keep_alive",
        "keep_alive",
        "context and memory",
        "how long the model stays loaded after the request",
        "seconds as an int (-1 = forever, 0 = unload now) or a duration string such as "
        "'5m', '1h30m'",
        default="5m",
    ),
    _f(
        "num_gpu",
        "int",
        "server",
        "number of GPUs (layers offloaded); 0 disables the GPU",
        "an integer >= -1 (-1 = let the server decide)",
        -1,
    ),
    _f(
        "num_thread",
        "int",
        "server",
        "threads used during computation; best set to physical cores",
        "an integer >= 0 (0 = let the server decide)",
        0,
    ),
    _f(
        "reasoning_effort",
        "effort",
        "model",
        "how hard a reasoning model thinks (OpenAI-compatible servers)",
        "'none', 'minimal', 'low', 'medium' or 'high'",
        choices=EFFORTS,
    ),
    _f(
        "max_tokens",
        "int",
        "length",
        "maximum number of tokens to generate (OpenAI-compatible servers)",
        "an integer >= 1 (unset: the server's limit)",
        1,
    ),
    _f(
        "frequency_penalty",
        "float",
        "sampling",
        "penalise tokens by how often they already appeared",
        "a number in [-2, 2] (default 0)",
        -2,
        2,
        0.0,
    ),
    _f(
        "presence_penalty",
        "float",
        "sampling",
        "penalise tokens that already appeared at all",
        "a number in [-2, 2] (default 0)",
        -2,
        2,
        0.0,
    ),
    _f(
        "dimensions",
        "int",
        "model",
        "length of the returned embeddings, for models that can shorten them",
        "an integer >= 1",
        1,
    ),
    _f(
        "base_url",
        "url",
        "server",
        "where the server is; unset uses OLLAMA_HOST (ollama) or OPENAI_BASE_URL (openai, "
        "which needs the /v1 path, e.g. http://127.0.0.1:8080/v1)",
        "an http(s) URL or host:port, optionally with user:pass@",
    ),
    _f(
        "api_key",
        "secret",
        "server",
        "the server's API key; kept out of code, histories and exports",
        "a string or a pydantic SecretStr (unset: api_key_env, else OPENAI_API_KEY)",
    ),
    _f(
        "api_key_env",
        "envvar",
        "server",
        "the environment variable that holds the API key",
        "a variable name such as 'VLLM_API_KEY' (default OPENAI_API_KEY)",
        default="OPENAI_API_KEY",
    ),
    _f(
        "validate_model_on_init",
        "bool",
        "client",
        "check that the model exists on the server when building",
        "True or False",
        default=False,
    ),
    _f(
        "client_kwargs",
        "kwargs",
        "client",
        "arguments for both httpx clients, e.g. {'headers': {...}}",
        "a JSON-serialisable dict of httpx client arguments",
    ),
    _f(
        "sync_client_kwargs",
        "kwargs",
        "client",
        "arguments for the sync httpx client only",
        "a JSON-serialisable dict of httpx client arguments",
    ),
    _f(
        "async_client_kwargs",
        "kwargs",
        "client",
        "arguments for the async httpx client only",
        "a JSON-serialisable dict of httpx client arguments",
    ),
)
# Every field but `model` (validated by the spec itself), by name, in display order.
FIELD_RULES: dict[str, SpecField] = {f.name: f for f in _FIELDS if f.name != "model"}
MODEL_FIELD = _FIELDS[0]

_MLX_FIELDS = (
    _f(
        "temp",
        "float",
        "sampling",
        "sampling temperature",
        "a number >= 0 (0 = greedy, default 0.0)",
        0,
        None,
        0.0,
    ),
    _f(
        "top_p",
        "float",
        "sampling",
        "nucleus sampling; 1.0 disables",
        "a number in [0, 1] (default 1.0)",
        0,
        1,
        1.0,
    ),
    _f(
        "min_p",
        "float",
        "sampling",
        "drop tokens below min_p times the top probability",
        "a number in [0, 1] (default 0.0)",
        0,
        1,
        0.0,
    ),
    _f(
        "min_tokens_to_keep",
        "int",
        "sampling",
        "tokens min_p sampling always keeps",
        "an integer >= 1 (default 1)",
        1,
        None,
        1,
    ),
    _f(
        "repetition_penalty",
        "float",
        "sampling",
        "penalty for repeated tokens",
        "a number > 0 (1.0 = none)",
        0,
        lo_open=True,
    ),
    _f(
        "repetition_context_size",
        "int",
        "sampling",
        "how many recent tokens the penalty looks at",
        "an integer >= 1 (default 20)",
        1,
        None,
        20,
    ),
    _f(
        "max_tokens",
        "int",
        "length",
        "maximum number of tokens to generate",
        "an integer >= 1 (default 100)",
        1,
        None,
        100,
    ),
)
MLX_RULES: dict[str, SpecField] = {f.name: f for f in _MLX_FIELDS}


def mlx_fields() -> tuple[SpecField, ...]:
    """MLXPipeline's `pipeline_kwargs` as fields named 'pipeline_kwargs.<key>'."""
    return tuple(dataclasses.replace(f, name=f"pipeline_kwargs.{f.name}") for f in _MLX_FIELDS)


def _fail(value: Any, rule: SpecField) -> ValueError:
    return ValueError(f"got {value!r}; allowed: {rule.allowed} ({rule.help})")


def check_value(name: str, value: Any, rule: SpecField) -> Any:
    """Validate and normalise one field value; raise ValueError saying what is allowed."""
    if value is None:
        return None
    check = _CHECKS[rule.type]
    return check(value, rule)


def _number(value: Any, rule: SpecField) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(value, rule)
    given = value
    if rule.type in ("int", "choice"):
        if isinstance(value, float) and not value.is_integer():
            raise _fail(value, rule)
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise _fail(value, rule)
    if rule.lo is not None and (value < rule.lo or (rule.lo_open and value == rule.lo)):
        raise _fail(given, rule)
    if rule.hi is not None and value > rule.hi:
        raise _fail(given, rule)
    return value


def _of_type(kind: type):
    def check(value: Any, rule: SpecField) -> Any:
        if not isinstance(value, kind):
            raise _fail(value, rule)
        return value

    return check


def _reasoning(value: Any, rule: SpecField) -> Any:
    if isinstance(value, bool) or value in ("low", "medium", "high"):
        return value
    raise _fail(value, rule)


def _stop(value: Any, rule: SpecField) -> Any:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _fail(value, rule)
    if not all(isinstance(s, str) and s for s in value):
        raise _fail(value, rule)
    return list(value)


def _format(value: Any, rule: SpecField) -> Any:
    if value in ("", "json"):
        return value
    if (
        isinstance(value, dict)
        and _json_ok(value)
        and ("type" in value or "$ref" in value or "properties" in value)
    ):
        return value
    raise _fail(value, rule)


def _keep_alive(value: Any, rule: SpecField) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DURATION.match(value.strip()):
        return value.strip()
    raise _fail(value, rule)


def _url(value: Any, rule: SpecField) -> Any:
    if not isinstance(value, str) or not _url_ok(value):
        raise _fail(value, rule)
    return value


def _kwargs(value: Any, rule: SpecField) -> Any:
    # Specs travel as JSON (histories, widgets); httpx objects would not survive that.
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _fail(value, rule)
    if not _json_ok(value):
        raise ValueError(
            f"got {value!r}; allowed: {rule.allowed} (build the model yourself to pass "
            "httpx objects such as Timeout or Auth)"
        )
    return value


def _effort(value: Any, rule: SpecField) -> Any:
    if value in EFFORTS:
        return value
    raise _fail(value, rule)


def _secret(value: Any, rule: SpecField) -> Any:
    from pydantic import SecretStr

    if isinstance(value, str) and value.strip():
        return SecretStr(value.strip())
    if isinstance(value, SecretStr) and value.get_secret_value().strip():
        return value
    # Never echo what was given: it may be a key pasted into the wrong box.
    raise ValueError(f"got a {type(value).__name__}; allowed: {rule.allowed}")


def _envvar(value: Any, rule: SpecField) -> Any:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return value
    raise _fail(value, rule)


_CHECKS = {
    "int": _number,
    "float": _number,
    "choice": _number,
    "bool": _of_type(bool),
    "str": _of_type(str),
    "reasoning": _reasoning,
    "stop": _stop,
    "format": _format,
    "keep_alive": _keep_alive,
    "url": _url,
    "kwargs": _kwargs,
    "effort": _effort,
    "secret": _secret,
    "envvar": _envvar,
}


def parse_parameters(text: str) -> dict[str, Any]:
    """Ollama's `/api/show` `parameters` text (`name value` lines) as a dict; repeated
    names (`stop`) become lists.

    >>> parse_parameters('num_ctx                        4096\\nstop "<|im_end|>"\\nstop "x"')
    {'num_ctx': 4096, 'stop': ['<|im_end|>', 'x']}
    """
    out: dict[str, Any] = {}
    for line in (text or "").splitlines():
        name, _, raw = line.strip().partition(" ")
        if not name:
            continue
        raw = raw.strip()
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if name == "stop":
            out.setdefault("stop", []).append(value)
        else:
            out[name] = value
    return out


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _url_ok(value: str) -> bool:
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        return False
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
    else:
        parts = urlsplit("http://" + text)
        if not parts.hostname and not text.startswith(":"):
            return False
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return True
