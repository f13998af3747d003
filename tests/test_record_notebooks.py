"""The notebook recorder's own parts: the busy decision, the path scrub, the metadata it
stamps, and the kernel hook that names cells in warnings (tools/record_notebooks.py)."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tools.machine import Limits, Sample, judge, measure
from tools.record_notebooks import KERNEL_STARTUP, Busy, execute, finish, wait_until_idle
from tools.scrub import Roots, machine_paths, scrub_notebook, scrub_text

ROOTS = Roots(repo="/work/clone", home="/home/ann", tmp="/tmp")
IDLE = Sample(cpu_count=2, others_percent=2.0, load1=0.3, decode_tok_s=80.0)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (IDLE, []),
        (Sample(2, 10.0, 2.0, 80.0), []),  # at the limits is still idle
        (Sample(2, 10.1, 0.3, 80.0), ["other processes use 10.1% of the CPU (limit 10.0%)"]),
        (Sample(2, 1.0, 2.5, 80.0), ["load average 2.50 on 2 CPUs (limit 2.00)"]),
        (Sample(8, 1.0, 2.5, 80.0), []),  # the same load on 8 CPUs is light
    ],
)
def test_busy_decision(sample, expected):
    assert judge(sample, Limits()) == expected


def test_slow_decode_is_busy_only_with_a_floor():
    slow = Sample(2, 1.0, 0.1, decode_tok_s=12.0)
    assert judge(slow, Limits()) == []
    assert judge(slow, Limits(min_decode_tok_s=40)) == [
        "the embedded model decodes 12.0 tokens/s (at least 40.0 expected)"
    ]


def test_a_busy_machine_is_refused_with_what_was_measured():
    # Real measurements (psutil, load average); a negative limit makes any machine busy.
    with pytest.raises(Busy) as refused:
        wait_until_idle(None, Limits(max_others_percent=-1), wait=0, every=1, seconds=0.2)
    message = str(refused.value)
    assert message.startswith("Refusing to record: the machine is busy (other processes use")
    assert f"{os.cpu_count()} CPUs" in message and "load " in message
    sample, reasons = wait_until_idle(None, Limits(1e9, 1e9), wait=0, every=1, seconds=0.2)
    assert reasons == [] and sample.cpu_count == os.cpu_count()


def test_measure_times_the_embedded_model(server_url):
    sample = measure(server_url, seconds=0.2)
    assert sample.decode_tok_s > 0 and 0 <= sample.idle_cpu_percent <= 100


def leaky_notebook() -> nbformat.NotebookNode:
    png = "iVBORw0KGgo/root/AAAA+/tmp/x"  # base64 may spell a path: never a finding
    return new_notebook(
        cells=[
            new_code_cell(
                "x",
                outputs=[
                    new_output(
                        "stream",
                        name="stderr",
                        text="/tmp/ipykernel_42/1234.py:2: LangChainBetaWarning: beta\n",
                    ),
                    new_output(
                        "stream",
                        name="stdout",
                        text="smollm2  /work/clone/.venv/lib/python3.11/site-packages/m.gguf\n"
                        "mlx  /home/ann/.cache/localllm_nb/mlx\nsaved /work/clone/notebooks/x.json",
                    ),
                    new_output(
                        "display_data",
                        data={"text/plain": "p", "image/png": png, "text/html": "<p>/tmp/f</p>"},
                    ),
                    new_output(
                        "error",
                        ename="E",
                        evalue="in /usr/lib/python3.11/json/decoder.py",
                        traceback=["File /home/ann/venv/lib/python3.12/site-packages/a.py:1"],
                    ),
                ],
            )
        ]
    )


def test_scrub_removes_every_machine_path_and_keeps_images():
    nb = leaky_notebook()
    assert len(machine_paths(nb)) >= 5
    assert scrub_notebook(nb, ROOTS) == 5
    assert machine_paths(nb, ("/work/clone",)) == []
    stream, listing, display, error = nb.cells[0].outputs
    assert stream.text == "<cell>:2: LangChainBetaWarning: beta\n"
    assert listing.text == (
        "smollm2  site-packages/m.gguf\nmlx  ~/.cache/localllm_nb/mlx\nsaved notebooks/x.json"
    )
    assert display.data["image/png"] == "iVBORw0KGgo/root/AAAA+/tmp/x"
    assert display.data["text/html"] == "<p><tmp>/f</p>"
    assert error.evalue == "in python3.11/json/decoder.py"
    assert error.traceback == ["File site-packages/a.py:1"]


def test_machine_paths_names_the_cell_and_context():
    nb = new_notebook(cells=[new_code_cell("", outputs=[new_output("stream", text="at /root/x")])])
    assert machine_paths(nb) == ["cell 0 (text): …at /root/x…"]
    assert scrub_text("see https://example.com/home/page and ~/notes") == (
        "see https://example.com/home/page and ~/notes"
    )
    assert machine_paths(new_notebook()) == []


def test_finish_stamps_metadata_drops_widget_state_and_reports_problems():
    nb = leaky_notebook()
    nb.metadata["widgets"] = {"state": {}}
    view = new_output(
        "display_data",
        data={
            "text/plain": "StreamView(model='m', state='done')",
            "application/vnd.jupyter.widget-view+json": {"model_id": "1"},
        },
    )
    nb.cells.append(new_code_cell("view", outputs=[view]))
    recorded = {"at": "2026-12-06T03:00:00+00:00", "decode_tok_s": 81.2}
    problems = finish(nb, recorded, ROOTS)
    assert problems == ["no static snapshot in cell 1: StreamView(model='m', state='done')"]
    assert nb.metadata["localllm_nb"]["recorded"] == recorded and "widgets" not in nb.metadata
    nb.cells[0].outputs[0].text = "left: /root/secret"
    view.data["text/html"] = "<div>snapshot</div>"
    assert finish(nb, recorded, Roots()) == ["machine path in cell 0 (text): …left: /root/secret…"]


def test_recording_kernels_name_cells_in_warnings(tmp_path, monkeypatch):
    # The IPython startup file the recorder installs, in a real kernel.
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-record.py").write_text(KERNEL_STARTUP)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    path = tmp_path / "warns.ipynb"
    nb = new_notebook(
        cells=[
            new_code_cell("1"),
            new_code_cell("import warnings\nwarnings.warn('old API', DeprecationWarning)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, path)
    out = execute(path, timeout=120)
    (warning,) = out.cells[1].outputs
    assert warning.text == (
        "Cell In[2], line 2: DeprecationWarning: old API\n"
        "  warnings.warn('old API', DeprecationWarning)\n"
    )
    assert machine_paths(out) == []


def tiny_notebook(path):
    nb = new_notebook(
        cells=[
            new_code_cell("# Install\n# NBVAL_SKIP\nraise RuntimeError('install cells never run')"),
            new_code_cell("import tempfile\nprint(tempfile.gettempdir() + '/llnb-demo.json')"),
            new_code_cell("import warnings\nwarnings.warn('old API', DeprecationWarning)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, path)
    return path


def test_the_command_refuses_a_busy_machine_and_records_elsewhere_when_told(
    server_url, tmp_path, monkeypatch
):
    from tools.record_notebooks import main

    # main() points kernels at the server and at its own IPython profile: restore both.
    monkeypatch.setenv("OLLAMA_HOST", server_url)
    monkeypatch.delenv("IPYTHONDIR", raising=False)
    source = tiny_notebook(tmp_path / "tiny.ipynb")
    before = source.read_text()
    quick = ["--server", server_url, "--watch-seconds", "0.3", "--every", "1"]
    # Any machine is busy under a negative limit: refused, nothing written.
    assert main([str(source), *quick, "--wait", "0", "--max-others-percent", "-1"]) == 2
    assert source.read_text() == before
    out = tmp_path / "out"
    assert main([str(source), *quick, "--out", str(out), "--allow-busy"]) == 0
    assert source.read_text() == before  # --out never writes in place
    nb = nbformat.read(out / "tiny.ipynb", as_version=4)
    recorded = nb.metadata["localllm_nb"]["recorded"]
    assert recorded["decode_tok_s"] > 0 and recorded["cpu_count"] == os.cpu_count()
    assert {"at", "idle_cpu_percent", "others_cpu_percent_during"} <= set(recorded)
    assert nb.cells[0].outputs == [] and "tags" not in nb.cells[0].metadata
    assert nb.cells[1].outputs[0].text == "<tmp>/llnb-demo.json\n"
    assert nb.cells[2].outputs[0].text.startswith("Cell In[2], line 2: DeprecationWarning")
    with pytest.raises(SystemExit):
        main([str(source), "--allow-busy"])  # only with --out
