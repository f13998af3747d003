"""Request bodies decoded the way Ollama's Go server decodes them, with its error texts.

Go's encoding/json rejects `NaN` and `Infinity`, replaces invalid UTF-8 and lone
surrogates with U+FFFD, and reports a value of the wrong type as
`json: cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>`.
The request types below mirror Ollama's `api` structs (v0.12) for the fields we read.
"""

from __future__ import annotations

import json
import math
import re

from .errors import ApiError

_INT64 = (-(2**63), 2**63 - 1)


class GoNumber(float):
    """A JSON number that was not an integer literal; keeps its text for error messages."""

    text: str

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.text = text
        return number


def _reject_constant(name: str):
    if name == "-Infinity":
        raise ApiError(400, "invalid character 'I' in numeric literal")
    raise ApiError(400, f"invalid character '{name[0]}' looking for beginning of value")


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _fix_surrogates(value):
    """Replace lone surrogates (left by `\\ud800` escapes) with U+FFFD, as Go does."""
    stack = [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in list(pairs):
            if isinstance(child, str):
                if _SURROGATE.search(child):
                    item[key] = _SURROGATE.sub("\ufffd", child)
            elif isinstance(child, (dict, list)):
                stack.append(child)
            if isinstance(key, str) and _SURROGATE.search(key):
                item[_SURROGATE.sub("\ufffd", key)] = item.pop(key)
    return value


def _deep_char(text: str, depth: int) -> str:
    """The bracket that opens nesting level `depth` (strings skipped)."""
    level, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            if level >= depth:
                return char
        elif char in "]}":
            level -= 1
    return "["


def loads(raw: bytes):
    """Parse a request body; syntax errors are ApiError(400) in Go's words."""
    text = raw.decode("utf-8", "replace")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=GoNumber)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise ApiError(400, "unexpected EOF") from None
        char = text[exc.pos]
        if exc.msg == "Extra data":
            raise ApiError(400, f"invalid character '{char}' after top-level value") from None
        raise ApiError(400, f"invalid character '{char}' looking for beginning of value") from None
    except RecursionError:
        # Go allows 10,000 levels, Python's parser about 1,000: deeper bodies are refused.
        char = _deep_char(text, 900)
        raise ApiError(400, f"invalid character '{char}' exceeded max depth") from None
    if isinstance(value, (dict, list)) and _SURROGATE_ESCAPE.search(raw):
        _fix_surrogates(value)
    return value


# --- Go types ----------------------------------------------------------------------------


