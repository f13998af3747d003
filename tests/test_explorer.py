"""EmbeddingExplorer in plain pytest with a recording comm: the map goes out once as
binary buffers, clicks and queries come back with neighbours ranked in the original
space, box selections land in `explorer.selection`, the snapshot. Real server."""

from __future__ import annotations

import numpy as np
import pytest
from html_images import html_pngs
from test_widgets import RecordingComm

from localllm_nb.vectors import EmbeddingSet, normalize, top_k
from localllm_nb.vectors.explore import in_box
from localllm_nb.widgets import EmbeddingExplorer
from tests.models import EMBED

TEXTS = [
    "The cat sat on the mat.",
    "A kitten sleeps on a rug.",
    "Stock markets fell sharply today.",
    "Shares dropped as investors worried.",
    "The recipe needs two eggs and flour.",
    "Bake the cake for forty minutes.",
]
LABELS = ["pets", "pets", "finance", "finance", "cooking", "cooking"]


@pytest.fixture(scope="module")
def explorer(server_url):
    return EmbeddingExplorer(TEXTS, EMBED, labels=LABELS)


def test_buffers_sent_once_heatmap_and_labels(explorer):
    assert repr(explorer) == "EmbeddingExplorer(6 texts, dim=384)"
    xy = np.frombuffer(explorer.xy, dtype="<f4").reshape(-1, 2)
    assert np.allclose(xy, explorer.set.projection(), atol=1e-5)
    assert explorer.texts.split(b"\x00")[2].decode() == TEXTS[2]
    assert np.frombuffer(explorer.codes, dtype="<u2").tolist() == [1, 1, 2, 2, 3, 3]
    assert explorer.label_names == ["pets", "finance", "cooking"]
    assert len(explorer.heatmap) == 36 and explorer.heatmap[0] == pytest.approx(1.0, abs=1e-3)
    # The state holds the map as binary buffers, not JSON lists.
    from ipywidgets.widgets.widget import _remove_buffers

    _state, paths, buffers = _remove_buffers(explorer.get_state())
    assert ["xy"] in paths and ["texts"] in paths and ["codes"] in paths
    assert sum(len(b) for b in buffers) < 1000


def test_click_lists_neighbours_from_the_original_space(explorer):
    comm = explorer.comm = RecordingComm()
    comm.receive({"type": "focus", "index": 0})
    assert explorer.focus == 0
    rows = explorer.neighbors
    assert rows[0]["index"] == 1 and rows[0]["label"] == "pets"
    expected = explorer.set.neighbors(0, k=explorer.k)
    assert [r["index"] for r in rows] == [n.index for n in expected]
    assert [r["score"] for r in rows] == pytest.approx([n.score for n in expected], abs=1e-4)
    assert any("neighbors" in u for u in comm.updates())
    assert all("xy" not in u for u in comm.updates())  # the map is not sent again
    comm.receive({"type": "focus", "index": -1})
    assert explorer.focus == -1 and explorer.neighbors == []


def test_query_lands_on_the_map_with_neighbours(explorer):
    explorer.comm = RecordingComm()
    explorer.comm.receive({"type": "query", "text": "My dog loves its bed."})
    assert explorer.query["text"] == "My dog loves its bed." and explorer.error == ""
    assert explorer.neighbors[0]["label"] == "pets"
    html = explorer.snapshot()["text/html"]
    assert "Nearest to query" in html and "My dog loves its bed." in html


def test_selection_from_the_browser_is_validated(explorer):
    explorer.selection = [3, 1, 99, 1]
    assert explorer.selection == [1, 3]


def test_snapshot_heatmap_png_and_neighbour_html(explorer):
    explorer.show_neighbors(2)
    snap = explorer.snapshot()
    assert len(html_pngs(snap["text/html"])) == 1 and "image/png" not in snap
    assert "Stock markets" in snap["text/html"] and "<ol>" in snap["text/html"]


def test_large_sets_skip_the_heatmap_and_rank_row_by_row():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    texts = [f"text {i}" for i in range(3000)]
    explorer = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    assert explorer.heatmap == [] and explorer.count == 3000
    assert len(explorer.xy) == 3000 * 8
    rows = explorer.show_neighbors(5)
    unit = normalize(vectors)
    best = np.argsort(-(unit @ unit[5]))[1]
    assert rows[0]["index"] == best
    assert "no heatmap" in explorer.snapshot()["text/html"]


def colours_in(png: bytes) -> set[str]:
    """The opaque colours of a PNG's pixels, as '#rrggbb'."""
    import io

    from matplotlib.image import imread

    pixels = (imread(io.BytesIO(png))[..., :3] * 255).round().astype(int).reshape(-1, 3)
    return {"#" + "".join(f"{c:02x}" for c in p) for p in np.unique(pixels, axis=0)}


def test_large_map_snapshot_is_coloured_by_label():
    from localllm_nb.plots import GROUP_COLORS

    rng = np.random.default_rng(1)
    centres = np.eye(16, dtype=np.float32)[:3] * 8
    labels = [("pets", "finance", "cooking")[i % 3] for i in range(3000)]
    vectors = centres[[i % 3 for i in range(3000)]] + rng.normal(size=(3000, 16))
    texts = [f"text {i}" for i in range(3000)]
    labelled = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors, labels=labels))
    (png,) = html_pngs(labelled.snapshot()["text/html"])
    # Points drawn at full alpha over white keep their exact colour somewhere (the legend).
    assert set(GROUP_COLORS[:3]) <= colours_in(png)
    plain = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    (png,) = html_pngs(plain.snapshot()["text/html"])
    assert not set(GROUP_COLORS[1:3]) & colours_in(png)


def test_errors_are_one_message(server_url):
    explorer = EmbeddingExplorer(
        EmbeddingSet.from_vectors(["a", "b"], [[1, 0], [0, 1]], model="no-such-model")
    )
    explorer.ask("hello")
    assert explorer.error and "Traceback" not in explorer.error
    with pytest.raises(ValueError, match="labels come with"):
        EmbeddingExplorer(explorer.set, labels=["x", "y"])


def test_pure_helpers():
    unit = normalize([[1, 0], [0, 1], [1, 1]])
    assert [i for i, _ in top_k(np.array([1, 0.1]), unit, k=2, normalized=True)] == [0, 2]
    assert in_box([[0, 0], [5, 5]], -1, -1, 1, 1) == [0]


class CountingEmbedder:
    """Any object with embed_documents works as the model (no server needed)."""

    def embed_documents(self, texts):
        return [[len(t), 1.0 + i % 3] for i, t in enumerate(texts)]

    def embed_query(self, text):
        return [len(text), 1.0]


def test_many_texts_embed_with_a_progress_bar(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda bar: shown.append(bar))
    texts = [f"text number {i}" for i in range(100)]
    explorer = EmbeddingExplorer(texts, CountingEmbedder())
    assert len(shown) == 1
    bar = shown[0]
    assert (bar.value, bar.max, bar.description) == (100, 100, "100/100")
    assert explorer.count == 100 and explorer.heatmap == []  # over 50: no heatmap
