"""Engines that embed: the numpy MiniLM encoder for embedding models, and a llama.cpp
embedding context for chat models (Ollama lets any model embed).

Both expose `embed(texts, truncate, normalize) -> (vectors [n, dim] float32, token counts)`
and raise `InputTooLong` when an input exceeds the context and truncation is off.
"""

from __future__ import annotations

import threading

import numpy as np

from .embedder import InputTooLong, MiniLMEncoder, max_seq_length, model_info
from .registry import ModelEntry

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
    """A second llama.cpp context on a chat model's GGUF, in embedding mode with mean pooling.

    A context cannot both generate and embed, so this one is separate; the owner makes
    sure it never runs while the generation context does.
    """

    def __init__(self, model_path: str, num_ctx: int, threads: int):
        import llama_cpp

        self.num_ctx = num_ctx
        # A pooled sequence must fit in one micro-batch: llama.cpp pools per ubatch.
        self.llm = llama_cpp.Llama(
            model_path=model_path,
            embedding=True,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            n_ctx=num_ctx,
            n_batch=num_ctx,
            n_ubatch=num_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    def embed(
        self, texts: list[str], truncate: bool = True, normalize: bool = True
    ) -> tuple[np.ndarray, list[int]]:
        """Mean-pooled hidden states of each text, L2-normalised unless told otherwise."""
        counts = []
        for text in texts:
            n = len(self.llm.tokenize(text.encode("utf-8")))
            if n > self.num_ctx and not truncate:
                raise InputTooLong("the input length exceeds the context length")
            counts.append(min(n, self.num_ctx))
        if not texts:
            return np.zeros((0, self.llm.n_embd()), dtype=np.float32), []
        # llama-cpp-python truncates to n_batch (= num_ctx) itself.
        vectors = np.asarray(
            self.llm.embed(list(texts), normalize=False, truncate=True), dtype=np.float32
        )
        if normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors, counts

    def close(self) -> None:
        self.llm.close()
