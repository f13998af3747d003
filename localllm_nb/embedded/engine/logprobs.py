"""Token log-probabilities in Ollama's shape, from llama-server's per-token `logprobs`.

llama-server computes them, as Ollama does, from the softmax of the model's raw logits
(before temperature, penalties, top-k/p and any grammar): at temperature 0 the chosen
token is the top alternative unless a grammar or penalty overruled it. A character that
spans several tokens is streamed as one piece naming only its last token, so it becomes
one entry: the whole character's bytes and the last token's logprob (Ollama on
llama-server does the same); the bytes of the entries still rebuild the text."""

from __future__ import annotations


def _alternative(p: dict) -> dict:
    out = {"token": p["token"], "logprob": p["logprob"]}
    if p.get("bytes"):  # Go's `omitempty`
        out["bytes"] = list(p["bytes"])
    return out


def ollama_entry(piece: dict, top: int) -> dict:
    """One streamed piece as Ollama's `Logprob`: `top_logprobs` only when asked for.

    >>> p = {"id": 9, "token": "Hi", "bytes": [72, 105], "logprob": -0.1,
    ...      "top_logprobs": [{"id": 9, "token": "Hi", "bytes": [72, 105], "logprob": -0.1}]}
    >>> ollama_entry(p, 0)
    {'token': 'Hi', 'logprob': -0.1, 'bytes': [72, 105]}
    >>> ollama_entry(p, 1)["top_logprobs"]
    [{'token': 'Hi', 'logprob': -0.1, 'bytes': [72, 105]}]
    """
    out = _alternative(piece)
    if top > 0:
        out["top_logprobs"] = [_alternative(a) for a in (piece.get("top_logprobs") or [])[:top]]
    return out


class LogprobQueue:
    """Entries waiting for their text: the stop-string hold-back may keep text back, and
    an entry goes out with the text that holds its last character, never before it. At
    a stop string, as in Ollama, a token some of whose text went out keeps its (whole)
    entry and the tokens after it have none.

    >>> q = LogprobQueue()
    >>> q.add("ab", [({"token": "a"}, 1), ({"token": "b"}, 1)])
    >>> q.release(1), q.release(1), q.release(0)
    ([{'token': 'a'}], [{'token': 'b'}], [])
    >>> q.add(" Th", [({"token": " Th"}, 3)]); q.release(1), q.cut()
    ([], [{'token': ' Th'}])
    """

    def __init__(self):
        # (start, end) offsets in characters of each entry's text, and the entry
        self._pending: list[tuple[int, int, dict]] = []
        self._fed = 0
        self._released = 0

    def add(self, text: str, entries: list[tuple[dict, int]]) -> None:
        """`text` arrived with `entries` (each with its length in characters); text
        without entries (a steer's injected text) only moves the offsets on."""
        start, self._fed = self._fed, self._fed + len(text)
        for entry, size in entries:
            end = min(start + size, self._fed)
            self._pending.append((start, end, entry))
            start = end

    def release(self, chars: int) -> list[dict]:
        """`chars` more characters went out: the entries whose text is now all out."""
        self._released += chars
        ready = [e for _, end, e in self._pending if end <= self._released]
        self._pending = self._pending[len(ready) :]
        return ready

    def cut(self) -> list[dict]:
        """A stop string ended the text: the entries of tokens partly sent; no more."""
        ready = [e for start, _, e in self._pending if start < self._released]
        self._pending = []
        return ready
