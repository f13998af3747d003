"""EmbeddingExplorer in plain pytest with a recording comm: the map goes out once as
binary buffers, clicks and queries come back with neighbours ranked in the original
space, box selections land in `explorer.selection`, the snapshot. Real server."""

from __future__ import annotations

import numpy as np
import pytest
from html_images import html_pngs
from test_widgets import RecordingComm

from localllm_nb.vectors import EmbeddingSet, normalize, top_k
from localllm_nb.vectors import set as set_module
from localllm_nb.vectors.explore import in_box
from localllm_nb.vectors.set import FLOAT32_COPY_BYTES
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
    steps = np.frombuffer(explorer.xy, dtype="<u2").reshape(-1, 2) / 65535
    x0, x1, y0, y1 = explorer.bounds
    xy = np.column_stack([x0 + steps[:, 0] * (x1 - x0), y0 + steps[:, 1] * (y1 - y0)])
    assert np.allclose(xy, explorer.set.projection(), atol=(x1 - x0) / 65535)
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
    assert len(explorer.xy) + len(explorer.codes) == 3000 * 6  # bytes a point
    assert explorer.texts == b""  # over 1,000 texts: sent when asked for
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
    from localllm_nb.vectors.explore import TAB10

    rng = np.random.default_rng(1)
    centres = np.eye(16, dtype=np.float32)[:3] * 8
    labels = [("pets", "finance", "cooking")[i % 3] for i in range(3000)]
    vectors = centres[[i % 3 for i in range(3000)]] + rng.normal(size=(3000, 16))
    texts = [f"text {i}" for i in range(3000)]
    labelled = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors, labels=labels))
    (png,) = html_pngs(labelled.snapshot()["text/html"])
    # Points drawn at full alpha over white keep their exact colour somewhere (the legend).
    assert set(TAB10[:3]) <= colours_in(png)
    plain = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    (png,) = html_pngs(plain.snapshot()["text/html"])
    assert not set(TAB10[1:3]) & colours_in(png)


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


# --- scale, selection, search, colour: pure parts and the widget without a browser ---


def clusters(n: int, dim: int = 32, seed: int = 0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, dim)) * 3
    which = rng.integers(0, 12, n)
    vectors = (centres[which] + rng.normal(size=(n, dim))).astype(dtype)
    return vectors, [f"text {i} of group {c}" for i, c in enumerate(which)], which


def test_projection_by_blocks_matches_an_exact_pca():
    from localllm_nb.vectors import pca_fit
    from localllm_nb.vectors.math import CHUNK, PCA_SAMPLE

    vectors, _, _ = clusters(PCA_SAMPLE + CHUNK + 123)  # a sample of rows, blocks, a partial
    _mean, axes = pca_fit(vectors)
    exact = vectors.astype(np.float64)
    centred = exact - exact.mean(axis=0)
    _, _, vt = np.linalg.svd(centred[::7], full_matrices=False)  # an independent route
    for found, truth in zip(axes.T, vt[:2], strict=True):
        assert abs(float(found @ truth)) > 0.99  # same axis, up to sign
    mine = EmbeddingSet.from_vectors([str(i) for i in range(len(vectors))], vectors).projection()
    exact_map = centred @ axes  # the sample's mean may shift the map a little: compare shapes
    assert np.allclose(mine - mine.mean(axis=0), exact_map - exact_map.mean(axis=0), atol=1e-3)


@pytest.mark.parametrize(
    ("dtype", "copy_limit"),
    [(np.float32, 0), (np.float16, FLOAT32_COPY_BYTES), (np.float16, 0)],
    ids=["float32", "float16-with-float32-copy", "float16-by-blocks"],
)
def test_neighbours_with_kept_norms_match_an_exact_ranking(dtype, copy_limit, monkeypatch):
    monkeypatch.setattr(set_module, "FLOAT32_COPY_BYTES", copy_limit)
    vectors, texts, _ = clusters(30_000, dtype=dtype)
    data = EmbeddingSet.from_vectors(texts, vectors)
    assert data.vectors is vectors  # kept as given: no copy of the rows
    exact = normalize(vectors.astype(np.float64))
    for index in (0, 17, 29_999):
        sims = exact @ exact[index]
        sims[index] = -np.inf
        found = data.neighbors(index, k=10)
        assert [n.index for n in found] == np.argsort(-sims, kind="stable")[:10].tolist()
        assert [n.score for n in found] == pytest.approx(np.sort(sims)[::-1][:10], abs=2e-3)


