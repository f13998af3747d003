"""EmbeddingExplorer at 5,000 and 50,000 points, measured side by side in one run.

- Kernel: building the explorer from vectors already embedded (PCA projection, label
  codes, the map and texts as binary buffers), beside the bare PCA projection as the
  baseline; bytes of the widget state (binary buffers + JSON).
- Browser (JupyterLab in headless Chromium): first render (decode + lay out + draw all
  points) as the view reports it in `data-render-ms`, and the websocket bytes from the
  kernel for the cell that displays it. Target: smooth at 5,000, usable at 50,000.
- A click: time from the click to the neighbour list in the page (kernel ranks 50,000
  rows in the original space).

Vectors are synthetic (20 Gaussian clusters in 384 dimensions, the MiniLM size), so the
figures measure the explorer, not an embedding server.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from nbformat.v4 import new_code_cell, new_notebook

SIZES = (5_000, 50_000)
DIM = 384

MAKE = """
import json, time
import numpy as np
from localllm_nb.vectors import EmbeddingSet
from localllm_nb.widgets import EmbeddingExplorer
DIM = {dim}
{synthetic}
sets = {{n: synthetic(n) for n in {sizes}}}
"""
SHOW = """
started = time.perf_counter()
explorer_{n} = EmbeddingExplorer(sets[{n}])
print(json.dumps({{"kernel_s": time.perf_counter() - started}}))
explorer_{n}
"""


def synthetic(n: int, dim: int = DIM, clusters: int = 20, seed: int = 0):
    from localllm_nb.vectors import EmbeddingSet

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    vectors = centres[which] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    texts = [f"synthetic text number {i} in cluster {c}" for i, c in enumerate(which)]
    return EmbeddingSet.from_vectors(texts, vectors, labels=[f"c{c}" for c in which])


def kernel_figures(n: int) -> dict:
    from ipywidgets.widgets.widget import _remove_buffers

    from localllm_nb.vectors import pca_2d
    from localllm_nb.widgets import EmbeddingExplorer

    data = synthetic(n)
    started = time.perf_counter()
    pca_2d(data.vectors)
    bare = time.perf_counter() - started
    fresh = synthetic(n)  # no memoised projection
    started = time.perf_counter()
    explorer = EmbeddingExplorer(fresh)
    build = time.perf_counter() - started
    state, _paths, buffers = _remove_buffers(explorer.get_state())
    started = time.perf_counter()
    explorer.show_neighbors(0)
    click = time.perf_counter() - started
    return {
        f"kernel_build_s_{n}": round(build, 3),
        f"kernel_bare_pca_s_{n}": round(bare, 3),
        f"kernel_build_over_pca_{n}": round(build / bare, 2) if bare else None,
        f"state_binary_kb_{n}": round(sum(len(b) for b in buffers) / 1024, 1),
        f"state_json_kb_{n}": round(len(json.dumps(state)) / 1024, 1),
        f"kernel_neighbours_s_{n}": round(click, 4),
    }


def browser_figures() -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
    from tests.browser.lab import start_jupyterlab
    from tests.browser.labpage import LabPage

    base = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    lab = start_jupyterlab(base)
    playwright = sync_playwright().start()
    out: dict = {}
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        lab_page = LabPage(page, lab.url)
        make = MAKE.format(dim=DIM, sizes=SIZES, synthetic=inspect.getsource(synthetic))
        cells = [make] + [SHOW.format(n=n) for n in SIZES]
        name = lab.add_notebook(new_notebook(cells=[new_code_cell(c) for c in cells]), "e.ipynb")
        lab_page.open(name)
        lab_page.run_cell(0)
        lab_page.wait_run_done(timeout=600_000)
        for index, n in enumerate(SIZES, start=1):
            before = lab_page.traffic.snapshot()
            lab_page.run_cell(index)
            lab_page.wait_run_done(timeout=600_000)
            view = page.locator(f'.llnb-explorer[data-points="{n}"][data-state="drawn"]')
            view.wait_for(timeout=300_000)
            traffic = lab_page.traffic.since(before)
            out[f"browser_first_render_ms_{n}"] = int(view.get_attribute("data-render-ms"))
            out[f"ws_kb_from_kernel_{n}"] = round(traffic.bytes_received / 1024, 1)
            view.scroll_into_view_if_needed()
            canvas = view.locator(".llnb-map")
            box = canvas.bounding_box()
            x, y = canvas.evaluate("(c) => c.llnbScreen(0)")
            started = time.monotonic()
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.wait_for_function(
                f"""() => document.querySelector('.llnb-explorer[data-points="{n}"]')
                    .querySelectorAll('.llnb-neighbor').length > 0""",
                timeout=60_000,
            )
            out[f"click_to_neighbours_ms_{n}"] = round((time.monotonic() - started) * 1000)
            started = time.monotonic()
            for i in range(20):  # hover sweep: 20 moves across the map
                page.mouse.move(box["x"] + 20 + i * (box["width"] - 40) / 20, box["y"] + y)
            out[f"hover_move_ms_{n}"] = round((time.monotonic() - started) * 1000 / 20, 1)
            shot = Path("bench-results") / f"explorer-{n}.png"  # for a person to look at
            shot.parent.mkdir(exist_ok=True)
            view.screenshot(path=str(shot))
        lab_page.save()
        saved = lab.read_notebook(name)
        for index, n in enumerate(SIZES, start=1):
            printed = "".join(o.get("text", "") for o in saved.cells[index].outputs)
            out[f"kernel_build_in_lab_s_{n}"] = round(json.loads(printed)["kernel_s"], 3)
        browser.close()
    finally:
        playwright.stop()
        lab.stop()
    return out


def run() -> dict:
    figures: dict = {}
    for n in SIZES:
        figures.update(kernel_figures(n))
    os.environ.setdefault("OLLAMA_HOST", "http://127.0.0.1:9")  # no server needed
    figures.update(browser_figures())
    return figures
