"""The token lens's data for the browser and the saved snapshot: per-token probabilities
packed into a few strings, shading buckets, and the shaded HTML. Pure functions.

Per token the browser needs the text it shows, its logprob and its top alternatives.
As JSON objects that is ~150 bytes a token with five alternatives; packed it is ~45:
the strings of a batch go once each in `words`, and each token is a row of 1 + k
uint16 indexes into them (`ids`) and 1 + k uint16 logprobs quantised to 1/1000 nat
(`lp`), little-endian, base64. 65535 marks an alternative that is not there. `ch` has
one letter per token: its channel (c content, t thinking, x tool call).

>>> from localllm_nb.run.tokens import parse_logprobs
>>> toks = parse_logprobs([{"token": "Hi", "logprob": -0.105, "bytes": [72, 105],
...     "top_logprobs": [{"token": "Hi", "logprob": -0.105}, {"token": "Hey", "logprob": -2.5}]}])
>>> packed = LensPacker().pack(toks)
>>> packed["words"], packed["k"], packed["ch"]
(['Hi', 'Hey'], 2, 'c')
>>> unpack(packed)
[('Hi', -0.105, 'c', [('Hi', -0.105), ('Hey', -2.5)])]
"""

from __future__ import annotations

import base64
import codecs
import html
import itertools
import math
import struct
from collections.abc import Sequence
from typing import Any

from ..run.tokens import TokenLogprob, entropy

# Probability at or above which a token falls in each bucket; below the last: bucket 5.
# static/lens.js has the same list (tests/test_lens.py checks they agree).
BUCKETS = (0.9, 0.7, 0.5, 0.3, 0.1)
# Bucket -> background in the saved snapshot (the live view's CSS has the same).
SHADES = ("transparent", "#fff3c4", "#ffe08a", "#ffc078", "#ff9c7a", "#ff6b6b")
CHANNEL_LETTERS = {"content": "c", "thinking": "t", "tool_call": "x"}
MISSING = 0xFFFF
SCALE = 1000  # logprobs travel as round(-logprob * SCALE)


def bucket(probability: float) -> int:
    """0 (sure) to 5 (unsure): where `probability` falls among `BUCKETS`.

    >>> [bucket(p) for p in (1.0, 0.9, 0.8, 0.55, 0.3, 0.2, 0.01)]
    [0, 0, 1, 2, 3, 4, 5]
    """
    for i, edge in enumerate(BUCKETS):
        if probability >= edge:
            return i
    return len(BUCKETS)


def quantise(logprob: float) -> int:
    """A logprob as the uint16 the browser gets (clamped to [-65.534, 0]).

    >>> quantise(-0.1234), quantise(0.2), quantise(-1e9)
    (123, 0, 65534)
    """
    return min(MISSING - 1, max(0, round(-logprob * SCALE)))


class LensPacker:
    """Packs one run's tokens batch by batch (frame by frame).

    It decodes each channel's bytes incrementally, so a character split over tokens is
    shown whole by the token that completes it (the ones before show nothing)."""

    def __init__(self):
        self._decoders: dict[str, Any] = {}

    def shown(self, entry: TokenLogprob) -> str:
        """The text `entry` adds to its channel."""
        if entry.bytes is None:
            return entry.token
        decoder = self._decoders.get(entry.channel)
        if decoder is None:
            decoder = self._decoders[entry.channel] = codecs.getincrementaldecoder("utf-8")(
                "replace"
            )
        return decoder.decode(entry.bytes)

    def pack(self, entries: Sequence[TokenLogprob]) -> dict[str, Any]:
        """The packed batch (see the module's docstring)."""
        k = max((len(e.top) for e in entries), default=0)
        words: dict[str, int] = {}
        ids: list[int] = []
        lps: list[int] = []

        def word(text: str) -> int:
            return words.setdefault(text, len(words))

        for entry in entries:
            ids.append(word(self.shown(entry)))
            lps.append(quantise(entry.logprob))
            for i in range(k):
                if i < len(entry.top):
                    ids.append(word(entry.top[i].token))
                    lps.append(quantise(entry.top[i].logprob))
                else:
                    ids.append(MISSING)
                    lps.append(MISSING)
        return {
            "n": len(entries),
            "k": k,
            "words": list(words),
            "ids": _b64_u16(ids),
            "lp": _b64_u16(lps),
            "ch": "".join(CHANNEL_LETTERS.get(e.channel, "c") for e in entries),
        }


