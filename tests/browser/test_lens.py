"""StreamView's token lens in a real JupyterLab: the toggle shades tokens while the answer
streams, focus and hover show a token's alternatives, and picking one (keyboard) opens a
branch beside the original that starts from the alternative; the saved notebook keeps
the shading and both columns."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.browser

VIEW = ".llnb-stream"


def lens_notebook():
    return new_notebook(
        cells=[
            new_code_cell(
                "from localllm_nb import ModelSpec\n"
                "from localllm_nb.widgets import StreamView\n"
                "view = StreamView(ModelSpec(model='smollm2:135m', num_predict=24, "
                "temperature=0, logprobs=True, top_logprobs=5))\n"
                "view"
            ),
            new_code_cell("run = view.run('Write a story about a dragon.')"),
            new_code_cell(
                "b = view.branch_run.wait(120) and view.branch_run\n"
                "assert view.lens and b.status == 'done'\n"
                "print(repr(view.branch_state['alternative']), repr(b.content[:20]))"
            ),
        ]
    )


def test_lens_shades_while_streaming_shows_alternatives_and_branches(
    jupyterlab, lab_page, tmp_path
):
    name = jupyterlab.add_notebook(lens_notebook(), "lens.ipynb")
    lab_page.open(name)
    page = lab_page.page
    lab_page.run_cell(0)
    assert lab_page.wait_run_done()
    lab_page.wait_for(f'{VIEW}[data-state="idle"]')
    view = page.locator(VIEW).first
    # The toggle is a labelled checkbox, reached and switched from the keyboard.
    toggle = view.get_by_label("Token lens")
    toggle.focus()
    page.keyboard.press("Space")
    assert toggle.is_checked()
    # Note whether shaded tokens were on screen while the run was still streaming.
    page.evaluate(
        """() => { const v = document.querySelector('.llnb-stream');
            window.llnbShadedLive = false;
            new MutationObserver(() => {
              if (v.dataset.state === 'running' && v.querySelector('.llnb-answer .llnb-tok'))
                window.llnbShadedLive = true;
            }).observe(v, {subtree: true, childList: true, attributes: true}); }"""
    )
    lab_page.run_cell(1)
    assert lab_page.wait_run_done()
    lab_page.wait_done(".llnb-stream", timeout=120_000)
    assert page.evaluate("window.llnbShadedLive") is True
    assert "llnb-lens-on" in (view.get_attribute("class") or "")
    tokens = view.locator(".llnb-answer .llnb-tok")
    assert tokens.count() >= 10
    assert len({tokens.nth(i).get_attribute("data-b") for i in range(tokens.count())}) >= 2
    assert int(view.locator(".llnb-chart").get_attribute("data-entropy")) >= 10

    # Keyboard: focusing the answer focuses its first token and shows its alternatives.
    view.locator(".llnb-answer").focus()
    pop = view.locator(".llnb-lens-pop")
    pop.wait_for(state="visible")
    page.wait_for_function("() => document.activeElement.classList.contains('llnb-tok')")
    assert page.evaluate("document.activeElement.dataset.i") == tokens.nth(0).get_attribute(
        "data-i"
    )
    page.keyboard.press("ArrowRight")
    second = tokens.nth(1)
    assert page.evaluate("document.activeElement.dataset.i") == second.get_attribute("data-i")
    assert pop.locator(".llnb-alt").count() >= 2
    # Hover shows another token's alternatives.
    tokens.nth(4).hover()
    page.wait_for_function(
        "(i) => document.querySelector('.llnb-lens-pop .llnb-pop-head code').textContent"
        " === JSON.stringify(document.querySelectorAll('.llnb-answer .llnb-tok')[i].textContent)",
        arg=4,
    )
    # Pick an alternative of the second token with the keyboard: Enter enters the list.
    second.focus()
    page.keyboard.press("Enter")
    chosen = page.evaluate("document.activeElement.dataset.alt")
    assert chosen is not None and chosen != second.text_content()
    page.keyboard.press("Enter")
    branch = lab_page.wait_done(".llnb-branch", timeout=120_000)
    assert "llnb-split" in (view.locator(".llnb-columns").get_attribute("class") or "")
    assert branch.locator(".llnb-branch-alt").text_content() == chosen
    start = ""
    for _ in range(300):  # the branch's own text streams in after the chosen token
        start = branch.locator(".llnb-branch-alt").evaluate(
            "m => m.textContent + (m.nextSibling ? m.nextSibling.textContent : '')"
        )
        if len(start) > len(chosen):
            break
        page.wait_for_timeout(100)
    assert start.startswith(chosen) and len(start) > len(chosen)
    # The pick closed the alternatives, and the layout change under the still pointer
    # (left over a token by the hover above) did not open them again over the chart.
    assert pop.is_hidden()
    assert branch.locator(".llnb-branch-prefix").text_content() == tokens.nth(0).text_content()
    # The original is still there, its branch point marked.
    assert tokens.count() >= 10
    assert "llnb-branch-point" in (second.get_attribute("class") or "")
    lab_page.run_cell(2)
    assert lab_page.wait_run_done()
    lab_page.screenshot(tmp_path / "lens.png")

    lab_page.save()
    saved = jupyterlab.read_notebook(name)
    printed = "".join(o.get("text", "") for o in saved.cells[2].outputs)
    assert printed.startswith(repr(chosen))
    html = saved.cells[0].outputs[0]["data"]["text/html"]
    assert 'class="llnb-tok"' in html and "Branch</b> at token" in html
