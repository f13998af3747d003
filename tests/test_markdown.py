"""The snapshot's Markdown renderer: the live view's subset, and nothing the model wrote
ever becomes markup (it is the boundary between model output and the reader's page)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from localllm_nb.widgets.markdown import markdown_html

ALLOWED = {"p", "ul", "li", "pre", "code", "strong", "em", "h3", "h4", "h5", "h6"}


class Tags(HTMLParser):
    """Collects every start tag with its attributes, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def test_the_live_views_subset():
    src = (
        "## Steps\n1. Boil **water**\n2. Add `salt`\n\nThen *wait*.\n"
        "```python\nprint('<hi>')\n```\n- a\n- b"
    )
    assert markdown_html(src) == (
        "<h4>Steps</h4><ul><li>Boil <strong>water</strong></li><li>Add <code>salt</code></li>"
        "</ul><p>Then <em>wait</em>.</p><pre><code>print(&#39;&lt;hi&gt;&#39;)</code></pre>"
        "<ul><li>a</li><li>b</li></ul>"
    )


def test_an_unterminated_fence_is_closed_and_its_body_stays_code():
    out = markdown_html("Here:\n```\n**not bold**\n<b>")
    assert out == "<p>Here:</p><pre><code>**not bold**\n&lt;b&gt;</code></pre>"


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '**" onmouseover="alert(1)**',
    "`\" onload=\"alert(1)` and *' onclick='x*",
    "# <svg onload=alert(1)>",
    "- <iframe src=//evil>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "```<script>\nx\n```",
    "&lt;script&gt; already escaped",
    "<!-- comment --><style>body{display:none}</style>",
]


@pytest.mark.parametrize("src", HOSTILE)
def test_hostile_input_never_becomes_markup(src):
    out = markdown_html(src)
    for tag, attrs in tags_of(out):
        assert tag in ALLOWED, (tag, out)
        assert attrs == [], (tag, attrs, out)
    # Nothing of the model's text survives as a raw angle bracket or quote.
    text_only = re.sub(rf"</?(?:{'|'.join(ALLOWED)})>", "", out)
    assert "<" not in text_only and ">" not in text_only and '"' not in text_only


def test_ampersands_are_escaped_once():
    assert markdown_html("&lt; & &amp;") == "<p>&amp;lt; &amp; &amp;amp;</p>"
