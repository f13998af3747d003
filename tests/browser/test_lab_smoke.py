"""The browser test infrastructure works: widgets render, clicks reach the kernel, files save."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.browser

# A minimal anywidget: its root exposes the `state` trait as data-state, and its button
# bumps `clicks`, which the kernel answers by setting `state` (a full round trip).
PROBE = '''
import anywidget
import traitlets


class Probe(anywidget.AnyWidget):
    """Shows `state` as data-state; its button counts clicks in the kernel."""

    _esm = """
    function render({ model, el }) {
      const root = document.createElement("div");
      root.className = "probe";
      const button = document.createElement("button");
      button.className = "probe-button";
      button.textContent = "click";
      button.addEventListener("click", () => {
        model.set("clicks", model.get("clicks") + 1);
        model.save_changes();
      });
      const show = () => {
        root.dataset.state = model.get("state");
        root.textContent = `state: ${model.get("state")}`;
      };
      model.on("change:state", show);
      show();
      el.append(root, button);
    }
    export default { render };
    """
    state = traitlets.Unicode("idle").tag(sync=True)
    clicks = traitlets.Int(0).tag(sync=True)

    @traitlets.observe("clicks")
    def _clicked(self, change):
        self.state = f"clicked-{change['new']}"


probe = Probe()
probe
'''


def smoke_notebook() -> nbformat.NotebookNode:
    """A slider, the probe widget, and a cell that reports what the kernel sees (the probe, OLLAMA_HOST)."""
    return new_notebook(
        cells=[
            new_code_cell("import ipywidgets\nipywidgets.IntSlider(value=7, description='seven')"),
            new_code_cell(PROBE),
            new_code_cell(
                "import os\n"
                "print(f'kernel sees clicks={probe.clicks} state={probe.state}')\n"
                "print('OLLAMA_HOST=' + os.environ['OLLAMA_HOST'])"
            ),
        ]
    )


def test_widgets_round_trip_save_and_export(jupyterlab, lab_page, server_url, tmp_path):
    name = jupyterlab.add_notebook(smoke_notebook(), "smoke.ipynb")
    lab_page.open(name)
    lab_page.run_all()
    assert lab_page.wait_run_done()

    slider = lab_page.wait_for(".jupyter-widgets.widget-slider")
    assert "seven" in slider.inner_text()
    lab_page.wait_for('.probe[data-state="idle"]')

    # The click travels to the kernel, whose observer answers with a new state.
    before = lab_page.traffic.snapshot()
    lab_page.page.click(".probe-button")
    lab_page.wait_for('.probe[data-state="clicked-1"]')
    click = lab_page.traffic.since(before)
    assert click.frames_sent >= 1
    assert click.frames_received >= 1
    assert lab_page.traffic.bytes > 0

    lab_page.run_cell(2)
    assert lab_page.wait_run_done()
    lab_page.wait_for("text=kernel sees clicks=1 state=clicked-1")
    lab_page.screenshot(tmp_path / "smoke.png")

    lab_page.save()
    saved = jupyterlab.read_notebook(name)
    slider_out, probe_out, report_out = (cell.outputs for cell in saved.cells)
    assert "application/vnd.jupyter.widget-view+json" in slider_out[0].data
    assert "application/vnd.jupyter.widget-view+json" in probe_out[0].data
    # Kernels started by JupyterLab use this session's embedded server.
    report = "".join(output.text for output in report_out)
    assert report == f"kernel sees clicks=1 state=clicked-1\nOLLAMA_HOST={server_url}\n"

    html = jupyterlab.nbconvert_html(name, tmp_path).read_text()
    assert "kernel sees clicks=1 state=clicked-1" in html
