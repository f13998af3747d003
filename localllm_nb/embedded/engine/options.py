"""Ollama's runtime options: type checking as Ollama does it, defaults, and the
mapping onto llama.cpp's sampler."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

# Tokens per prompt batch of a generating instance. llama-server checks for a cancelled
# request only between batches, and a batch in flight always finishes: with its default
# (512 here, as pooling sets n_batch to n_ubatch) a client that left could hold the model
# for seconds more at the end of a long prompt. Measured on one core, a 1,500-token
# prompt costs the same CPU time in batches of 64 as of 512 (~10 s); batches of 32 cost
# 50% more.
PROMPT_BATCH = 64

# Ollama's known option keys with their Go types. Unknown keys are ignored, as Ollama does.
_INT = "integer"
_FLOAT = "float"
_BOOL = "boolean"
_STRINGS = "array"
_STRING = "string"
OPTION_TYPES: dict[str, str] = {
    "num_keep": _INT,
    "seed": _INT,
    "num_predict": _INT,
    "top_k": _INT,
    "top_p": _FLOAT,
    "min_p": _FLOAT,
    "typical_p": _FLOAT,
    "repeat_last_n": _INT,
    "temperature": _FLOAT,
    "repeat_penalty": _FLOAT,
    "presence_penalty": _FLOAT,
    "frequency_penalty": _FLOAT,
    "stop": _STRINGS,
    "num_ctx": _INT,
    "num_batch": _INT,
    "num_gpu": _INT,
    "main_gpu": _INT,
    "use_mmap": _BOOL,
    "num_thread": _INT,
    # localllm_nb extensions (real Ollama ignores unknown keys): the thinking budget in
    # tokens, and "auto" to let the model decide whether to call an offered tool.
    "think_budget": _INT,
    "tool_choice": _STRING,
}

# Without a num_predict, a 135M model can ramble until the context is full; this caps it.
DEFAULT_PREDICT_CAP = int(os.environ.get("LOCALLLM_NB_NUM_PREDICT_CAP", "512"))


class OptionError(ValueError):
    """An option value of the wrong type, worded as Ollama words it."""


@dataclass
class Options:
    """Effective options of one request (Ollama's defaults where unset)."""

    num_keep: int = 4
    seed: int = -1
    num_predict: int = -1
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_last_n: int = 64
    temperature: float = 0.8
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: list[str] = field(default_factory=list)
    num_ctx: int = 4096
    num_batch: int = 512
    num_gpu: int = -1
    main_gpu: int = 0
    use_mmap: bool = True
    num_thread: int = 0
    think_budget: int = 0
    tool_choice: str = "required"

    def penalty_window(self) -> int:
        """How many recent tokens the repeat penalties look at: Ollama's -1 is the whole
        context (llama-server refuses a negative window).

        >>> Options(repeat_last_n=-1, num_ctx=2048).penalty_window(), Options().penalty_window()
        (2048, 64)
        """
        return self.num_ctx if self.repeat_last_n == -1 else self.repeat_last_n

    def predict_limit(self) -> int:
        """How many tokens this request may generate at most (before the context runs out)."""
        return self.num_predict if self.num_predict >= 0 else DEFAULT_PREDICT_CAP


def server_defaults() -> dict:
    """What this server does with options a request leaves unset, for `/api/show`'s
    `parameters` (clients show them as "server default"): Ollama's sampling defaults,
    plus the context size and the generation cap that differ from Ollama's, and the
    prompt batch (it decides how much a batch costs in memory, and greedy text can differ
    with it)."""
    base = Options()
    names = ("num_ctx", "temperature", "top_k", "top_p", "repeat_penalty", "repeat_last_n")
    return {
        "num_predict": DEFAULT_PREDICT_CAP,
        **{k: getattr(base, k) for k in names},
        "num_batch": PROMPT_BATCH,
    }


def _check(key: str, value):
    kind = OPTION_TYPES[key]
    if kind == _INT:
        # JSON numbers arrive as int or float; Go truncates floats into int fields.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionError(f'option "{key}" must be of type integer')
        return int(value)
    if kind == _FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionError(f'option "{key}" must be of type float32')
        return float(value)
    if kind == _STRING:
        if not isinstance(value, str):
            raise OptionError(f'option "{key}" must be of type string')
        return value
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise OptionError(f'option "{key}" must be of type boolean')
        return value
    if not isinstance(value, list):
        raise OptionError(f'option "{key}" must be of type array')
    if not all(isinstance(v, str) for v in value):
        raise OptionError(f'option "{key}" must be of an array of strings')
    return list(value)


def parse_options(raw, model_defaults: dict | None = None) -> Options:
    """Merge model defaults and request options into `Options`.

    >>> parse_options({"top_k": 5, "mirostat": 1, "seed": None}).top_k
    5
    >>> parse_options({"top_k": "5"})
    Traceback (most recent call last):
    ...
    localllm_nb.embedded.engine.options.OptionError: option "top_k" must be of type integer
    >>> parse_options({"repeat_last_n": -2})
    Traceback (most recent call last):
    ...
    localllm_nb.embedded.engine.options.OptionError: option "repeat_last_n" must be -1 (the whole context) or more
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise OptionError("options must be an object")
    opts = Options()
    names = {f.name for f in fields(Options)}
    for source in (model_defaults or {}, raw):
        for key, value in source.items():
            if key not in OPTION_TYPES or value is None:
                continue
            if key in names:
                setattr(opts, key, _check(key, value))
    if opts.repeat_last_n < -1:
        raise OptionError('option "repeat_last_n" must be -1 (the whole context) or more')
    return opts
