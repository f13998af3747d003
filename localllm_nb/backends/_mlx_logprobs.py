"""Per-token logprobs in Ollama's shape from mlx-lm's `GenerationResponse.logprobs`.

mlx-lm hands every response the whole distribution the token was drawn from: the
log-softmax of the logits after its logits processors (repetition penalty, a grammar's
mask) and before the sampler's temperature, top-p and min-p. The embedded server and
Ollama report the raw logits' softmax instead, so the two agree unless a penalty or a
grammar is on. The top alternatives are picked with `argpartition`, then sorted.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@functools.lru_cache(maxsize=1)
def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet: printable stand-in character -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    table = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + shifted)] = b
            shifted += 1
    return table


def _piece_bytes(piece: str, kind: str) -> bytes | None:
    """A vocabulary entry's bytes, for byte-level BPE ('Ġcat') and SentencePiece
    ('▁cat', '<0xE2>') vocabularies; None for any other entry.

    >>> _piece_bytes("ĠcafÃ©", "bpe"), _piece_bytes("▁caf", "spm"), _piece_bytes("<0xE2>", "spm")
    (b' caf\xc3\xa9', b' caf', b'\xe2')
    """
    if kind == "spm":
        byte = _BYTE_TOKEN.match(piece)
        return bytes([int(byte.group(1), 16)]) if byte else piece.replace("▁", " ").encode()
    alphabet = _byte_level_alphabet()
    if kind == "bpe" and all(c in alphabet for c in piece):
        return bytes(alphabet[c] for c in piece)
    return None


class TokenBytes:
    """Token id -> its bytes and its text (invalid UTF-8 shown as U+FFFD, as Ollama's
    JSON does), cached per tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._cache: dict[int, tuple[str, bytes]] = {}
        # mlx-lm picked the detokenizer that matches the vocabulary; so do we.
        name = type(getattr(tokenizer, "detokenizer", None)).__name__
        self.kind = "bpe" if name.startswith("BPE") else "spm" if name.startswith("SPM") else ""

    def __call__(self, token: int) -> tuple[str, bytes]:
        hit = self._cache.get(token)
        if hit is None:
            piece = self.tokenizer.convert_ids_to_tokens(token)
            data = _piece_bytes(piece, self.kind) if isinstance(piece, str) else None
            if data is None:  # special tokens, other vocabularies
                data = self.tokenizer.decode([token]).encode()
            hit = self._cache[token] = (data.decode("utf-8", errors="replace"), data)
        return hit


def logprob_entry(logprobs: Any, token: int, top: int, names: TokenBytes) -> dict[str, Any]:
    """Ollama's `{token, logprob, bytes, top_logprobs}` for the sampled `token` from the
    full distribution `logprobs` (an mx.array over the vocabulary)."""
    import mlx.core as mx

    logprobs = logprobs.astype(mx.float32)
    text, data = names(token)
    entry: dict[str, Any] = {
        "token": text,
        "logprob": logprobs[token].item(),
        "bytes": list(data),
    }
    if top > 0:
        top = min(top, logprobs.shape[0])
        ids = mx.argpartition(-logprobs, kth=top - 1)[:top]
        values = logprobs[ids]
        order = mx.argsort(-values)
        entry["top_logprobs"] = [
            {"token": names(i)[0], "logprob": v, "bytes": list(names(i)[1])}
            for i, v in zip(ids[order].tolist(), values[order].tolist(), strict=True)
        ]
    return entry
