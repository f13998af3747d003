"""EmbeddingExplorer and Compare in a real JupyterLab: points drawn, hover shows a text,
a click lists neighbours, a box selection reaches Python; Compare runs two specs with
per-column figures, Stop all stops every column; saved notebooks carry the snapshots."""

from __future__ import annotations

import json
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

EXPLORER = ".llnb-explorer"

TEXTS = [
    "The cat sat on the mat.",
    "A kitten sleeps on a rug.",
    "Dogs love long walks.",
    "Stock markets fell sharply today.",
    "Shares dropped as investors worried.",
    "The central bank raised rates.",
    "The recipe needs two eggs and flour.",
    "Bake the cake for forty minutes.",
]
LABELS = ["pets"] * 3 + ["finance"] * 3 + ["cooking"] * 2


def explorer_notebook() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_code_cell(
                "from localllm_nb.widgets import EmbeddingExplorer\n"
                f"explorer = EmbeddingExplorer({TEXTS!r}, labels={LABELS!r})\n"
                "explorer"
            ),
            new_code_cell("import json; print(json.dumps(explorer.view))"),
            new_code_cell("print(json.dumps(explorer.selection))"),
            new_code_cell("explorer  # a second view of the same explorer"),
        ]
    )


def screen(page, index: int) -> tuple[float, float]:
    box = page.locator(f"{EXPLORER} .llnb-map").bounding_box()
    x, y = page.evaluate(
        "(i) => document.querySelector('.llnb-explorer .llnb-map').llnbScreen(i)", index
    )
    return box["x"] + x, box["y"] + y


def test_explorer_hover_click_query_selection_and_snapshot(jupyterlab, lab_page, tmp_path):
    name = jupyterlab.add_notebook(explorer_notebook(), "explorer.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_cell(0)
    assert lab_page.wait_run_done(timeout=120_000)
    view = lab_page.wait_for(f'{EXPLORER}[data-state="drawn"]')
    assert view.get_attribute("data-points") == "8"
    assert view.locator(".llnb-map").get_attribute("data-drawn") == "8"
    assert not view.locator(".llnb-heatmap").is_hidden()  # 8 texts: heatmap first
    assert "pets" in view.locator(".llnb-legend").inner_text()

    # Hover shows the text.
    page.mouse.move(*screen(page, 3))
    tip = view.locator(".llnb-tip")
    tip.wait_for(state="visible", timeout=5_000)
    assert TEXTS[3] in tip.inner_text() and "finance" in tip.inner_text()

    # Click lists neighbours (ranked in the kernel, in the original space).
    page.mouse.click(*screen(page, 0))
    page.wait_for_function(
        "() => document.querySelectorAll('.llnb-explorer .llnb-neighbor').length > 0",
        timeout=30_000,
    )
    assert view.get_attribute("data-focus") == "0"
    listed = view.locator(".llnb-neighbors").inner_text()
    assert "Nearest to" in listed and TEXTS[0][:20] in listed
    first = view.locator(".llnb-neighbor").first.get_attribute("data-index")
    assert first in {"1", "2"}  # another pet sentence

    # The query box: a sentence lands and lists its neighbours.
    query = view.locator(".llnb-query")
    query.fill("Interest rates and inflation")
    query.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.llnb-explorer .llnb-neighbors').textContent"
        ".includes('your query')",
        timeout=30_000,
    )
    assert "finance" in view.locator(".llnb-neighbor").first.inner_text()

    # Search: a regular expression highlights the matching texts; a bad one is said.
    search = view.locator(".llnb-search")
    view.locator(".llnb-regex").check()
    search.fill("cat|cake")
    search.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.llnb-explorer').dataset.matches === '2'", timeout=30_000
    )
    assert "2 of 8 texts match" in view.locator(".llnb-search-info").inner_text()
    search.fill("(cat")
    search.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.llnb-search-info').textContent"
        ".startsWith('not a regular expression')",
        timeout=30_000,
    )
    assert view.get_attribute("data-matches") == "0"

    # Zoom: the wheel changes the view, which reaches Python. (First let the display
    # update that follows the query re-create the view, as JupyterLab does.)
    page.wait_for_timeout(1_500)
    view.locator(".llnb-map").scroll_into_view_if_needed()
    box = view.locator(".llnb-map").bounding_box()
    before = view.get_attribute("data-view")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        f"() => document.querySelector('.llnb-explorer').dataset.view !== {before!r}",
        timeout=10_000,
    )
    u0, u1, _, _ = (float(v) for v in view.get_attribute("data-view").split(","))
    assert u1 - u0 < 1.0  # closer than the whole map
    page.wait_for_timeout(800)  # the view is sent when the wheel pauses
    lab_page.run_cell(1)
    assert lab_page.wait_run_done()

    # A box around the whole map (after resetting the view) selects every point.
    view.locator(".llnb-reset").click()
    view.locator(".llnb-mode-box").click()
    view.locator(".llnb-map").scroll_into_view_if_needed()
    box = view.locator(".llnb-map").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=4)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.llnb-explorer').dataset.selected === '8'", timeout=30_000
    )
    assert "8 selected" in view.locator(".llnb-selinfo").inner_text()

    # A lasso around one point selects it; Python sees explorer.selection.
    view.locator(".llnb-mode-lasso").click()
    x, y = screen(page, 3)
    page.mouse.move(x - 4, y - 4)
    page.mouse.down()
    for dx, dy in ((5, -5), (5, 5), (-5, 5), (-6, -4)):
        page.mouse.move(x + dx, y + dy, steps=2)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.llnb-explorer').dataset.selected !== '8'", timeout=30_000
    )
    chosen = int(view.get_attribute("data-selected"))
    lab_page.screenshot(tmp_path / "explorer.png")
    lab_page.run_cell(2)
    assert lab_page.wait_run_done()
    page.wait_for_timeout(1_000)  # the display update after the last click is debounced
    lab_page.save()
    saved = jupyterlab.read_notebook(name)
    shown = json.loads("".join(o.get("text", "") for o in saved.cells[1].outputs).strip())
    assert len(shown) == 4 and shown[1] - shown[0] > 0
    selection = json.loads("".join(o.get("text", "") for o in saved.cells[2].outputs).strip())
    assert 3 in selection and len(selection) == chosen < 8
    data = saved.cells[0].outputs[-1]["data"]
    assert '<img alt="cosine similarity heatmap"' in data["text/html"]
    assert "Nearest to query" in data["text/html"]

    # A view built anew (JupyterLab rebuilds views; here a second one) shows the last
    # search as the first was left: the text, the regex box and what the search said.
    lab_page.run_cell(3)
    assert lab_page.wait_run_done()
    second = page.locator(EXPLORER).nth(1)
    second.wait_for()
    assert second.locator(".llnb-search").input_value() == "(cat"
    assert second.locator(".llnb-regex").is_checked()
    expect(second.locator(".llnb-search-info")).to_contain_text("not a regular expression")