def test_explorer_memory_beyond_the_vectors_stays_small():
    import tracemalloc

    n = 100_000
    vectors, texts, which = clusters(n, dim=384, dtype=np.float16)
    data = EmbeddingSet.from_vectors(texts, vectors, labels=[f"g{c}" for c in which])
    tracemalloc.start()
    explorer = EmbeddingExplorer(data)
    explorer.comm = RecordingComm()
    explorer.comm.receive({"type": "focus", "index": 3})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert explorer.neighbors and len(explorer.xy) + len(explorer.codes) == 6 * n
    # The budget: the vectors plus under 500 MB at a million, 500 bytes a point,
    # beside the float32 copy for ranking that small float16 sets keep (at most 320 MB).
    copy = vectors.size * 4 if vectors.size * 4 <= FLOAT32_COPY_BYTES else 0
    assert peak - copy < 500 * n, f"{(peak - copy) / n:.0f} bytes a point"


def test_texts_travel_only_when_asked_for():
    vectors, texts, _ = clusters(2_000)
    explorer = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    assert explorer.texts == b""
    comm = explorer.comm = RecordingComm()
    comm.receive({"type": "texts", "ids": [5, 1999, 5000, -1]})
    (answer,) = comm.customs()
    assert answer == {"type": "texts", "ids": [5, 1999], "texts": [texts[5], texts[1999]]}


def test_lasso_from_the_browser_selects_in_python_and_back():
    from matplotlib.path import Path as MplPath

    vectors, texts, which = clusters(5_000)
    explorer = EmbeddingExplorer(
        EmbeddingSet.from_vectors(texts, vectors, labels=[f"g{c}" for c in which])
    )
    xy = explorer.set.projection()
    x0, x1, y0, y1 = explorer.bounds
    at = lambda fx, fy: [x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)]  # noqa: E731
    lasso = [at(0.1, 0.1), at(0.9, 0.15), at(0.5, 0.9), at(0.45, 0.5)]  # not convex
    explorer.comm = RecordingComm()
    explorer.comm.receive({"type": "select", "polygon": lasso})
    expected = np.flatnonzero(MplPath(lasso).contains_points(xy)).tolist()
    assert explorer.selection == expected and 0 < len(expected) < 5_000
    assert np.frombuffer(explorer.selected_ids, "<u4").tolist() == expected
    frame = explorer.selected
    assert frame.index.tolist() == expected and frame["text"].iloc[0] == texts[expected[0]]
    assert frame["label"].iloc[0] == f"g{which[expected[0]]}"
    explorer.selection = [7, 3]  # from Python: the map highlights these
    assert np.frombuffer(explorer.selected_ids, "<u4").tolist() == [3, 7]


def test_linked_explorers_share_selection_and_view():
    vectors, texts, _ = clusters(500)
    data = EmbeddingSet.from_vectors(texts, vectors)
    a, b = EmbeddingExplorer(data), EmbeddingExplorer(data)
    links = a.link(b)
    a.selection = [4, 2]
    assert b.selection == [2, 4] and b.selected_ids == a.selected_ids
    b.view = [0.0, 1.0, -1.0, 2.0]
    assert a.view == [0.0, 1.0, -1.0, 2.0]
    for link in links:
        link.unlink()
    a.selection = [1]
    assert b.selection == [2, 4]
    with pytest.raises(ValueError, match="cannot link"):
        a.link(EmbeddingExplorer(EmbeddingSet.from_vectors(texts[:60], vectors[:60])))


def test_search_substring_regex_and_a_bad_expression():
    from localllm_nb.vectors.explore import search

    texts = ["The Cat sat", "a dog", "cats and dogs", "Catalogue 2024"]
    assert search(texts, "cat").tolist() == [0, 2, 3]
    assert search(texts, r"\bdogs?\b", regex=True).tolist() == [1, 2]
    vectors = np.eye(4, dtype=np.float32)
    explorer = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    explorer.comm = RecordingComm()
    explorer.comm.receive({"type": "search", "pattern": r"\d{4}$", "regex": True})
    assert np.frombuffer(explorer.matches, "<u4").tolist() == [3]
    assert explorer.search_info == "1 of 4 texts match"
    # What was typed is kept for a view built anew (JupyterLab rebuilds views).
    assert (explorer.search_pattern, explorer.search_regex) == (r"\d{4}$", True)
    explorer.comm.receive({"type": "search", "pattern": "([a-z", "regex": True})
    assert explorer.matches == b"" and explorer.search_info.startswith("not a regular expression")
    assert explorer.error == ""  # said beside the search box, not as a failure
    assert explorer.search_pattern == "([a-z"  # a bad expression stays, to be mended
    assert explorer.search("") == [] and explorer.search_info == ""