def json_kind(value) -> str:
    """How Go's UnmarshalTypeError names a JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _TypeError(Exception):
    def __init__(self, kind: str, go_type: str, struct: str = "", path: str = ""):
        self.kind, self.go_type, self.struct, self.path = kind, go_type, struct, path

    def message(self) -> str:
        where = f"Go struct field {self.struct}.{self.path}" if self.struct else "Go value"
        return f"json: cannot unmarshal {self.kind} into {where} of type {self.go_type}"


class _Abort(Exception):
    """An error Go returns at once (a custom unmarshaler's), ending the decode."""

    def __init__(self, error):
        self.error = error


class Basic:
    def __init__(self, go_type: str, kinds: tuple):
        self.go_type, self.kinds = go_type, kinds

    def check(self, value, errors):
        if not isinstance(value, self.kinds) or (bool not in self.kinds and _is_bool(value)):
            errors.append(_TypeError(json_kind(value), self.go_type))


def _is_bool(value) -> bool:
    return isinstance(value, bool)


class Int:
    go_type = "int"

    def check(self, value, errors):
        if _is_bool(value) or not isinstance(value, (int, float)):
            errors.append(_TypeError(json_kind(value), self.go_type))
        elif isinstance(value, GoNumber) or not (_INT64[0] <= value <= _INT64[1]):
            text = value.text if isinstance(value, GoNumber) else str(value)
            errors.append(_TypeError(f"number {text}", self.go_type))


class Any:
    go_type = "interface {}"

    def check(self, value, errors):
        return None


class Map:
    def __init__(self, go_type: str = "map[string]interface {}"):
        self.go_type = go_type

    def check(self, value, errors):
        if not isinstance(value, dict):
            errors.append(_TypeError(json_kind(value), self.go_type))


class Bytes:
    """Go's []byte: a base64 string."""

    go_type = "api.ImageData"
    _ALPHABET = re.compile(r"[^A-Za-z0-9+/=\r\n]")

    def check(self, value, errors):
        if not isinstance(value, str):
            errors.append(_TypeError(json_kind(value), self.go_type))
            return
        bad = self._ALPHABET.search(value)
        data = value.replace("\r", "").replace("\n", "")
        pad = data.find("=")
        if bad:
            at = bad.start()
        elif pad >= 0 and (pad < len(data) - 2 or data[pad:] not in ("=", "==")):
            at = pad
        elif len(data) % 4:
            at = len(data) - len(data) % 4
        else:
            return
        errors.append(_Saved(f"illegal base64 data at input byte {at}"))


class _Saved(Exception):
    """A non-type error Go saves and reports (e.g. bad base64)."""

    def __init__(self, text: str):
        self.text = text


class Slice:
    def __init__(self, elem, go_type: str):
        self.elem, self.go_type = elem, go_type

    def check(self, value, errors):
        if not isinstance(value, list):
            errors.append(_TypeError(json_kind(value), self.go_type))
            return
        for item in value:
            if item is not None:
                self.elem.check(item, errors)


class Custom:
    """A field with its own UnmarshalJSON: `parse(value)` raises ApiError, which ends
    the decode at once (Go returns a custom unmarshaler's error immediately)."""

    def __init__(self, parse):
        self.parse = parse

    def check(self, value, errors):
        try:
            self.parse(value)
        except ApiError as exc:
            raise _Abort(exc) from None


class Struct:
    """A Go struct. `own_decoder` marks one with its own UnmarshalJSON that decodes an
    alias (Ollama's api.Message): its errors take the enclosing struct's name."""

    def __init__(self, name: str, fields: dict, go_type: str = "", own_decoder: bool = False):
        self.name, self.fields, self.own_decoder = name, fields, own_decoder
        self.go_type = go_type or f"api.{name}"

    def check(self, value, errors):
        if not isinstance(value, dict):
            go_type = "api.Alias" if self.own_decoder else self.go_type
            errors.append(_TypeError(json_kind(value), go_type))
            if self.own_decoder:
                raise _Abort(errors.pop())
            return
        inner: list = []
        for key, child in value.items():
            kind = self.fields.get(key)
            if kind is None or child is None:
                continue
            found: list = []
            try:
                kind.check(child, found)
            except _Abort as stop:
                if isinstance(stop.error, _TypeError):
                    _place(stop.error, "Alias" if self.own_decoder else self.name, key)
                raise
            for error in found:
                if isinstance(error, _TypeError):
                    _place(error, "Alias" if self.own_decoder else self.name, key)
            inner.extend(found)
        if inner and self.own_decoder:
            raise _Abort(inner[0])
        errors.extend(inner)


def _place(error: _TypeError, struct: str, key: str) -> None:
    """Go's addErrorContext: the innermost struct's name, the JSON path from the top."""
    if not error.struct:
        error.struct = struct
    error.path = f"{key}.{error.path}" if error.path else key


def check(body, request: Struct) -> None:
    """Raise ApiError(400) for the first error Go's decoder would report on `body`."""
    errors: list = []
    try:
        if not isinstance(body, dict):
            raise ApiError(
                400,
                f"json: cannot unmarshal {json_kind(body)} into Go value of type api.{request.name}",
            )
        request.check(body, errors)
    except _Abort as stop:
        errors = [stop.error]
        if isinstance(stop.error, _TypeError):
            stop.error.struct = request.name  # the outer decoder's context wins
    if not errors:
        return
    error = errors[0]
    if isinstance(error, ApiError):
        raise error
    if isinstance(error, _Saved):
        raise ApiError(400, error.text)
    if error.struct == "Alias":
        error.struct = request.name
    raise ApiError(400, error.message())


# --- Go durations (api.Duration) -----------------------------------------------------------

_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")
FOREVER = math.inf


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds; an overflow is Go's invalid-duration error.

    >>> parse_duration("1h30m"), parse_duration("-1s"), parse_duration("0")
    (5400.0, -1.0, 0.0)
    >>> parse_duration("300")
    Traceback (most recent call last):
    ...
    localllm_nb.embedded.api.errors.ApiError: time: missing unit in duration "300"
    """
    quoted = json.dumps(text, ensure_ascii=False)
    invalid = ApiError(400, f"time: invalid duration {quoted}")
    body = text
    sign = 1
    if body[:1] in ("-", "+"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise invalid
    total = 0.0
    pos = 0
    while pos < len(body):
        m = _PART.match(body, pos)
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise invalid
        if not unit:
            raise ApiError(400, f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ApiError(400, f"time: unknown unit {json.dumps(unit)} in duration {quoted}")
        total += float(f"{whole or 0}.{frac or 0}") * _UNITS[unit]
        pos = m.end()
    if total > _INT64[1]:
        raise invalid
    return sign * total / 1e9


def keep_alive_seconds(value) -> float:
    """Ollama's api.Duration for `keep_alive`: seconds to stay loaded, `FOREVER` for a
    negative value or one past Go's ~292-year maximum; None is the 5-minute default."""
    if value is None:
        return 300.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        go = {bool: "bool", dict: "map[string]interface {}", list: "[]interface {}"}
        raise ApiError(400, f"Unsupported type: '{go.get(type(value), 'interface {}')}'")
    seconds = parse_duration(value) if isinstance(value, str) else float(value)
    if seconds < 0 or seconds * 1e9 > _INT64[1]:
        return FOREVER
    return seconds
