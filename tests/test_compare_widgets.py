"""Compare and Sweep in plain pytest with a recording comm: columns, the bar's figures,
Stop all, exports, the snapshot. Real embedded server, tiny generations."""

from __future__ import annotations

import pytest
from html_images import html_pngs
from test_widgets import RecordingComm

from localllm_nb import ModelSpec
from localllm_nb.errors import SpecError
from localllm_nb.widgets import Compare, Sweep
from localllm_nb.widgets.compare import markdown_table
from tests.models import CHAT


@pytest.fixture
def spec(server_url):
    return ModelSpec(model=CHAT, base_url=server_url, temperature=0, seed=3, num_predict=3)


def test_compare_columns_bar_figures_and_exports(spec, tmp_path):
    compare = Compare([spec, spec.replace(temperature=1.0)], "Say hi.", repeats=2, start=False)
    comm = compare.bar.comm = RecordingComm()
    assert repr(compare) == "Compare(2 columns, state='idle')"
    compare.start()
    assert compare.wait(240)
    assert compare.bar.state == "done" and compare.bar.progress == "4/4 runs"
    assert [v.state for v in compare.views] == ["done", "done"]
    summary = compare.bar.summary
    assert [s["runs"] for s in summary] == [2, 2] and all(s["client_tps"] > 0 for s in summary)
    assert set(compare.bar.best) >= {"ttft_s", "client_tps", "duration_s"}
    assert "one run at a time per server" in compare.bar.mode and CHAT in compare.bar.mode
    assert any("summary" in u for u in comm.updates())
    # Exports: the runs as rows, the summary with spread, CSV, Markdown.
    df = compare.results
    assert len(df) == 4 and {"ttft_s", "client_tps", "host", "concurrency", "content"} <= set(
        df.columns
    )
    assert df.attrs["mode"]["concurrency"] == 1 and df.attrs["mode"]["ps_after"]
    assert list(compare.summary().index) == compare.labels
    assert compare.to_csv(tmp_path / "c.csv").read_text().startswith("column,label,repeat")
    md = compare.to_markdown()
    assert md.count("\n") == 3 and "**" in md and " ± " in md
    snap = compare.snapshot()
    assert "llnb-compare-table" in snap["text/html"] and "TTFT" in snap["text/html"]
    assert len(html_pngs(snap["text/html"])) == 2  # each column's token-rate chart


def test_stop_all_stops_every_column(spec):
    long = spec.replace(num_predict=500)
    compare = Compare([long, long.replace(seed=4)], "Write a long story.", concurrency=2)
    compare.bar.comm = RecordingComm()
    for view in compare.views:
        view.comm = RecordingComm()
    import time

    deadline = time.monotonic() + 120
    while not all(v.state == "running" for v in compare.views) and time.monotonic() < deadline:
        time.sleep(0.05)
    compare.bar.comm.receive({"type": "stop_all"})  # what the button sends
    assert compare.wait(30)
    assert compare.bar.state == "stopped"
    assert [v.state for v in compare.views] == ["stopped", "stopped"]


def test_markdown_table_marks_the_best():
    summary = [
        {"column": 0, "label": "a|b", "ttft_s": 0.3, "client_tps": 50.0, "done_reason": "stop"},
        {"column": 1, "label": "c", "ttft_s": 0.2, "client_tps": 40.0, "done_reason": "length"},
    ]
    table = markdown_table(summary)
    assert "a\\|b" in table and "**50.0**" in table and "**0.20 s**" in table


def test_sweep_values_as_columns_chart_and_value_column(spec):
    sweep = Sweep(spec, "temperature", [0.0, 1.0], "Say hi.", repeats=1)
    assert sweep.labels == ["temperature=0.0", "temperature=1.0"]
    assert sweep.wait(240)
    df = sweep.results
    assert list(df["value"]) == [0.0, 1.0] and set(df["field"]) == {"temperature"}
    assert sweep.chart.value[:4] == b"\x89PNG"
    snap = sweep.snapshot()
    # The sweep's chart inside the HTML, no chart per column.
    assert len(html_pngs(snap["text/html"])) == 1 and "Sweep · temperature" in snap["text/html"]
    with pytest.raises(SpecError):
        Sweep(spec, "temperature", [-1.0], "x", start=False)


def test_sweep_grid_of_two_fields(spec):
    from localllm_nb.widgets.sweep import sweep_figure

    sweep = Sweep(spec, ("temperature", "top_k"), ([0.0, 1.0], [10, 40]), "x", start=False)
    assert sweep.labels == [
        "temperature=0.0, top_k=10",
        "temperature=0.0, top_k=40",
        "temperature=1.0, top_k=10",
        "temperature=1.0, top_k=40",
    ]
    assert [v.model.top_k for v in sweep.views] == [10, 40, 10, 40]
    summary = [{"column": c, "client_tps": 1.0 + c, "ttft_s": 0.1, "tokens": 5} for c in range(4)]
    fig = sweep_figure(sweep.fields, sweep.grid, summary)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "top_k=10",
        "top_k=40",
    ]
    with pytest.raises(ValueError, match="two fields"):
        Sweep(spec, ("temperature", "top_k"), ([0.0],), "x", start=False)
