"""The playground in Jupyter Notebook 7, which many users open instead of JupyterLab: the
notebook runs, a prompt typed in the box streams an answer, and the stats render."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
VIEW = ".llnb-stream"

# Records every state the view shows (state, seq, answer length) from now on.
WATCH_JS = """() => {
  const view = document.querySelector('.llnb-stream');
  const seen = window.__llnbSeen = [];
  const note = () => {
    const answer = view.querySelector('.llnb-answer');
    seen.push([view.dataset.state, Number(view.dataset.seq || 0),
               answer ? answer.textContent.length : 0]);
  };
  new MutationObserver(note).observe(view, {attributes: true, subtree: true,
                                            childList: true, characterData: true});
}"""


def test_playground_in_notebook7_streams_a_typed_prompt(jupyterlab, lab_page, tmp_path):
    name = jupyterlab.add_notebook(ROOT / "widgets" / "playground.ipynb", "playground-nb7.ipynb")
    lab_page.open_notebook7(name)
    page = lab_page.page
    assert page.locator("#main-panel, .jp-NotebookPanel").first.is_visible()
    assert "/notebooks/" in page.url  # Notebook 7's page, not JupyterLab's
    lab_page.run_all()
    assert lab_page.wait_run_done(timeout=600_000)
    view = page.locator(VIEW).first
    assert view.get_attribute("data-state") == "done"  # the run the notebook sends from code

    page.evaluate(WATCH_JS)
    before = view.get_attribute("data-run-id")
    box = page.locator(".llnb-prompt-input").first
    box.click()
    box.type("Tell me about the sea in three sentences.")
    box.press("Enter")
    page.wait_for_function(
        f"""() => {{ const v = document.querySelector('.llnb-stream');
            return v.dataset.runId !== '{before}' && v.dataset.state === 'done'; }}""",
        timeout=300_000,
    )
    seen = page.evaluate("() => window.__llnbSeen")
    final = view.locator(".llnb-answer").last.inner_text()
    assert final.strip()
    # Streamed: the answer was on screen, growing, while the run was still going.
    partial = [length for state, _seq, length in seen if state == "running" and length > 0]
    assert partial and min(partial) < len(final)
    # The final figures come with the run's last trait commit, just after the done frame.
    page.wait_for_function(
        """() => { const v = document.querySelector('.llnb-stream');
            return v.querySelector('.llnb-stats').textContent.includes('TTFT'); }""",
        timeout=30_000,
    )
    stats = view.locator(".llnb-stats").inner_text()
    assert "tokens/s" in stats and "server" in stats
    assert int(view.locator(".llnb-chart").get_attribute("data-points")) > 5
    lab_page.screenshot(tmp_path / "notebook7-playground.png")