def test_palette_stays_distinct_then_says_so_and_colours_by_value():
    from localllm_nb.vectors.explore import DISTINCT, palette

    colours = palette(DISTINCT)
    assert len(set(colours)) == DISTINCT
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=float)
    gaps = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1) + np.eye(DISTINCT) * 999
    assert gaps.min() > 25  # no two colours nearly equal
    n = 400
    labels = [f"topic {i % 40}" for i in range(n)]
    vectors, texts, _ = clusters(n)
    explorer = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors, labels=labels))
    assert len(explorer.label_colors) == 40 and "40 labels" in explorer.palette_note
    many = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors, labels=labels[:20] * 20))
    assert many.palette_note == "" and len(set(many.label_colors)) == 20
    explorer.color_by(np.arange(n) / 2.0, "length")
    assert explorer.value_name == "length" and explorer.value_range == [0.0, 199.5]
    assert explorer.values[0] == 0 and explorer.values[-1] == 254
    explorer.color_by(None)
    assert explorer.value_name == "" and explorer.values == b""


def test_snapshot_keeps_the_picture_the_browser_last_showed():
    import base64

    from html_images import html_pngs

    vectors, texts, _ = clusters(300)
    explorer = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    (drawn,) = html_pngs(explorer.snapshot()["text/html"])  # before the browser showed it
    shown = drawn[:8] + b"not really the rest of a png"
    explorer.comm = RecordingComm()
    explorer.comm.receive({"type": "png", "data": base64.b64encode(shown).decode(), "key": "a"})
    again = b"\x89PNG\r\n\x1a\n the same view drawn again by a re-created view"
    explorer.comm.receive({"type": "png", "data": base64.b64encode(again).decode(), "key": "a"})
    explorer.selection = [1, 2, 3]
    html = explorer.snapshot()["text/html"]
    assert html_pngs(html) == [shown] and "as last shown" in html and "3 selected" in html


def test_clusters_by_blocks_match_their_centres_and_get_names_from_the_model(server_url):
    import time

    from localllm_nb.vectors.clusters import kmeans, naming_prompt

    vectors, texts, which = clusters(3_000, dim=16)
    found = kmeans(vectors, k=12)
    # Every row sits in the cluster whose centre is nearest by cosine (an exact check).
    exact = np.argmax(normalize(vectors) @ found.centres.T, axis=1)
    assert (found.labels == exact).all()
    # The planted groups come back: each found cluster is mostly one group.
    purity = sum(np.bincount(which[found.labels == j]).max() for j in range(12)) / 3_000
    assert purity > 0.9
    explorer = EmbeddingExplorer(EmbeddingSet.from_vectors(texts, vectors))
    explorer.comm = RecordingComm()
    thread = explorer.name_clusters("smollm2:135m", k=3, prompt="Name this group: {texts}", per=3)
    thread.join(timeout=300)
    assert explorer.error == "" and explorer.naming["state"] == "done", explorer.error
    assert explorer.naming["model"] == "smollm2:135m"
    assert len(explorer.clusters) == 3 and all(c["final"] and c["name"] for c in explorer.clusters)
    assert sum(c["size"] for c in explorer.clusters) == 3_000
    assert "Clusters named by smollm2:135m" in explorer.snapshot()["text/html"]
    # Cached: the same prompts to the same model are not asked again.
    names = [c["name"] for c in explorer.clusters]
    started = time.monotonic()
    explorer.name_clusters("smollm2:135m", k=3, prompt="Name this group: {texts}", per=3).join(60)
    assert time.monotonic() - started < 5 and [c["name"] for c in explorer.clusters] == names
    assert naming_prompt(["x"], "Q: {texts}") == "Q: - x"
