"""Pure pieces of Ollama's wire protocol: request checks, timestamps, error texts."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from .errors import ApiError
from .go_json import check, json_kind, loads

OLLAMA_VERSION = "0.12.10"
THINK_LEVELS = ("high", "medium", "low")


def now_iso() -> str:
    """RFC 3339 UTC with fractional seconds, as Ollama writes `created_at`."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_body(raw: bytes, request=None) -> dict:
    """Decode a JSON request body, failing the way Ollama's binder fails; `request` is
    the route's Go struct (`request_types`), whose field types are checked.

    >>> parse_body(b"")
    Traceback (most recent call last):
    ...
    localllm_nb.embedded.api.errors.ApiError: missing request body
    """
    if not raw.strip():
        raise ApiError(400, "missing request body")
    body = loads(raw)
    if request is not None:
        check(body, request)
    elif not isinstance(body, dict):
        kind = json_kind(body)
        raise ApiError(400, f"json: cannot unmarshal {kind} into Go value of type api.Request")
    return body


def field(body: dict, name: str, kinds: tuple[type, ...], go_type: str, default=None):
    """Read an optional field, rejecting a wrong JSON type like Go's decoder."""
    value = body.get(name, default)
    if value is None or isinstance(value, kinds):
        return default if value is None else value
    got = json_kind(value)
    raise ApiError(
        400, f"json: cannot unmarshal {got} into Go struct field .{name} of type {go_type}"
    )


def require_model(body: dict) -> str:
    name = field(body, "model", (str,), "string", "")
    if not name.strip():
        raise ApiError(400, "model is required")
    return name


def check_format(fmt):
    """Return None (no constraint), "json", or a JSON-schema dict.

    >>> check_format(""), check_format("json"), check_format({"type": "object"})
    (None, 'json', {'type': 'object'})
    """
    if fmt is None or fmt == "" or fmt == "null":
        return None
    if fmt == "json":
        return "json"
    if isinstance(fmt, dict):
        return fmt
    shown = json.dumps(fmt)
    raise ApiError(400, f'invalid format: {shown}; expected "json" or a valid JSON Schema')


def check_think(think):
    """Return None, True, False or a level string; reject anything else as Ollama does.

    >>> check_think("low"), check_think(True), check_think(None)
    ('low', True, None)
    """
    if think is None or isinstance(think, bool):
        return think
    if isinstance(think, str):
        if think in THINK_LEVELS:
            return think
        raise ApiError(
            400,
            f'invalid think value: "{think}" (must be "high", "medium", "low", true, or false)',
        )
    raise ApiError(
        400, 'think must be a boolean or string ("high", "medium", "low", true, or false)'
    )


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    r"""Go's `%q` (strconv.Quote) of a string.

    >>> print(go_quote('a"b\x00'))
    "a\"b\x00"
    """
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


def ndjson(obj: dict) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
