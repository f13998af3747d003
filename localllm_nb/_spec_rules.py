"""Allowed values and meanings of each ModelSpec field, from the LangChain references.

Kept apart from `spec.py` so that editors (widgets) can read the same ranges and
meanings that validation enforces.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Rule:
    """One field's type, range and documented meaning."""

    type: str  # int | float | bool | stop | format | keep_alive | reasoning | url | kwargs | str
    allowed: str
    meaning: str = ""
    lo: float | None = None
    hi: float | None = None
    default: Any = None  # the documented default, for editors; None means "not set"


# Ollama's duration strings ("5m", "1h30m", "-1", "0") as Go's time.ParseDuration reads them.
_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?\d+$")

FIELD_RULES: dict[str, Rule] = {
    "reasoning": Rule(
        "reasoning",
        "True, False, None, or 'low'/'medium'/'high' (chat only)",
        "thinking mode: True returns the reasoning separately, False disables it",
    ),
    "validate_model_on_init": Rule(
        "bool", "True or False", "check that the model exists on the server when building"
    ),
    "mirostat": Rule(
        "int",
        "0 (disabled), 1 (Mirostat) or 2 (Mirostat 2.0)",
        "Mirostat sampling for controlling perplexity",
        0,
        2,
        0,
    ),
    "mirostat_eta": Rule(
        "float",
        "a number > 0 (default 0.1)",
        "how quickly Mirostat responds to feedback (learning rate)",
        0,
        None,
        0.1,
    ),
    "mirostat_tau": Rule(
        "float",
        "a number > 0 (default 5.0)",
        "balance between coherence (lower) and diversity (higher)",
        0,
        None,
        5.0,
    ),
    "num_ctx": Rule(
        "int",
        "an integer >= 1 (default 2048)",
        "size of the context window in tokens",
        1,
        None,
        2048,
    ),
    "num_gpu": Rule(
        "int",
        "an integer >= -1 (-1 = let the server decide)",
        "number of GPUs (layers offloaded); 0 disables the GPU",
        -1,
        None,
    ),
    "num_thread": Rule(
        "int",
        "an integer >= 0 (0 = let the server decide)",
        "threads used during computation; best set to physical cores",
        0,
        None,
    ),
    "num_predict": Rule(
        "int",
        "an integer >= 0, or -1 (infinite) or -2 (fill the context)",
        "maximum number of tokens to generate (default 128)",
        -2,
        None,
        128,
    ),
    "repeat_last_n": Rule(
        "int",
        "an integer >= -1 (0 = disabled, -1 = num_ctx)",
        "how far back to look to prevent repetition (default 64)",
        -1,
        None,
        64,
    ),
    "repeat_penalty": Rule(
        "float",
        "a number >= 0 (1.0 = no penalty, default 1.1)",
        "how strongly to penalise repetitions",
        0,
        None,
        1.1,
    ),
    "temperature": Rule(
        "float",
        "a number >= 0 (0 = deterministic, default 0.8)",
        "randomness of sampling; higher answers more creatively",
        0,
        None,
        0.8,
    ),
    "seed": Rule(
        "int",
        "an integer >= -1 (-1 = random)",
        "random seed; a fixed seed gives the same text for the same prompt",
        -1,
        None,
    ),
    "stop": Rule("stop", "a list of non-empty strings", "sequences that end generation"),
    "tfs_z": Rule(
        "float",
        "a number >= 1.0 (1.0 disables, default 1)",
        "tail free sampling: higher values cut unlikely tokens more",
        1,
        None,
        1.0,
    ),
    "top_k": Rule(
        "int",
        "an integer >= 0 (0 = disabled, default 40)",
        "sample among the k most likely tokens; lower is more conservative",
        0,
        None,
        40,
    ),
    "top_p": Rule(
        "float",
        "a number in [0, 1] (default 0.9)",
        "nucleus sampling; lower is more focused",
        0,
        1,
        0.9,
    ),
    "format": Rule(
        "format",
        "'' (none), 'json', or a JSON schema object (chat only)",
        "constrain the output format",
    ),
    "keep_alive": Rule(
        "keep_alive",
        "seconds as an int (-1 = forever, 0 = unload now) or a "
        "duration string such as '5m', '1h30m'",
        "how long the model stays loaded after the request (default 5m)",
    ),
    "base_url": Rule(
        "url",
        "an http(s) URL or host:port, optionally with user:pass@",
        "where the Ollama server is; None uses OLLAMA_HOST",
    ),
    "client_kwargs": Rule(
        "kwargs",
        "a JSON-serialisable dict of httpx client arguments",
        "arguments for both httpx clients, e.g. {'headers': {...}}",
    ),
    "sync_client_kwargs": Rule(
        "kwargs",
        "a JSON-serialisable dict of httpx client arguments",
        "arguments for the sync httpx client only",
    ),
    "async_client_kwargs": Rule(
        "kwargs",
        "a JSON-serialisable dict of httpx client arguments",
        "arguments for the async httpx client only",
    ),
    "system_message": Rule("str", "a string", "system prompt ChatMLX puts before the messages"),
}

