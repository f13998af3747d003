"""Per-token log-probabilities as data, and the few numbers people read from them.

A model asked for `logprobs` (Ollama, the embedded server, ChatMLX) sends, per token,
Ollama's `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}`. A run
keeps each as a `TokenLogprob`; the helpers here are pure functions over a sequence of
them. Logprobs are natural logarithms, so entropies are in nats.

>>> entries = parse_logprobs([
...     {"token": "Hi", "logprob": -0.1, "top_logprobs": [
...         {"token": "Hi", "logprob": -0.1}, {"token": "Hey", "logprob": -2.5}]},
...     {"token": "!", "logprob": -1.2},
... ])
>>> round(mean_logprob(entries), 3), round(perplexity(entries), 3)
(-0.65, 1.916)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

CHANNELS = ("content", "thinking", "tool_call")


class Alternative(NamedTuple):
    """One of the most likely tokens at a position, with its logprob."""

    token: str
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token: its text, logprob, UTF-8 `bytes` (None when the client's
    types dropped them, as ollama-python's do), the top alternatives (most likely first;
    empty unless `top_logprobs` was asked for) and the channel it was streamed on
    ('content', 'thinking' or 'tool_call')."""

    token: str
    logprob: float
    bytes: bytes | None = None
    top: tuple[Alternative, ...] = ()
    channel: str = "content"

    @property
    def probability(self) -> float:
        """The token's probability, exp(logprob)."""
        return math.exp(self.logprob)

    def to_ollama(self) -> dict[str, Any]:
        """Ollama's shape (alternatives without bytes), plus the channel.

        >>> TokenLogprob("a", -0.5, b"a", (Alternative("a", -0.5),)).to_ollama()
        {'token': 'a', 'logprob': -0.5, 'bytes': [97], 'top_logprobs': [{'token': 'a', 'logprob': -0.5}], 'channel': 'content'}
        """
        out: dict[str, Any] = {"token": self.token, "logprob": self.logprob}
        if self.bytes is not None:
            out["bytes"] = list(self.bytes)
        if self.top:
            out["top_logprobs"] = [{"token": a.token, "logprob": a.logprob} for a in self.top]
        out["channel"] = self.channel
        return out


def _get(item: Any, key: str) -> Any:
    # Entries come as dicts (JSON, ChatMLX) or as ollama-python's Logprob models.
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def parse_logprobs(items: Iterable[Any] | None, channel: str = "content") -> list[TokenLogprob]:
    """Ollama-shaped entries (dicts or ollama-python `Logprob`s) as `TokenLogprob`s.

    >>> parse_logprobs([{"token": "é", "logprob": 0, "bytes": [195, 169]}])[0].bytes
    b'\\xc3\\xa9'
    """
    out = []
    for item in items or ():
        raw = _get(item, "bytes")
        top = tuple(
            Alternative(str(_get(a, "token")), float(_get(a, "logprob")))
            for a in _get(item, "top_logprobs") or ()
        )
        out.append(
            TokenLogprob(
                token=str(_get(item, "token") or ""),
                logprob=float(_get(item, "logprob")),
                bytes=bytes(raw) if raw is not None else None,
                top=top,
                channel=str(_get(item, "channel") or channel),
            )
        )
    return out


def text_of(entries: Sequence[TokenLogprob]) -> str:
    """The text the tokens spell: their bytes joined, then decoded (so a character
    split over tokens comes out whole); a token without bytes counts as its text.

    >>> text_of(parse_logprobs([{"token": "?", "logprob": 0, "bytes": [226, 130]},
    ...                         {"token": "?", "logprob": 0, "bytes": [172]}]))
    '€'
    """
    data = b"".join(e.bytes if e.bytes is not None else e.token.encode() for e in entries)
    return data.decode("utf-8", errors="replace")


def entropy(entry: TokenLogprob) -> float | None:
    """Entropy (nats) of the distribution at this token, over its top alternatives plus
    one outcome for the probability they leave: a lower bound of the full
    distribution's entropy, exact when the alternatives hold all the mass. None without
    alternatives.

    >>> round(entropy(TokenLogprob("a", math.log(0.5), top=(
    ...     Alternative("a", math.log(0.5)), Alternative("b", math.log(0.5))))), 4)
    0.6931
    >>> entropy(TokenLogprob("a", 0.0)) is None
    True
    """
    if not entry.top:
        return None
    probs = [math.exp(a.logprob) for a in entry.top]
    rest = max(0.0, 1.0 - sum(probs))
    return -sum(p * math.log(p) for p in [*probs, rest] if p > 0)


def mean_logprob(entries: Sequence[TokenLogprob]) -> float | None:
    """The mean logprob per token (None for no tokens): closer to 0 is surer."""
    if not entries:
        return None
    return sum(e.logprob for e in entries) / len(entries)


def perplexity(entries: Sequence[TokenLogprob]) -> float | None:
    """exp(-mean logprob): how many equally likely tokens the model was choosing
    among, on average (1.0 = certain). None for no tokens.

    >>> perplexity(parse_logprobs([{"token": "a", "logprob": math.log(0.25)}]))
    4.0
    """
    mean = mean_logprob(entries)
    return None if mean is None else math.exp(-mean)


class Span(NamedTuple):
    """Tokens `start:end` of a sequence, the text they spell, their mean logprob and
    their least probability."""

    start: int
    end: int
    text: str
    mean_logprob: float
    min_probability: float


def least_confident(
    entries: Sequence[TokenLogprob], n: int = 3, threshold: float = 0.5
) -> list[Span]:
    """The `n` least confident spans: runs of adjacent tokens each below `threshold`
    probability, least mean logprob first.

    >>> toks = parse_logprobs([{"token": t, "logprob": math.log(p)} for t, p in
    ...     [("The", .9), (" cat", .2), (" sat", .3), (" on", .95), (" mats", .1)]])
    >>> [(s.text, round(s.min_probability, 2)) for s in least_confident(toks)]
    [(' mats', 0.1), (' cat sat', 0.2)]
    """
    spans: list[Span] = []
    start = None
    for i, entry in enumerate([*entries, None]):
        low = entry is not None and entry.probability < threshold
        if low and start is None:
            start = i
        elif not low and start is not None:
            run = entries[start:i]
            spans.append(
                Span(start, i, text_of(run), mean_logprob(run), min(e.probability for e in run))
            )
            start = None
    return sorted(spans, key=lambda s: s.mean_logprob)[:n]


def pack(entries: Sequence[TokenLogprob], digits: int = 3) -> dict[str, list]:
    """Entries as parallel columns with rounded logprobs and channels as indexes into
    `CHANNELS`, for a view to send to a browser: no key names or bytes per token.

    >>> pack(parse_logprobs([{"token": "Hi", "logprob": -0.10004,
    ...     "top_logprobs": [{"token": "Hi", "logprob": -0.10004}]}]))
    {'token': ['Hi'], 'logprob': [-0.1], 'channel': [0], 'top_token': [['Hi']], 'top_logprob': [[-0.1]]}
    """
    return {
        "token": [e.token for e in entries],
        "logprob": [round(e.logprob, digits) for e in entries],
        "channel": [CHANNELS.index(e.channel) if e.channel in CHANNELS else 0 for e in entries],
        "top_token": [[a.token for a in e.top] for e in entries],
        "top_logprob": [[round(a.logprob, digits) for a in e.top] for e in entries],
    }
