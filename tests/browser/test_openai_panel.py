"""The ControlPanel's backend switch in a real JupyterLab: switched to an OpenAI-compatible
server (llama.cpp's own llama-server behind a key), its fields, URL and password boxes
appear, the models come from the server's /v1/models, the key never reaches the page,
the printed code or the saved notebook, and a run on the spec streams in a StreamView."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PANEL = ".llnb-controls"


def panel_notebook() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_code_cell(
                "from localllm_nb import ModelSpec\n"
                "from localllm_nb.widgets import ControlPanel, StreamView\n"
                "panel = ControlPanel(ModelSpec(model='smollm2:135m', temperature=0, "
                "num_predict=8))\n"
                "panel"
            ),
            new_code_cell("view = StreamView(panel.spec)\nview"),
            new_code_cell("run = view.run('Say hello.')"),
            new_code_cell("print(panel.spec.to_code())\nprint(repr(panel.spec))"),
        ]
    )


def labelled_input(page, label: str):
    """The input of the ipywidgets Text (or Password, Combobox) described as `label`."""
    return page.locator(f'{PANEL} .widget-inline-hbox:has(> label:text-is("{label}")) input')


def test_panel_switches_to_an_openai_server_and_a_run_streams(jupyterlab, lab_page, llama_server):
    name = jupyterlab.add_notebook(panel_notebook(), "openai_panel.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_cell(0)
    assert lab_page.wait_run_done()
    lab_page.wait_for(PANEL)
    key_box = page.locator(f"{PANEL} input[type=password]")
    assert key_box.count() == 1 and key_box.is_hidden()  # Ollama: no key box
    # Every field's row is in the page, open group or not (textContent, not innerText).
    assert "num_ctx" in page.locator(PANEL).text_content()

    # The switch: the key box appears, OpenAI's fields replace Ollama's.
    page.locator(f"{PANEL} .widget-toggle-buttons button", has_text="OpenAI-compatible").click()
    key_box.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => { const t = document.querySelector('.llnb-controls').textContent;"
        " return t.includes('max_tokens') && !t.includes('num_ctx'); }",
        timeout=30_000,
    )
    assert "Enter the server" in page.locator(PANEL).inner_text()

    # The server behind a key: refused, then listed once the key is typed.
    url_box = labelled_input(page, "Server")
    url_box.fill(llama_server.url)
    url_box.press("Enter")
    page.wait_for_function(
        "() => /401|Invalid API Key/.test(document.querySelector('.llnb-controls').innerText)",
        timeout=60_000,
    )
    key_box.fill(llama_server.key)
    key_box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.llnb-controls').innerText.match(/· 1 model(?!s)/)",
        timeout=60_000,
    )
    assert key_box.input_value() == ""  # the key left the box for the spec's SecretStr
    assert "hidden" in key_box.get_attribute("placeholder")
    listed = page.locator(f"{PANEL} datalist option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert listed == [llama_server.model]  # from llama-server's /v1/models
    model_box = labelled_input(page, "Model")
    model_box.fill(llama_server.model)
    model_box.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('.llnb-controls').innerText"
        f".includes(\"model='{llama_server.model}'\")",
        timeout=30_000,
    )
    code = page.locator(f"{PANEL}").inner_text()
    assert "ChatOpenAICompatible(" in code and "max_tokens=8" in code
    assert llama_server.key not in page.content()

    # A run on the panel's spec streams in a StreamView: answer, chart, server usage.
    lab_page.run_cell(1)
    assert lab_page.wait_run_done()
    lab_page.run_cell(2)
    assert lab_page.wait_run_done()
    view = lab_page.wait_done(".llnb-stream")
    assert view.locator(".llnb-answer").inner_text().strip()
    assert int(view.locator(".llnb-chart").get_attribute("data-points")) > 1
    # The final frame marks the view done; the server's usage row comes with the final
    # figures just after it.
    expect(view.locator(".llnb-stats")).to_contain_text("prompt · completion", timeout=30_000)

    # The printed code and the saved notebook keep no key.
    lab_page.run_cell(3)
    assert lab_page.wait_run_done()
    lab_page.wait_for(".jp-OutputArea-output:has-text('api_key')")
    assert llama_server.key not in page.content()
    lab_page.save()
    saved = (jupyterlab.root / name).read_text("utf-8")
    assert "ChatOpenAICompatible(" in saved and "SecretStr('**********')" in saved
    assert llama_server.key not in saved