MLX_RULES: dict[str, Rule] = {
    "temp": Rule(
        "float", "a number >= 0 (0 = greedy, default 0.0)", "sampling temperature", 0, None, 0.0
    ),
    "max_tokens": Rule(
        "int", "an integer >= 1 (default 100)", "maximum number of tokens to generate", 1, None, 100
    ),
    "top_p": Rule(
        "float", "a number in [0, 1] (default 1.0)", "nucleus sampling; 1.0 disables", 0, 1, 1.0
    ),
    "min_p": Rule(
        "float",
        "a number in [0, 1] (default 0.0)",
        "drop tokens below min_p times the top probability",
        0,
        1,
        0.0,
    ),
    "min_tokens_to_keep": Rule(
        "int", "an integer >= 1 (default 1)", "tokens min_p sampling always keeps", 1, None, 1
    ),
    "repetition_penalty": Rule(
        "float", "a number > 0 (1.0 = none)", "penalty for repeated tokens", 0, None
    ),
    "repetition_context_size": Rule(
        "int",
        "an integer >= 1 (default 20)",
        "how many recent tokens the penalty looks at",
        1,
        None,
        20,
    ),
}


def _fail(value: Any, rule: Rule) -> ValueError:
    return ValueError(f"got {value!r}; allowed: {rule.allowed} ({rule.meaning})")


def check_value(name: str, value: Any, rule: Rule) -> Any:
    """Validate and normalise one field value; raise ValueError saying what is allowed."""
    if value is None:
        return None
    kind = rule.type
    given = value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(value, rule)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise _fail(value, rule)
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise _fail(value, rule)
        strict_lo = name.endswith(("mirostat_eta", "mirostat_tau", "repetition_penalty"))
        if rule.lo is not None and (value < rule.lo or (strict_lo and value == rule.lo)):
            raise _fail(given, rule)
        if rule.hi is not None and value > rule.hi:
            raise _fail(given, rule)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(value, rule)
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise _fail(value, rule)
        return value
    if kind == "reasoning":
        if isinstance(value, bool) or value in ("low", "medium", "high"):
            return value
        raise _fail(value, rule)
    if kind == "stop":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise _fail(value, rule)
        if not all(isinstance(s, str) and s for s in value):
            raise _fail(value, rule)
        return list(value)
    if kind == "format":
        if value in ("", "json"):
            return value
        if (
            isinstance(value, dict)
            and _json_ok(value)
            and ("type" in value or "$ref" in value or "properties" in value)
        ):
            return value
        raise _fail(value, rule)
    if kind == "keep_alive":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _DURATION.match(value.strip()):
            return value.strip()
        raise _fail(value, rule)
    if kind == "url":
        if not isinstance(value, str) or not _url_ok(value):
            raise _fail(value, rule)
        return value
    if kind == "kwargs":
        # Specs travel as JSON (histories, widgets); httpx objects would not survive that.
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _fail(value, rule)
        if not _json_ok(value):
            raise ValueError(
                f"got {value!r}; allowed: {rule.allowed} (build the model yourself to pass "
                "httpx objects such as Timeout or Auth)"
            )
        return value
    raise AssertionError(f"unknown rule type {kind}")  # pragma: no cover


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
