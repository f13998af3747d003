"""Text <-> field values for the control panel's inputs (pure, tested without a kernel).

Numbers and lists are typed as text so that an empty box means "unset: the server
decides", which a numeric input cannot express.
"""

from __future__ import annotations

import json
from typing import Any

from ..fields import SpecField

UNSET = "server default"


def placeholder(field: SpecField) -> str:
    """What an empty input shows: the server's default when known, else the documented one.

    >>> from localllm_nb.fields import FIELD_RULES
    >>> placeholder(FIELD_RULES["num_ctx"].with_server_default(4096))
    'server default (4096; documented 2048)'
    """
    server, documented = field.server_default, field.default
    if server is not None and documented is not None and server != documented:
        return f"{UNSET} ({_show(server)}; documented {_show(documented)})"
    known = field.server_default if field.server_default is not None else field.default
    return f"{UNSET} ({_show(known)})" if known is not None else UNSET


def parse(field: SpecField, text: str) -> Any:
    """The value typed into `field`'s box; None when empty. ValueError says what to type.

    >>> from localllm_nb.fields import FIELD_RULES
    >>> parse(FIELD_RULES["top_k"], " 20 "), parse(FIELD_RULES["stop"], "END, ###")
    (20, ['END', '###'])
    >>> parse(FIELD_RULES["keep_alive"], "300"), parse(FIELD_RULES["keep_alive"], "5m")
    (300, '5m')
    """
    text = text.strip()
    if not text:
        return None
    kind = field.type
    try:
        if kind in ("int", "choice"):
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "stop":
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        if kind in ("kwargs", "format"):
            return json.loads(text)
        if kind == "keep_alive":
            return int(text) if text.lstrip("-").isdigit() else text
    except ValueError:
        raise ValueError(f"{text!r} is not {_expected(kind)}; allowed: {field.allowed}") from None
    return text


def render(field: SpecField, value: Any) -> str:
    """A field's value as the text its box shows ('' when unset).

    >>> from localllm_nb.fields import FIELD_RULES
    >>> render(FIELD_RULES["stop"], ["a", "b"]), render(FIELD_RULES["temperature"], None)
    ('a, b', '')
    """
    if value is None:
        return ""
    if field.type == "stop":
        if any("," in s or s != s.strip() for s in value):
            return json.dumps(value)
        return ", ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=1)
    return str(value)


def _expected(kind: str) -> str:
    return {
        "int": "a whole number",
        "choice": "a whole number",
        "float": "a number",
        "stop": "a list of strings",
        "kwargs": "a JSON object",
        "format": "a JSON schema object",
    }.get(kind, "valid")


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
