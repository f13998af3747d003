"""Engines that embed: the numpy MiniLM encoder for embedding models, and a llama.cpp
embedding instance for chat models (Ollama lets any model embed).

Both expose `embed(texts, truncate, normalize) -> (vectors [n, dim] float32, token counts)`
and raise `InputTooLong` when an input exceeds the context and truncation is off.
"""

from __future__ import annotations

import threading

import numpy as np

from ..models.registry import ModelEntry
from .minilm import InputTooLong, MiniLMEncoder, max_seq_length, model_info

__all__ = ["EmbeddingEngine", "InputTooLong", "LlamaEmbedder", "context_length"]


def context_length(entry: ModelEntry) -> int:
    """Tokens an embedding model reads: sentence-transformers' max_seq_length (256 for
    all-MiniLM-L6-v2), which is where its reference vectors truncate."""
    return max_seq_length(entry.path())


class EmbeddingEngine:
    """A loaded embedding model, as the ModelManager holds it.

    The encoder runs in the caller's thread (routes use `asyncio.to_thread`); a lock
    serialises requests because the tokenizer and weights are shared and numpy's BLAS
    already uses every core.
    """

    def __init__(self, entry: ModelEntry, num_ctx: int, num_thread: int = 0):
        self.entry = entry
        self.num_ctx = num_ctx
        self._lock = threading.Lock()
        self._encoder: MiniLMEncoder | None = MiniLMEncoder(
            entry.path(), max_tokens=num_ctx, threads=num_thread
        )

    def embed(
        self, texts: list[str], truncate: bool = True, normalize: bool = True
    ) -> tuple[np.ndarray, list[int]]:
        """Embed `texts` in batches; L2-normalised unless `normalize` is false."""
        with self._lock:
            if self._encoder is None:
                raise RuntimeError(f"model {self.entry.name} was unloaded")
            return self._encoder.encode(texts, truncate=truncate, normalize=normalize)

    def metadata(self) -> dict:
        """Ollama-style `model_info` for `/api/show`."""
        return model_info(self.entry.path())

    def close(self) -> None:
        with self._lock:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None


class LlamaEmbedder:
    """Mean-pooled embeddings from a llama.cpp instance that can pool: the chat model's
    own (short inputs) or a second one in embedding mode (see engine.CHAT_EMBED_TOKENS)."""

    def __init__(self, llama, num_ctx: int):
        """`num_ctx` is where inputs are cut; the instance's context holds that much."""
        self.llama = llama
        self.num_ctx = num_ctx

    def embed(
        self, token_lists: list[list[int]], truncate: bool = True, normalize: bool = True
    ) -> tuple[np.ndarray, list[int]]:
        """Mean-pooled hidden states of each tokenised text (with its BOS), L2-normalised
        unless told otherwise."""
        inputs = []
        for tokens in token_lists:
            if len(tokens) > self.num_ctx and not truncate:
                raise InputTooLong("the input length exceeds the context length")
            inputs.append(tokens[: self.num_ctx])  # llama-server refuses what does not fit
        counts = [len(t) for t in inputs]
        if not inputs:
            return np.zeros((0, 0), dtype=np.float32), []
        vectors = np.asarray(self.llama.embeddings(inputs), dtype=np.float32)
        if normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors, counts

    def close(self) -> None:
        self.llama.close()