def compare_notebook(server_url: str) -> nbformat.NotebookNode:
    spec = "ModelSpec(model='smollm2:135m', temperature=0, seed=1, num_predict=4)"
    return new_notebook(
        cells=[
            new_code_cell(
                "from localllm_nb import ModelSpec\n"
                "from localllm_nb.widgets import Compare\n"
                f"spec = {spec}\n"
                "compare = Compare([spec, spec.replace(temperature=1.0)], 'Say hi.', "
                "show_logprobs=True)\n"
                "compare"
            ),
            new_code_cell(
                "long = spec.replace(num_predict=2000)\n"
                "stopper = Compare([long, long.replace(seed=2)], 'Write a long story.', "
                "concurrency=2)\n"
                "stopper"
            ),
        ]
    )


def test_compare_two_columns_figures_stop_all_and_snapshot(
    jupyterlab, lab_page, server_url, tmp_path
):
    name = jupyterlab.add_notebook(compare_notebook(server_url), "compare.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_cell(0)
    assert lab_page.wait_run_done()
    bar = lab_page.wait_done(".llnb-compare", timeout=300_000)
    assert bar.locator("th[scope=col]").count() == 2
    assert bar.locator('td[data-figure="client_tps"]').count() == 2
    assert bar.locator("td.llnb-best").count() >= 3  # TTFT, tokens/s, total at least
    assert "one run at a time per server" in bar.locator(".llnb-compare-mode").inner_text()
    # show_logprobs: each column's mean logprob and perplexity as rows of the bar.
    means = bar.locator('td[data-figure="mean_logprob"]')
    assert means.count() == 2 and bar.locator('td[data-figure="perplexity"]').count() == 2
    shown_means = [means.nth(i).inner_text() for i in range(2)]
    assert all(float(m) <= 0 for m in shown_means)
    streams = page.locator(".llnb-stream")
    assert [streams.nth(i).get_attribute("data-state") for i in range(2)] == ["done", "done"]

    # Stop all: both columns generate at once (concurrency=2); one click stops both.
    lab_page.run_cell(1)
    assert lab_page.wait_run_done()
    page.wait_for_function(
        "() => { const s = document.querySelectorAll('.llnb-stream');"
        " return s.length === 4 && s[2].dataset.state === 'running'"
        " && s[3].dataset.state === 'running'; }",
        timeout=300_000,
    )
    page.locator(".llnb-compare").nth(1).locator(".llnb-stop-all").click()
    page.wait_for_function(
        "() => { const s = document.querySelectorAll('.llnb-stream');"
        " const c = document.querySelectorAll('.llnb-compare')[1];"
        " return s[2].dataset.state === 'stopped' && s[3].dataset.state === 'stopped'"
        " && c.dataset.state === 'stopped'; }",
        timeout=30_000,
    )
    lab_page.screenshot(tmp_path / "compare.png")
    # Each snapshot draws its columns' charts after the view shows the end (a few seconds
    # on a busy machine): save until both are in the file.
    first, second = saved_snapshots(jupyterlab, lab_page, name, cells=(0, 1))
    assert "llnb-compare-table" in first and "TTFT" in first and "done" in first
    assert "mean logprob" in first and all(m in first for m in shown_means)
    assert "stopped" in second
    assert first.count("data:image/png;base64,") == 2  # each column's token-rate chart


def saved_snapshots(jupyterlab, lab_page, name, cells, timeout=120.0) -> list[str]:
    """Save the notebook until the last output of each of `cells` carries its text/html."""
    deadline = time.monotonic() + timeout
    while True:
        lab_page.save()
        saved = jupyterlab.read_notebook(name)
        html = [saved.cells[i].outputs[-1].get("data", {}).get("text/html") for i in cells]
        if all(html) or time.monotonic() > deadline:
            assert all(html), f"no snapshot saved after {timeout:.0f} s: {html}"
            return html
        lab_page.page.wait_for_timeout(1_000)


def test_explorer_map_legend_and_the_saved_picture_as_last_shown(jupyterlab, lab_page):
    """300 vectors in 3 labelled clusters: the legend hides a label, the chat model names
    the clusters, a zoom changes the view, and the saved notebook keeps the map's picture
    as the browser last showed it, with the cluster names."""
    make = (
        "import numpy as np\n"
        "from localllm_nb.vectors import EmbeddingSet\n"
        "from localllm_nb.widgets import EmbeddingExplorer\n"
        "rng = np.random.default_rng(0)\n"
        "which = np.arange(300) % 3\n"
        "vectors = np.eye(8)[which] * 4 + rng.normal(size=(300, 8))\n"
        "data = EmbeddingSet.from_vectors([f'text {i}' for i in range(300)], vectors,\n"
        "                                 labels=[f'group {c}' for c in which])\n"
        "explorer = EmbeddingExplorer(data)\n"
        "explorer"
    )
    cells = [new_code_cell(make), new_code_cell("naming = explorer.name_clusters(k=3)")]
    name = jupyterlab.add_notebook(new_notebook(cells=cells), "map.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_cell(0)
    assert lab_page.wait_run_done(timeout=120_000)
    view = lab_page.wait_for(f'{EXPLORER}[data-state="drawn"]')
    assert view.get_attribute("data-points") == "300"
    # Hiding a label: its points are no longer picked under the pointer.
    x, y = screen(page, 0)  # a point of group 0
    page.mouse.move(x, y)
    page.wait_for_function("() => document.querySelector('.llnb-explorer').dataset.hover === '0'")
    item = view.locator('.llnb-legend-item[data-code="1"]')
    label = item.inner_text().strip()
    item.click()
    assert item.get_attribute("aria-pressed") == "false"
    page.mouse.move(x + 1, y)
    hovered = int(view.get_attribute("data-hover"))
    assert hovered == -1 or hovered % 3 != 0, label
    # Clusters named by the embedded server's chat model appear on the map.
    lab_page.run_cell(1)
    page.wait_for_function(
        "() => document.querySelector('.llnb-explorer').dataset.naming === 'done'",
        timeout=180_000,
    )
    assert view.get_attribute("data-clusters") == "3"
    assert "smollm2:135m" in view.locator(".llnb-naming-info").text_content()
    # Zoom with the keyboard, then let the view rest: the picture goes to the kernel.
    view.locator(".llnb-map").focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.wait_for_timeout(3_000)
    lab_page.save()
    saved = jupyterlab.read_notebook(name)
    html = saved.cells[0].outputs[-1]["data"]["text/html"]
    assert '<img alt="2-D map as last shown' in html and "Clusters named by smollm2:135m" in html
