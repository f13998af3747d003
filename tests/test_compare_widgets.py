"""Compare and Sweep in plain pytest with a recording comm: columns, the bar's figures,
Stop all, exports, the snapshot. Real embedded server, tiny generations."""

from __future__ import annotations

import pytest
from html_images import html_pngs
from test_widgets import RecordingComm

from localllm_nb import ModelSpec
from localllm_nb.errors import SpecError
from localllm_nb.widgets import Compare, Sweep
from localllm_nb.widgets.compare import ROWS, markdown_table
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


def _answer_figures(run):
    from localllm_nb.run.tokens import mean_logprob, perplexity

    answer = [t for t in run.logprobs if t.channel == "content"]
    return mean_logprob(answer), perplexity(answer)


def test_compare_shows_each_columns_mean_logprob_when_asked(spec):
    compare = Compare(
        [spec, spec.replace(temperature=1.0)], "Say hi.", show_logprobs=True, start=False
    )
    compare.bar.comm = RecordingComm()
    assert all(v.model.logprobs for v in compare.views)  # asked of the model
    assert [f[0] for f in compare.bar.figures][-2:] == ["mean_logprob", "perplexity"]
    compare.start()
    assert compare.wait(240)
    shown = {s["column"]: s for s in compare.bar.summary}
    md, snap = compare.to_markdown(), compare.snapshot()["text/html"]
    means = {}
    for job, run in compare.schedule.runs:
        mean, ppl = _answer_figures(run)
        assert len(run.logprobs) == run.stats.tokens and mean <= 0 and ppl >= 1
        assert shown[job.column]["mean_logprob"] == mean
        assert shown[job.column]["perplexity"] == ppl
        # The numbers a reader sees: the bar's table, the Markdown, the saved snapshot.
        assert f"{mean:.3f}" in md and f"<td>{ppl:.2f}</td>" in snap.replace("<b>", "").replace(
            "</b>", ""
        )
        means[job.column] = mean
    assert "mean logprob" in snap and "perplexity" in md
    assert compare.bar.best["mean_logprob"] == max(means, key=means.get)  # the surer column
    assert list(compare.results["mean_logprob"]) == [means[0], means[1]]


def test_logprob_rows_follow_the_specs_unless_told(spec):
    asked = spec.replace(logprobs=True)
    assert Compare([asked, spec], "x", start=False).show_logprobs is True
    assert Compare([spec, spec], "x", start=False).show_logprobs is False
    hidden = Compare([asked], "x", show_logprobs=False, start=False)
    assert [f[0] for f in hidden.bar.figures] == [r[0] for r in ROWS]


def test_sweep_charts_mean_logprob_per_value(spec):
    sweep = Sweep(spec, "temperature", [0.0, 1.0], "Say hi.", repeats=1, show_logprobs=True)
    assert sweep.wait(240)
    runs = {job.column: run for job, run in sweep.schedule.runs}
    means = [_answer_figures(runs[c])[0] for c in range(2)]
    assert list(sweep.results["mean_logprob"]) == means
    fig = sweep.figure()
    assert len(fig.axes) == 4 and fig.axes[3].get_title().startswith("mean logprob")
    assert list(fig.axes[3].lines[0].get_ydata()) == means  # the line is the runs' means
    assert fig.axes[3].get_ylim()[1] == 0  # certainty at the top edge
    snap = sweep.snapshot()["text/html"]
    assert "and mean logprob" in snap and all(f"{m:.3f}" in snap for m in means)
