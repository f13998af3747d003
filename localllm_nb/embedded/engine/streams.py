"""Pure text-stream processing: splitting model output into content, thinking and tool
calls the way Ollama's parsers do. Text arrives in arbitrary pieces,
so every marker may be split across pieces: partial matches are held back."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field

from ..._stream_text import held_back, tool_call_parts

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
TOOL_OPEN, TOOL_CLOSE = "<tool_call>", "</tool_call>"


@dataclass
class Delta:
    """What one piece of model output adds to the message."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.content or self.thinking or self.tool_calls)


def tool_call_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "call_" + "".join(secrets.choice(alphabet) for _ in range(8))


def parse_tool_calls(body: str) -> list[dict] | None:
    """Parse the JSON inside `<tool_call>...</tool_call>`: one call object or a list.

    >>> parse_tool_calls('{"name": "f", "arguments": {"x": 1}}')[0]["function"]["arguments"]
    {'x': 1}
    >>> parse_tool_calls("not json") is None
    True
    """
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None
    items = data if isinstance(data, list) else [data]
    calls = [tool_call_parts(item) for item in items]
    if not calls or None in calls:
        return None
    calls = [{"name": name, "arguments": args} for name, args in calls]
    return [{"id": tool_call_id(), "function": {"index": i, **c}} for i, c in enumerate(calls)]


class OutputParser:
    """Split streamed model text into thinking, content and tool calls.

    With `thinking`, output starts inside a think block (the template opened it) and
    runs until `</think>`. With `tools`, `<tool_call>` blocks become tool calls, each
    emitted whole. Content never contains the markers.

    >>> OutputParser().feed(" <b>x</b>")  # without thinking or tools: untouched
    Delta(content=' <b>x</b>', thinking='', tool_calls=[])
    >>> p = OutputParser(thinking=True)
    >>> [p.feed(x) for x in ("Hmm.</th", "ink>\\n\\nHi")][1]
    Delta(content='Hi', thinking='', tool_calls=[])

    A thinking model asked not to think (`think: false`) loses what it writes in a think
    block of its own, and a bare tag never reaches content:

    >>> p = OutputParser(thinking=False, think_tags=True)
    >>> "".join(p.feed(x).content for x in ("12 <thi", "nk>\\nwhy</think> is it.", " = 30\\n</think>"))
    '12 is it. = 30'
    """

    def __init__(
        self,
        thinking: bool = False,
        tools: bool = False,
        think_tags: bool | None = None,
        hidden: bool = False,
    ):
        # `hidden`: output starts inside a think block that is dropped (a continued turn
        # left one open, with thinking off).
        self.mode = "hidden" if hidden else "thinking" if thinking else "content"
        self.thinking = thinking
        self.tools = tools
        # Models that can think never show think tags in content, even with thinking off.
        self.think_tags = thinking if think_tags is None else think_tags
        self.buffer = ""
        # After a think block or a tool call, blank lines before the answer are dropped;
        # a plain model's output passes through untouched.
        self.content_started = not (thinking or tools)
        self.thinking_started = False
        self.calls = 0

    def _markers(self) -> list[str]:
        if self.mode in ("thinking", "hidden"):
            return [THINK_CLOSE]
        if self.mode == "tool":
            return [TOOL_CLOSE]
        return [TOOL_OPEN] * self.tools + [THINK_OPEN, THINK_CLOSE] * self.think_tags

    def feed(self, text: str) -> Delta:
        self.buffer += text
        delta = Delta()
        while True:
            markers = self._markers()
            hits = [(self.buffer.find(m), m) for m in markers]
            hits = [(i, m) for i, m in hits if i >= 0]
            if not hits:
                break
            i, marker = min(hits)
            before, self.buffer = self.buffer[:i], self.buffer[i + len(marker) :]
            if marker == THINK_CLOSE:
                before = before.rstrip()
            self._take(before, delta)
            if marker == THINK_CLOSE:
                if self.mode != "content":  # a bare </think> in content is only dropped
                    self.buffer = self.buffer.lstrip()
                    self.content_started = False  # and the space after the block too
                self.mode = "content"
            elif marker == THINK_OPEN and not self.thinking:
                # Thinking is off (think: false) but the model opened a block anyway: what
                # it writes there is dropped, as Ollama's thinking parser does.
                self.mode = "hidden"
            elif marker == TOOL_OPEN:
                self.mode = "tool"
            elif marker == TOOL_CLOSE:
                self._finish_call(before, delta)
                self.mode = "content"
                self.content_started = False  # drop the newlines between calls
            # Content never carries think tags: with thinking on, a stray <think> is dropped.
        if self.mode != "tool":
            cut = len(self.buffer) - held_back(self.buffer, self._markers())
            if self.mode == "thinking" or (self.mode == "content" and self.think_tags):
                # Whitespace before a think tag belongs to neither part: hold it until
                # text follows.
                cut = len(self.buffer[:cut].rstrip())
            self._take(self.buffer[:cut], delta)
            self.buffer = self.buffer[cut:]
        return delta

    def _take(self, text: str, delta: Delta) -> None:
        if self.mode == "thinking":
            if not self.thinking_started:
                text = text.lstrip("\n")  # the newline after the template's <think>
                self.thinking_started = bool(text)
            delta.thinking += text
        elif self.mode == "content":
            if not self.content_started:
                text = text.lstrip()  # the space a template leaves before the answer
                self.content_started = bool(text)
            delta.content += text

    def _finish_call(self, body: str, delta: Delta, closed: bool = True) -> None:
        calls = parse_tool_calls(body.strip())
        if calls is None:  # not a call after all (or cut short): keep the text as written
            delta.content += TOOL_OPEN + body + TOOL_CLOSE * closed
            return
        for call in calls:
            call["function"]["index"] = self.calls
            self.calls += 1
        delta.tool_calls.extend(calls)

    def finish(self) -> Delta:
        """End of output: an unclosed tool call is parsed if it is whole JSON (also when
        the budget cut the closing tag); a call cut inside its JSON stays the text the
        model wrote.

        >>> p = OutputParser(tools=True)
        >>> p.feed('<tool_call>\\n{"name": "f", "arguments": {}}\\n</tool_').tool_calls
        []
        >>> p.finish().tool_calls[0]["function"]["name"]
        'f'
        """
        delta = Delta()
        rest, self.buffer = self.buffer, ""
        if self.mode == "tool":
            # Cut inside the closing tag: the call itself is whole.
            body = rest[: len(rest) - held_back(rest, [TOOL_CLOSE])]
            whole = parse_tool_calls(body.strip()) is not None
            self._finish_call(body if whole else rest, delta, closed=False)
        else:
            self._take(rest, delta)
        if self.calls:
            delta.content = delta.content.rstrip()
        return delta
