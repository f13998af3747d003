"""Text-stream rules shared by the embedded server and the MLX backend: holding back text
that may be the start of a marker (a stop string, a tag), and reading a tool call's
arguments. A leaf module (standard library only)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def held_back(text: str, markers: Iterable[str]) -> int:
    """Length of the longest tail of `text` that is a proper prefix of a marker: what
    must wait for the next piece before it can be passed on.

    >>> held_back("Hello </", ["</s>"]), held_back("Hello", ["</s>"]), held_back("<", ["<a>", "<b>"])
    (2, 0, 1)
    """
    hold = 0
    for marker in markers:
        for k in range(min(len(marker) - 1, len(text)), hold, -1):
            if text.endswith(marker[:k]):
                hold = k
                break
    return hold


class HoldBack:
    """Finds the first of some markers in text that arrives in pieces.

    `feed(text)` returns the text that is certainly not part of a marker and keeps back
    any tail that could still grow into one; once a marker is found, `match` names it,
    `after` holds what followed it, and `feed` returns nothing more.

    >>> h = HoldBack(["</s>"])
    >>> h.feed("Hello </"), h.match, h.feed("s> more"), h.match, h.after
    ('Hello ', None, '', '</s>', ' more')
    >>> h = HoldBack(["STOP"])
    >>> h.feed("ST"), h.flush()
    ('', 'ST')
    """

    def __init__(self, markers: Iterable[str]):
        self.markers = [m for m in markers if m]
        self.held = ""
        self.match: str | None = None
        self.after = ""  # text that followed the marker (the rest of its piece and later)

    def feed(self, text: str) -> str:
        """Add streamed text; return what can be passed on now."""
        if self.match is not None:
            self.after += text
            return ""
        buf = self.held + text
        hits = [(buf.find(m), m) for m in self.markers if m in buf]
        if hits:
            pos, self.match = min(hits)
            self.after, self.held = buf[pos + len(self.match) :], ""
            return buf[:pos]
        keep = held_back(buf, self.markers)
        self.held = buf[len(buf) - keep :]
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        """End of stream: release what was held back."""
        held, self.held = self.held, ""
        return held


def tool_call_parts(item: Any) -> tuple[str, dict] | None:
    """A tool call object's name and arguments, or None when it is not a call: it needs a
    string `name`, and `arguments` (or `parameters`) that are a JSON object, given as one
    or as a string holding one. A model's malformed call is then its text, not a call.

    >>> tool_call_parts({"name": "f", "arguments": '{"x": 1}'})
    ('f', {'x': 1})
    >>> tool_call_parts({"name": "f"}), tool_call_parts({"name": "f", "arguments": "x=1"})
    (('f', {}), None)
    >>> tool_call_parts({"arguments": {}}), tool_call_parts({"name": "f", "parameters": [1]})
    (None, None)
    """
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    args = item.get("arguments", item.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return item["name"], args
