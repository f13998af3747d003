"""StreamView in a real kernel with the view rendered in JupyterLab (headless Chromium):
tokens/s through the view against a bare `stream_run` in the same kernel, same server,
prompt and seed; and the websocket traffic of a long answer (target: <= 20 messages per
second of generation, <= 400 KB in all for 2,000 tokens); and the same long answer with
the token lens on and `top_logprobs=5` (target: < 1 MB for 2,000 tokens)."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

PAIRS = 7
PAIR_TOKENS = 128
LONG_TOKENS = 2000

SETUP = f"""
import json
from localllm_nb import ModelSpec, build_chat, stream_run
from localllm_nb.widgets import StreamView
spec = ModelSpec(model="smollm2:135m", temperature=0, seed=7, num_predict={PAIR_TOKENS})
chat = build_chat(spec)
PROMPT = "Write a long story about a lighthouse keeper."
view = StreamView(chat)
view
"""
PAIRED = f"""
ratios, bare_tps, view_tps = [], [], []
for i in range({PAIRS}):
    order = ("bare", "view") if i % 2 == 0 else ("view", "bare")
    got = {{}}
    for side in order:
        run = stream_run(chat, PROMPT) if side == "bare" else view.run(PROMPT)
        if side == "view":
            view.wait()
        got[side] = run.stats.client_tps
    bare_tps.append(got["bare"]); view_tps.append(got["view"])
    ratios.append(got["view"] / got["bare"])
print(json.dumps({{"ratios": ratios, "bare": bare_tps, "view": view_tps}}))
"""
LONG = f"""
long = StreamView(ModelSpec(model="smollm2:135m", temperature=0, seed=3, num_predict={LONG_TOKENS}))
long
"""
LONG_RUN = """
# A list the 135M model keeps extending: the answer runs to the 2,000-token cap.
run = long.run("List the numbers from 1 to 1000, separated by commas: 1, 2, 3, 4, 5,")
"""
LONG_REPORT = """
print(json.dumps({"tokens": run.stats.tokens, "duration_s": run.stats.duration_s}))
"""
LENS = f"""
lens = StreamView(ModelSpec(model="smollm2:135m", temperature=0, seed=3, num_predict={LONG_TOKENS},
                            logprobs=True, top_logprobs=5), lens=True)
lens
"""
LENS_RUN = """
lens_run = lens.run("List the numbers from 1 to 1000, separated by commas: 1, 2, 3, 4, 5,")
"""
LENS_REPORT = """
print(json.dumps({"tokens": lens_run.stats.tokens, "duration_s": lens_run.stats.duration_s,
                  "logprobs": len(lens_run.logprobs)}))
"""


def _printed(notebook, index: int) -> dict:
    text = "".join(o.get("text", "") for o in notebook.cells[index].outputs)
    return json.loads(text.strip().splitlines()[-1])


def run() -> dict:
    import httpx
    from playwright.sync_api import sync_playwright

    from localllm_nb.embedded import start_server
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
    from tests.browser.lab import start_jupyterlab
    from tests.browser.labpage import LabPage

    server = start_server()
    os.environ["OLLAMA_HOST"] = server.url  # the kernels JupyterLab starts use it
    base = Path(tempfile.mkdtemp(prefix="bench-widgets-"))
    lab = start_jupyterlab(base)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        lab_page = LabPage(page, lab.url)
        cells = [SETUP, PAIRED, LONG, LONG_RUN, LONG_REPORT, LENS, LENS_RUN, LENS_REPORT]
        name = lab.add_notebook(new_notebook(cells=[new_code_cell(c) for c in cells]), "b.ipynb")
        lab_page.open(name)
        for index in (0, 1, 2):
            lab_page.run_cell(index)
            lab_page.wait_run_done(timeout=1_800_000)
        page.wait_for_function(
            "() => (document.querySelectorAll('.llnb-stream')[1] || {dataset: {}})"
            ".dataset.state === 'idle'"
        )
        before = lab_page.traffic.snapshot()
        started = time.monotonic()
        lab_page.run_cell(3)
        lab_page.wait_run_done()
        page.wait_for_function(
            "() => ['done','stopped','error'].includes("
            "document.querySelectorAll('.llnb-stream')[1].dataset.state)",
            timeout=1_800_000,
        )
        traffic = lab_page.traffic.since(before)
        wall = time.monotonic() - started
        lab_page.run_cell(4)
        lab_page.wait_run_done()
        lens_traffic = _long_run(lab_page, page, 2, 5)
        lab_page.save()
        saved = lab.read_notebook(name)
        browser.close()
        # What the server chose for prompts (`threads.batch_threads`) beside the browser.
        models = httpx.get(server.url + "/api/ps", timeout=30).json()["models"]
        threads = {m["name"]: (m["num_thread"], m.get("num_thread_batch")) for m in models}
    finally:
        playwright.stop()
        lab.stop()
        server.stop()
    paired = _printed(saved, 1)
    long = _printed(saved, 4)
    lens = _printed(saved, 7)
    seconds = long["duration_s"] or wall
    return {
        "tps_ratio_view_over_bare (>= 0.97)": round(statistics.median(paired["ratios"]), 3),
        "tps_bare_median": round(statistics.median(paired["bare"]), 1),
        "tps_view_median": round(statistics.median(paired["view"]), 1),
        "server_threads_decode_prompt": " ".join(f"{d}/{p}" for d, p in threads.values()),
        "pairs": PAIRS,
        "long_tokens": long["tokens"],
        "long_seconds": round(seconds, 1),
        "ws_frames_from_kernel": traffic.frames_received,
        "ws_messages_per_s (<= 20)": round(traffic.frames_received / seconds, 1),
        "ws_kb_total (<= 400 for 2,000 tokens)": round(traffic.bytes / 1024, 1),
        "ws_kb_per_1000_tokens": round(traffic.bytes / 1024 / max(1, long["tokens"]) * 1000, 1),
        "lens_tokens": lens["tokens"],
        "lens_logprob_entries": lens["logprobs"],
        "lens_ws_kb_per_2000_tokens (< 1024)": round(
            lens_traffic.bytes / 1024 / max(1, lens["tokens"]) * 2000, 1
        ),
        "lens_ws_frames_from_kernel": lens_traffic.frames_received,
    }


def _long_run(lab_page, page, view: int, cell: int):
    """Display view `view` (cell `cell`), run the next cell and return the websocket
    traffic from the run's start until the view shows its end."""
    lab_page.run_cell(cell)
    lab_page.wait_run_done()
    page.wait_for_function(
        f"() => (document.querySelectorAll('.llnb-stream')[{view}] || {{dataset: {{}}}})"
        ".dataset.state === 'idle'"
    )
    before = lab_page.traffic.snapshot()
    lab_page.run_cell(cell + 1)
    lab_page.wait_run_done()
    page.wait_for_function(
        "(i) => ['done','stopped','error'].includes("
        "document.querySelectorAll('.llnb-stream')[i].dataset.state)",
        arg=view,
        timeout=1_800_000,
    )
    traffic = lab_page.traffic.since(before)
    lab_page.run_cell(cell + 2)
    lab_page.wait_run_done()
    return traffic