def _b64_u16(values: list[int]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}H", *values)).decode("ascii")


def _u16(text: str) -> list[int]:
    data = base64.b64decode(text)
    return list(struct.unpack(f"<{len(data) // 2}H", data))


def unpack(packed: dict[str, Any]) -> list[tuple[str, float, str, list[tuple[str, float]]]]:
    """(shown text, logprob, channel letter, [(alternative, logprob)]) per token: what
    the browser reads from a packed batch (static/lens.js decodes the same way)."""
    n, k, words = packed["n"], packed["k"], packed["words"]
    ids, lps = _u16(packed["ids"]), _u16(packed["lp"])
    out = []
    for t in range(n):
        row = t * (k + 1)
        alts = [
            (words[ids[row + 1 + i]], -lps[row + 1 + i] / SCALE)
            for i in range(k)
            if ids[row + 1 + i] != MISSING
        ]
        out.append((words[ids[row]], -lps[row] / SCALE, packed["ch"][t], alts))
    return out


def _percent(logprob: float) -> str:
    return f"{100 * math.exp(logprob):.1f}%"


def lens_html(entries: Sequence[TokenLogprob], mark: int | None = None) -> str:
    """The answer's tokens as shaded spans for a saved notebook, each with a title that
    lists its alternatives (what hovering shows); token `mark` (a branch point) is
    outlined. Everything the model wrote is escaped."""
    packer = LensPacker()
    spans = []
    for i, entry in enumerate(entries):
        shown = packer.shown(entry)
        if entry.channel != "content" or not shown:
            continue
        title = f"p={_percent(entry.logprob)}"
        h = entropy(entry)
        if h is not None:
            title += f" · H={h:.2f} nats"
        if entry.top:
            title += " · " + ", ".join(f"{a.token!r} {_percent(a.logprob)}" for a in entry.top)
        style = f"background:{SHADES[bucket(entry.probability)]}"
        if i == mark:
            style += ";outline:2px solid #6a1b9a"
        spans.append(
            f'<span class="llnb-tok" data-b="{bucket(entry.probability)}" style="{style}" '
            f'title="{html.escape(title)}">{html.escape(shown)}</span>'
        )
    legend = " ".join(
        f'<span style="background:{SHADES[b]};padding:0 4px">{label}</span>'
        for b, label in enumerate(bucket_labels())
    )
    return (
        f'<div class="llnb-lens" style="white-space:pre-wrap;line-height:1.5">{"".join(spans)}</div>'
        f'<div style="font-size:11px;color:#666;margin-top:4px">probability: {legend}</div>'
    )


def bucket_labels() -> list[str]:
    """The legend's label per bucket.

    >>> bucket_labels()[:2]
    ['≥ 90%', '70-90%']
    """
    edges = [round(100 * e) for e in BUCKETS]
    labels = [f"≥ {edges[0]}%"]
    labels += [f"{lo}-{hi}%" for hi, lo in itertools.pairwise(edges)]
    return [*labels, f"< {edges[-1]}%"]


def branch_html(branch: dict[str, Any]) -> str:
    """The branch column of a saved notebook: the text before the branch point (dim),
    the alternative (marked) and what the model wrote from there, or the error."""
    if not branch:
        return ""
    error = branch.get("error") or ""
    body = (
        f'<span style="color:#888">{html.escape(branch.get("prefix", ""))}</span>'
        f'<mark class="llnb-branch-alt">{html.escape(branch.get("alternative", ""))}</mark>'
        f"{html.escape(branch.get('content', ''))}"
    )
    if error:
        body += f'<div role="alert" style="color:#b71c1c">{html.escape(error)}</div>'
    return (
        f'<div class="llnb-branch"><div><b>Branch</b> at token {branch.get("index")}: '
        f"{html.escape(repr(branch.get('alternative', '')))} instead of "
        f"{html.escape(repr(branch.get('original', '')))}</div>"
        f'<div style="white-space:pre-wrap">{body}</div></div>'
    )


def columns_html(original: str, branch: str) -> str:
    """Original and branch side by side (the branch column only when there is one)."""
    if not branch:
        return original
    cell = "flex:1 1 0;min-width:0;border-left:3px solid #ddd;padding-left:8px"
    return (
        f'<div style="display:flex;gap:12px"><div style="{cell}"><b>Original</b>{original}</div>'
        f'<div style="{cell};border-color:#6a1b9a">{branch}</div></div>'
    )
