"""EmbeddingSet against the real embedded server: batches, progress, incremental adds,
neighbours in the original space, queries on the same map, typed errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from langchain_ollama import OllamaEmbeddings

from localllm_nb import EmbeddingSet, ModelSpec, ServerUnavailableError
from localllm_nb.vectors import cosine_similarity, normalize, pca_2d
from tests.models import EMBED

TEXTS = [
    "The cat sits on the mat.",
    "A kitten is sleeping on the rug.",
    "Stock markets fell sharply today.",
    "Investors sold shares as prices dropped.",
    "The recipe needs two eggs and flour.",
    "Bake the cake for thirty minutes.",
]


class CountingEmbeddings:
    """The real OllamaEmbeddings, counting what it is asked to embed."""

    def __init__(self, url: str):
        self.inner = OllamaEmbeddings(model=EMBED, base_url=url)
        self.batches: list[list[str]] = []

    def embed_documents(self, texts):
        self.batches.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


@pytest.fixture(scope="module")
def emb(server_url):
    return CountingEmbeddings(server_url)


def test_texts_are_embedded_in_batches_with_progress(server_url):
    progress = []
    spec = ModelSpec(kind="embeddings", model=EMBED, base_url=server_url)
    s = EmbeddingSet(TEXTS, spec, batch_size=4, on_progress=lambda d, t: progress.append((d, t)))
    assert progress == [(4, 6), (6, 6)]
    assert s.vectors.shape == (6, 384) and s.vectors.dtype == np.float32
    direct = np.asarray(OllamaEmbeddings(model=EMBED, base_url=server_url).embed_documents(TEXTS))
    assert np.allclose(s.vectors, direct, atol=1e-5)
    assert repr(s) == "EmbeddingSet(6 texts, dim=384, model='all-minilm')"


def test_adding_texts_embeds_only_the_new_ones(emb):
    s = EmbeddingSet(TEXTS[:3], emb, labels=["pets", "pets", "money"])
    assert emb.batches[-1] == TEXTS[:3]
    before = s.similarity()
    idx = s.add([TEXTS[0], TEXTS[3]], labels=["pets", "money"])
    assert idx == [3, 4]
    assert emb.batches[-1] == [TEXTS[3]]  # the repeated text was not sent again
    assert len(s) == 5 and s.labels == ["pets", "pets", "money", "pets", "money"]
    assert np.array_equal(s.vectors[0], s.vectors[3])
    assert s.similarity().shape == (5, 5) and before.shape == (3, 3)


def test_neighbours_are_ranked_in_the_original_space(emb):
    s = EmbeddingSet(TEXTS, emb)
    sims = cosine_similarity(s.vectors)
    for i in range(len(TEXTS)):
        got = s.neighbors(i, k=2)
        order = [j for j in np.argsort(-sims[i]) if j != i][:2]
        assert [n.index for n in got] == order
        assert got[0].score == pytest.approx(float(sims[i, order[0]]), abs=1e-6)
    # The topical pairs find each other.
    assert s.neighbors("The cat sits on the mat.", k=1)[0].index == 1
    assert s.neighbors(2, k=1)[0].text == TEXTS[3]


def test_neighbours_never_build_the_n_by_n_matrix():
    # 4,000 texts: the similarity matrix would take 64 MB; one row of it takes 16 KB.
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(4000, 8)).astype(np.float32)
    s = EmbeddingSet.from_vectors([f"text {i}" for i in range(4000)], vectors)
    tracemalloc.start()
    try:
        found = s.neighbors(7, k=3)
        again = s.neighbors(8, k=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak
    unit = normalize(vectors)
    assert [n.index for n in found] == [j for j in np.argsort(-(unit @ unit[7])) if j != 7][:3]
    assert 8 not in [n.index for n in again]


def test_a_query_lands_on_the_same_map(emb):
    s = EmbeddingSet(TEXTS, emb)
    assert np.allclose(s.projection(), pca_2d(s.vectors), atol=1e-4)
    result = s.query("A dog naps on the carpet.", k=3)
    assert result.neighbors[0].index in (0, 1)
    assert result.vector.shape == (384,)
    # Placed with the set's own axes: projecting a member gives its own point.
    assert np.allclose(s.project(s.vectors[4]), s.projection()[4], atol=1e-4)
    assert len(result.point) == 2 and all(np.isfinite(result.point))
    assert len(s) == len(TEXTS)  # a query is not added


def test_from_vectors_and_bad_input():
    s = EmbeddingSet.from_vectors(["a", "b"], [[1.0, 0.0], [0.0, 1.0]])
    assert s.neighbors("a", k=5)[0].text == "b"
    with pytest.raises(ValueError, match="no model"):
        s.add(["c"])
    with pytest.raises(ValueError, match="one vector per text"):
        EmbeddingSet.from_vectors(["a"], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="one label per text"):
        EmbeddingSet.from_vectors(["a"], [[1.0]], labels=["x", "y"])
    with pytest.raises(KeyError, match="not a text of this set"):
        s.neighbors("zzz")
    with pytest.raises(TypeError, match="texts must be strings"):
        EmbeddingSet([1, 2], model=None)


def test_no_server_is_a_typed_error():
    spec = ModelSpec(kind="embeddings", model=EMBED, base_url="http://127.0.0.1:9")
    with pytest.raises(ServerUnavailableError, match="No Ollama server answers"):
        EmbeddingSet(["hello"], spec)
