"""StreamView and the playground in a real JupyterLab: live text, thinking panel, chart,
Stop, errors, the prompt box, and the snapshot a saved notebook keeps."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
VIEW = ".llnb-stream"


def stream_notebook(server_url: str) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_code_cell(
                "from localllm_nb import ModelSpec\n"
                "from localllm_nb.widgets import StreamView\n"
                "think = StreamView(ModelSpec(model='smollm2:135m-think', reasoning='low', "
                "num_predict=120, temperature=0.7, seed=1))\n"
                "think"
            ),
            new_code_cell("run = think.run('Tell me about cats.')"),
            new_code_cell(
                "long = StreamView(ModelSpec(model='smollm2:135m', num_predict=3000, "
                "temperature=0.8))\nlong"
            ),
            new_code_cell("long_run = long.run('Write a very long story about the sea.')"),
            new_code_cell(
                "broken = StreamView(ModelSpec(model='smollm2:135m', "
                "base_url='http://127.0.0.1:9'))\nbroken"
            ),
            new_code_cell("broken.run('Hi')"),
        ]
    )


def state_of(lab_page, index: int) -> str:
    return lab_page.page.locator(VIEW).nth(index).get_attribute("data-state")


def test_stream_view_live_thinking_chart_stop_error_and_snapshot(
    jupyterlab, lab_page, server_url, tmp_path
):
    name = jupyterlab.add_notebook(stream_notebook(server_url), "stream.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_cell(0)
    assert lab_page.wait_run_done()
    lab_page.wait_for(f'{VIEW}[data-state="idle"]')
    lab_page.run_cell(1)  # returns at once: the run goes on off the cell
    assert lab_page.wait_run_done()

    # Thinking streams first, in its open panel.
    think = page.locator(VIEW).nth(0)
    page.wait_for_function(
        """() => { const v = document.querySelectorAll('.llnb-stream')[0];
            const d = v.querySelector('.llnb-thinking');
            return v.dataset.state === 'running' && !d.hidden && d.open
              && d.querySelector('.llnb-thinking-text').textContent.length > 0; }""",
        timeout=120_000,
    )
    # Then the answer: the panel folds and says how long the model thought.
    page.wait_for_function(
        """() => { const v = document.querySelectorAll('.llnb-stream')[0];
            return v.dataset.state === 'done'; }""",
        timeout=180_000,
    )
    details = think.locator(".llnb-thinking")
    assert details.evaluate("d => d.open") is False
    assert details.locator("summary").inner_text().startswith("Thought for ")
    assert think.locator(".llnb-answer").inner_text().strip()
    assert int(think.locator(".llnb-chart").get_attribute("data-points")) > 5
    # The server's own rate comes with the final figures, just after the final frame.
    expect(think.locator(".llnb-stats")).to_contain_text("server", timeout=30_000)
    assert think.get_attribute("data-seq") != "0" and think.get_attribute("data-run-id") != "0"

    # A long run: the text grows while it runs, Stop ends it and keeps the text.
    lab_page.run_cell(2)
    assert lab_page.wait_run_done()
    lab_page.run_cell(3)
    assert lab_page.wait_run_done()
    long = page.locator(VIEW).nth(1)
    answer = long.locator(".llnb-answer")
    page.wait_for_function(
        """() => { const v = document.querySelectorAll('.llnb-stream')[1];
            return v.dataset.state === 'running'
              && v.querySelector('.llnb-answer').textContent.length > 20; }""",
        timeout=120_000,
    )
    first = len(answer.inner_text())
    page.wait_for_function(
        f"""() => document.querySelectorAll('.llnb-stream')[1]
              .querySelector('.llnb-answer').textContent.length > {first}""",
        timeout=60_000,
    )
    assert state_of(lab_page, 1) == "running"
    clicked = time.monotonic()
    long.locator(".llnb-stop").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.llnb-stream')[1].dataset.state === 'stopped'",
        timeout=10_000,
    )
    stopped_after = time.monotonic() - clicked
    assert stopped_after < 1.0, f"Stop took {stopped_after:.2f} s"
    kept = answer.inner_text()
    assert len(kept) >= first
    time.sleep(0.5)
    assert answer.inner_text().strip() == kept.strip()  # nothing arrives after the stop

    # An error: one message in the view, no traceback.
    lab_page.run_cell(4)
    assert lab_page.wait_run_done()
    lab_page.run_cell(5)
    assert lab_page.wait_run_done()
    page.wait_for_function(
        "() => document.querySelectorAll('.llnb-stream')[2].dataset.state === 'error'",
        timeout=30_000,
    )
    message = page.locator(VIEW).nth(2).locator(".llnb-error").inner_text()
    assert message.startswith("No Ollama server answers at http://127.0.0.1:9")
    assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
    lab_page.screenshot(tmp_path / "stream-view.png")

    # The saved notebook carries a static snapshot beside each finished view.
    lab_page.save()
    saved = jupyterlab.read_notebook(name)
    outputs = {i: cell.outputs for i, cell in enumerate(saved.cells)}
    think_out = outputs[0][0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in think_out
    assert "<details>" in think_out["text/html"]
    assert '<img alt="tokens/s over the run"' in think_out["text/html"]
    assert "stopped" in outputs[2][0]["data"]["text/html"]
    assert "No Ollama server answers" in outputs[4][0]["data"]["text/html"]
    html = jupyterlab.nbconvert_html(name, tmp_path).read_text()
    assert "Thinking (" in html and "TTFT" in html and "data:image/png;base64" in html


def test_playground_prompt_box_runs_and_history(jupyterlab, lab_page, tmp_path):
    name = jupyterlab.add_notebook(ROOT / "widgets" / "playground.ipynb", "playground.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_all()
    assert lab_page.wait_run_done(timeout=600_000)
    playground_view = page.locator(VIEW).first
    assert playground_view.get_attribute("data-state") == "done"
    assert page.locator(".llnb-history tr").count() == 2  # header + the run sent from code

    # The panel: model picker, badges, grouped parameters, code with a Copy button.
    assert "completion" in page.locator(".llnb-controls").first.inner_text()
    assert "ChatOllama(" in page.locator(".llnb-code").first.inner_text()

    # Typing a prompt and pressing Enter sends it; Shift+Enter adds a line instead.
    box = page.locator(".llnb-prompt-input").first
    box.click()
    box.type("Name a color.")
    box.press("Shift+Enter")
    box.type("Just one.")
    assert "\n" in box.input_value()
    before = playground_view.get_attribute("data-run-id")
    box.press("Enter")
    page.wait_for_function(
        f"""() => {{ const v = document.querySelector('.llnb-stream');
            return v.dataset.runId !== '{before}' && v.dataset.state === 'done'; }}""",
        timeout=180_000,
    )
    assert box.input_value() == ""
    turns = playground_view.locator(".llnb-turn")
    assert turns.count() >= 3  # earlier exchange + the new user turn
    assert "Just one." in turns.last.inner_text()
    page.wait_for_function(
        "() => document.querySelectorAll('.llnb-history tr').length === 3", timeout=10_000
    )
    lab_page.screenshot(tmp_path / "playground.png")
