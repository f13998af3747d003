"""`EmbeddingSet`: texts with their vectors, embedded once, in batches, with progress.

The explorer widget is a view of this object: similarity, the 2-D map and neighbour
lists all come from here, and neighbours are always ranked in the original space (the
map only places points; distances on it mislead).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .math import cosine_similarity, pca_fit, project, row_norms, top_k

DEFAULT_MODEL = "all-minilm"
FLOAT32_COPY_BYTES = 320_000_000
"""float16 vectors up to this size in float32 (208,000 rows of 384) also keep a float32
copy for ranking: within the explorer's budget of the vectors plus 500 MB."""
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Neighbor:
    """One nearest neighbour: its index in the set, text, label and cosine similarity."""

    index: int
    text: str
    score: float
    label: str | None = None


@dataclass(frozen=True)
class QueryResult:
    """Where a query text lands: its vector, its point on the set's 2-D map, neighbours."""

    text: str
    vector: np.ndarray
    point: tuple[float, float]
    neighbors: list[Neighbor]


class EmbeddingSet:
    """Texts and their embeddings, with similarity, a 2-D projection and neighbours.

    `model` is a ModelSpec (kind 'embeddings'), a model name ('all-minilm', the
    default), or any LangChain `Embeddings` object. Texts are embedded `batch_size` at
    a time; `on_progress(done, total)` is called after each batch. `add()` embeds only
    texts the set has not seen. Server failures raise the toolkit's typed errors.

    >>> s = EmbeddingSet.from_vectors(["a", "b", "c"], [[1, 0], [0.9, 0.1], [0, 1]])
    >>> [(n.text, round(n.score, 2)) for n in s.neighbors("a", k=1)]
    [('b', 0.99)]
    """

    def __init__(
        self,
        texts: Iterable[str] = (),
        model: Any = DEFAULT_MODEL,
        *,
        labels: Sequence[Any] | None = None,
        batch_size: int = 32,
        on_progress: Progress | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self.on_progress = on_progress
        self._embedder: Any = None
        self._texts: list[str] = []
        self._labels: list[str | None] = []
        # One (n, dim) array, never a list of rows: a million rows as separate arrays
        # cost their own overhead and a second copy when stacked.
        self._vectors: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._seen: dict[str, int] | None = {}  # text -> its first row; built on demand
        self._derived: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.add(texts, labels=labels)

    @classmethod
    def from_vectors(
        cls,
        texts: Sequence[str],
        vectors: Any,
        model: Any = None,
        *,
        labels: Sequence[Any] | None = None,
    ) -> EmbeddingSet:
        """A set from vectors computed elsewhere (`model` embeds later additions).

        float16 and float32 arrays (a memory map too) are kept as given, not copied: a
        million 384-d rows are 768 MB in float16, but numpy converts float16 back to
        float32 for every ranking (seconds at a million; a float32 copy is kept up to
        `FLOAT32_COPY_BYTES`), so float32 answers faster."""
        arr = np.asarray(vectors)
        if arr.dtype not in (np.float16, np.float32):
            arr = arr.astype(np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(texts):
            raise ValueError(f"need one vector per text: {len(texts)} texts, shape {arr.shape}")
        out = cls(model=model)
        out._texts = list(texts)
        out._labels = _labels(labels, len(texts))
        out._vectors = arr
        out._seen = None  # a million-entry dict only if texts are added later
        return out

    # --- contents -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._texts)

    def __repr__(self) -> str:
        return f"EmbeddingSet({len(self)} texts, dim={self.dim}, model={self.model_name!r})"

    @property
    def texts(self) -> list[str]:
        """The texts, in the order they were added."""
        return list(self._texts)

    @property
    def labels(self) -> list[str | None]:
        """One label per text (None where none was given)."""
        return list(self._labels)

    @property
    def vectors(self) -> np.ndarray:
        """The embeddings as an (n, dim) array: float32, or float16 as given to
        `from_vectors`."""
        return self._vectors

    @property
    def dim(self) -> int:
        """Vector length (0 while the set is empty)."""
        return int(self._vectors.shape[1]) if len(self._texts) else 0

    def add(self, texts: Iterable[str], labels: Sequence[Any] | None = None) -> list[int]:
        """Append texts (embedding only those not seen before); returns their indices."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}: {text!r}")
        labels_ = _labels(labels, len(texts))
        with self._lock:
            seen = self._seen_rows()
            new = list(dict.fromkeys(t for t in texts if t not in seen))
            fresh = self._embed_new(new)
            rows = [fresh[t] if t in fresh else self._vectors[seen[t]] for t in texts]
            start = len(self._texts)
            self._append(texts, rows, labels_)
        return list(range(start, start + len(texts)))

    # --- answers ------------------------------------------------------------------

    def similarity(self) -> np.ndarray:
        """(n, n) cosine similarity of every text with every other."""
        return self._memo("similarity", lambda: cosine_similarity(self.vectors))

    def projection(self) -> np.ndarray:
        """(n, 2) coordinates on the first two principal components."""
        mean, axes = self._pca()
        return self._memo("projection", lambda: project(self.vectors, mean, axes))

    def project(self, vectors: Any) -> np.ndarray:
        """Place other vectors on this set's map (same axes as `projection()`)."""
        mean, axes = self._pca()
        return project(np.atleast_2d(np.asarray(vectors, dtype=np.float32)), mean, axes)

    def neighbors(self, item: int | str, k: int = 5) -> list[Neighbor]:
        """The `k` texts most similar to text `item` (an index or a text of the set),
        by cosine similarity in the original space, best first, itself excluded."""
        index = self.index(item)
        query = np.asarray(self._vectors[index], dtype=np.float32)
        found = top_k(query, self._ranked(), k, exclude=index, norms=self._norms())
        return self._neighbors(found)

    def query(self, text: str, k: int = 5) -> QueryResult:
        """Embed `text` (not added to the set) and find its place and neighbours."""
        if not self._texts:
            raise ValueError("the set is empty: add texts before querying it")
        vector = np.asarray(self._embed_query(text), dtype=np.float32)
        found = self._neighbors(top_k(vector, self._ranked(), k, norms=self._norms()))
        point = self.project(vector)[0]
        return QueryResult(text, vector, (float(point[0]), float(point[1])), found)

    def index(self, item: int | str) -> int:
        """The index of `item` (an index, checked, or a text of the set)."""
        if isinstance(item, str):
            found = self._seen_rows().get(item)
            if found is None:
                raise KeyError(f"{item!r} is not a text of this set")
            return found
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} out of range for {len(self)} texts")
        return item % len(self)

    # --- internals ----------------------------------------------------------------

    def _neighbors(self, found: list[tuple[int, float]]) -> list[Neighbor]:
        return [Neighbor(i, self._texts[i], score, self._labels[i]) for i, score in found]

    def _norms(self) -> np.ndarray:
        # Row lengths, kept (4 bytes a row): every neighbour question is then one
        # matrix-vector product and a division, without a unit copy of the rows.
        return self._memo("norms", lambda: row_norms(self._vectors))

    def _ranked(self) -> np.ndarray:
        # numpy ranks float16 rows by converting each block to float32 (seconds at a
        # million rows here): a float32 copy is kept while it fits FLOAT32_COPY_BYTES.
        rows = self._vectors
        if rows.dtype != np.float16 or rows.size * 4 > FLOAT32_COPY_BYTES:
            return rows
        return self._memo("float32", lambda: rows.astype(np.float32))

    def _seen_rows(self) -> dict[str, int]:
        if self._seen is None:
            self._seen = {}
            for i, text in enumerate(self._texts):
                self._seen.setdefault(text, i)
        return self._seen

    def _pca(self) -> tuple[np.ndarray, np.ndarray]:
        return self._memo("pca", lambda: pca_fit(self.vectors))

    def _memo(self, key: str, make: Callable[[], Any]) -> Any:
        value = self._derived.get(key)
        if value is None:
            value = self._derived[key] = make()
        return value

    def _append(self, texts: list[str], rows: list[np.ndarray], labels: list) -> None:
        if not rows:
            return
        block = np.array(rows, dtype=self._vectors.dtype if self._texts else np.float32)
        if self._texts and block.shape[1] != self.dim:
            raise ValueError(f"vectors of length {block.shape[1]} do not fit dim={self.dim}")
        start = len(self._texts)
        self._vectors = np.concatenate([self._vectors, block]) if self._texts else block
        seen = self._seen_rows()
        for i, text in enumerate(texts, start):
            seen.setdefault(text, i)
        self._texts += texts
        self._labels += labels
        self._derived.clear()

    def _embed_new(self, texts: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        total = len(texts)
        for start in range(0, total, self.batch_size):
            batch = texts[start : start + self.batch_size]
            vectors = self._call("embed_documents", batch)
            for text, vector in zip(batch, vectors, strict=False):
                out[text] = np.asarray(vector, dtype=np.float32)
            if self.on_progress is not None:
                self.on_progress(min(start + len(batch), total), total)
        return out

    def _embed_query(self, text: str) -> list[float]:
        return self._call("embed_query", text)

    def _call(self, method: str, arg: Any) -> Any:
        embedder = self._get_embedder()
        try:
            return getattr(embedder, method)(arg)
        except Exception as exc:
            from ..backends._client import server_url, translate_error

            if "ollama" not in type(embedder).__module__:
                raise
            raise translate_error(exc, server_url(embedder), self.model_name) from exc

    def _get_embedder(self) -> Any:
        if self._embedder is None:
            if self.model is None:
                raise ValueError("this set has no model to embed new texts with")
            if hasattr(self.model, "embed_documents"):
                self._embedder = self.model
            else:
                from ..backends import build_embeddings

                self._embedder = build_embeddings(self.model)
        return self._embedder

    @property
    def model_name(self) -> str:
        """The embedding model's name ('' for vectors given without a model)."""
        model = self.model
        return str(getattr(model, "model", model) or "")


def _labels(labels: Sequence[Any] | None, n: int) -> list[str | None]:
    if labels is None:
        return [None] * n
    labels = list(labels)
    if len(labels) != n:
        raise ValueError(f"need one label per text: {n} texts, {len(labels)} labels")
    return [None if label is None else str(label) for label in labels]
