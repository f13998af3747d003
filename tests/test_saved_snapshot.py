"""A notebook run by a real kernel and converted by `jupyter nbconvert --to html` shows the
StreamView's chart and rendered answer: readers without a kernel pick text/html, so the
snapshot carries the chart inside it."""

from __future__ import annotations

import subprocess
import sys

import nbformat
from html_images import html_pngs
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook


def test_nbconvert_html_of_an_executed_stream_view_shows_its_chart(server_url, tmp_path):
    answer = "**Paris** is the `capital`"
    nb = new_notebook(
        cells=[
            new_code_cell(
                "from localllm_nb import ModelSpec\n"
                "from localllm_nb.widgets import StreamView\n"
                f"view = StreamView(ModelSpec(model='smollm2:135m', base_url={server_url!r}, "
                f"num_predict=60, format={{'type': 'string', 'const': {answer!r}}}))\n"
                "view"
            ),
            new_code_cell("view.run('Capital of France?')\nrun = view.wait(120)\nrun.status"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False).execute()
    snapshot = nb.cells[0].outputs[-1]["data"]["text/html"]
    assert len(html_pngs(snapshot)) == 1
    path = tmp_path / "stream.ipynb"
    nbformat.write(nb, path)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "stream.html").read_text()
    (chart,) = html_pngs(page)
    assert chart == html_pngs(snapshot)[0]
    assert "<strong>Paris</strong> is the <code>capital</code>" in page


def test_compare_and_playground_snapshots_render_markdown_beside_their_charts(server_url):
    from test_widgets import recorded

    from localllm_nb import ModelSpec
    from localllm_nb.widgets import Compare, Playground

    answer = "## Rivers\n- **Nile**"  # JSON-escaped by the schema: one line, `\n` literal
    spec = ModelSpec(
        model="smollm2:135m",
        base_url=server_url,
        num_predict=40,
        format={"type": "string", "const": answer},
    )
    compare = Compare([spec], "Name a river.", repeats=1)
    assert compare.wait(240)
    page = compare.snapshot()["text/html"]
    assert "<strong>Nile</strong>" in page and "**" not in page
    assert len(html_pngs(page)) == 1

    playground = Playground(spec)
    recorded(playground.view)
    playground.prompt.send_text("Name a river.")
    playground.view.wait(120)
    page = playground.display_bundle()["text/html"]
    run, runs_table = page.split("<p><b>Runs</b></p>")  # the table lists the spec as text
    assert "<strong>Nile</strong>" in run and "**" not in run
    assert len(html_pngs(run)) == 1 and "<table class='llnb-history'>" in runs_table
