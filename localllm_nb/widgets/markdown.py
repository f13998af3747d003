"""The Markdown subset the live views render, as safe HTML for saved snapshots.

The same rules as `markdown()` in the views' front end, so a saved notebook shows the
answer as the live view did: fenced code (an unterminated fence is closed), inline code,
bold, italic, headings and lists. Everything the model wrote is escaped first and the
only markup added is a fixed set of tags without attributes, so model text can never
inject markup, links or scripts (links are not rendered at all).
"""

from __future__ import annotations

import re

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_FENCE = re.compile(r"^```", re.MULTILINE)
_FENCE_LINE = re.compile(r"^```[^\n]*\n?", re.MULTILINE)
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_CODE_MARK = re.compile(r"\x00(\d+)\x00")
# ***both***, **bold**, *italic*: an opening star is never followed by a space.
_EMPHASIS = (
    (re.compile(r"\*\*\*(?=[^*\s])([^*]+?)\*\*\*"), "<em><strong>{}</strong></em>"),
    (re.compile(r"\*\*(?=[^*\s])(.+?)\*\*"), "<strong>{}</strong>"),
    (re.compile(r"\*(?=[^*\s])([^*]+?)\*"), "<em>{}</em>"),
)


def escape_html(text: str) -> str:
    """Escape the five characters that matter in HTML text and attributes.

    >>> escape_html('<a href="x">\\'&\\'</a>')
    '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;'
    """
    return re.sub(r"[&<>\"']", lambda m: _ESCAPES[m.group()], text)


def inline_html(text: str) -> str:
    """One line: code spans cut out first (their text stays literal), then each emphasis
    level wraps whole pieces whose inside is handled apart, so tags always nest.

    >>> inline_html("use `x<1` and **bold** or *this*")
    'use <code>x&lt;1</code> and <strong>bold</strong> or <em>this</em>'
    >>> inline_html("**a *b** c*")
    '<strong>a *b</strong> c*'
    """
    codes: list[str] = []

    def cut(match: re.Match) -> str:
        codes.append(match.group(1))
        return f"\x00{len(codes) - 1}\x00"

    marked = _CODE.sub(cut, text.replace("\x00", "\ufffd"))
    out = _emphasis(escape_html(marked))
    return _CODE_MARK.sub(lambda m: f"<code>{escape_html(codes[int(m.group(1))])}</code>", out)


def _emphasis(text: str, level: int = 0) -> str:
    if level == len(_EMPHASIS):
        return text
    pattern, wrap = _EMPHASIS[level]
    return "".join(
        wrap.format(_emphasis(piece, level + 1)) if i % 2 else _emphasis(piece, level + 1)
        for i, piece in enumerate(pattern.split(text))
    )


def markdown_html(src: str) -> str:
    """Model text as HTML, the way the live view renders it.

    >>> markdown_html("# Title\\n- one\\n- **two**\\n```py\\nx = 1 < 2")
    '<h3>Title</h3><ul><li>one</li><li><strong>two</strong></li></ul><pre><code>x = 1 &lt; 2</code></pre>'
    """
    if len(_FENCE.findall(src)) % 2:
        src += "\n```"
    blocks: list[str | list[str]] = []
    for i, part in enumerate(_FENCE_LINE.split(src)):
        if i % 2:
            code = part[:-1] if part.endswith("\n") else part
            blocks.append(f"<pre><code>{escape_html(code)}</code></pre>")
            continue
        items: list[str] | None = None
        for line in part.split("\n"):
            item = _ITEM.match(line)
            if item:
                if items is None:
                    items = []
                    blocks.append(items)
                items.append(inline_html(item.group(1)))
                continue
            items = None
            head = _HEADING.match(line)
            if head:
                level = len(head.group(1)) + 2
                blocks.append(f"<h{level}>{inline_html(head.group(2))}</h{level}>")
            elif line.strip():
                blocks.append(f"<p>{inline_html(line)}</p>")
    return "".join(
        "<ul>" + "".join(f"<li>{x}</li>" for x in b) + "</ul>" if isinstance(b, list) else b
        for b in blocks
    )
