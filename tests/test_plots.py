"""Figures: returned (not shown), pyplot-free, the right elements in the right colours."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from localllm_nb import ModelSpec, stream_run
from localllm_nb.plots import (
    CONTENT_COLOR,
    SERVER_COLOR,
    THINKING_COLOR,
    projection_scatter,
    render_png,
    similarity_heatmap,
    token_rate_figure,
    truncate,
)
from localllm_nb.run import TimelinePoint
from tests.models import CHAT


def _timeline():
    return [
        TimelinePoint(0.3 + 0.02 * i, i + 1, "thinking" if i < 8 else "content") for i in range(20)
    ]


def test_token_rate_figure_has_both_channels_ttft_and_server_line():
    fig = token_rate_figure(timeline=_timeline(), server_tps=48.0, ttft_s=0.3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    by_label = {line.get_label(): line for line in ax.get_lines()}
    assert to_hex(by_label["thinking"].get_color()) == THINKING_COLOR
    assert to_hex(by_label["answer"].get_color()) == CONTENT_COLOR
    assert to_hex(by_label["server 48.0 tok/s"].get_color()) == SERVER_COLOR
    assert list(by_label["server 48.0 tok/s"].get_ydata()) == [48.0, 48.0]
    ttft_lines = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [0.3, 0.3]]
    assert ttft_lines and any("first token 0.30 s" in t.get_text() for t in ax.texts)
    # 50 tokens/s spacing: the plotted rates sit at 50.
    assert np.allclose(by_label["answer"].get_ydata(), 50.0)
    assert render_png(fig).startswith(b"\x89PNG")


def test_token_rate_figure_from_a_real_run(server_url):
    run = stream_run(
        ModelSpec(model=CHAT, temperature=0, seed=2, num_predict=20), "Name two planets."
    )
    fig = token_rate_figure(run)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "answer" in labels and any(lab.startswith("server ") for lab in labels)
    assert "smollm2:135m" in ax.get_title()
    empty = token_rate_figure(timeline=[])
    assert any("no tokens yet" in t.get_text() for t in empty.axes[0].texts)


def test_heatmap_truncates_labels_and_scales_to_50_items():
    texts = [f"Sentence number {i} which is rather long indeed" for i in range(50)]
    sim = np.random.default_rng(0).uniform(0, 1, (50, 50))
    fig = similarity_heatmap(sim, texts, label_width=20)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == 50 and all(len(t) <= 20 for t in ticks) and ticks[0].endswith("…")
    assert not ax.texts  # no cell values at 50 items
    small = similarity_heatmap(np.eye(3), ["a", "b", "c"])
    assert len(small.axes[0].texts) == 9
    assert truncate("a  b\nc", 10) == "a b c"


def test_projection_scatter_labels_and_highlight():
    pts = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    fig = projection_scatter(pts, ["cat", "dog", "a very long label for a point"], highlight=[1])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts][:2] == ["cat", "dog"]
    assert ax.texts[2].get_text().endswith("…")
    assert len(ax.collections) == 2


def test_projection_scatter_groups_take_the_maps_colours_distinct_past_ten():
    from matplotlib.colors import to_hex

    from localllm_nb.vectors.explore import palette

    # 12 groups, group g with 12 - g points: the most frequent first, as on the map.
    groups = [f"g{g}" for g in range(12) for _ in range(12 - g)]
    pts = np.random.default_rng(0).normal(size=(len(groups), 2))
    ax = projection_scatter(pts, groups=groups).axes[0]
    colours = [to_hex(c.get_facecolor()[0], keep_alpha=False) for c in ax.collections]
    assert colours == palette(12) and len(set(colours)) == 12
    shown = [t.get_text() for t in ax.get_legend().get_texts()]
    assert shown == [f"g{g}" for g in range(10)]  # the ten most frequent


def test_plots_never_import_pyplot():
    code = (
        "import sys, numpy as np\n"
        "from localllm_nb.plots import similarity_heatmap\n"
        "similarity_heatmap(np.eye(2), ['a', 'b']).savefig('/dev/null', format='png')\n"
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_live_token_rate_chart_updates_in_place():
    from localllm_nb.plots import TokenRateChart
    from localllm_nb.run import TimelinePoint
    from localllm_nb.run.stats import rate_series

    timeline = [
        TimelinePoint(0.3 + i / 50, i + 1, "thinking" if i < 20 else "content") for i in range(60)
    ]
    chart = TokenRateChart()
    fig = chart.update(timeline=[])  # before the first token: empty, no reference lines
    assert not chart.server_line.get_visible() and not chart.ttft_line.get_visible()
    for n in (10, 60):
        fig = chart.update(timeline=timeline[:n], server_tps=48.0, ttft_s=0.3, title="live")
        series = rate_series(timeline[:n], window=chart.window)
        for channel, line in chart.lines.items():
            assert list(line.get_ydata()) == [r for _, r, c in series if c == channel]
        assert fig is chart.fig and len(fig.axes) == 1  # the same figure, redrawn
    assert chart.server_line.get_visible() and chart.ttft_line.get_visible()
    assert chart.legend.get_texts()[-1].get_text() == "server 48.0 tok/s"
    assert chart.ax.get_xlim()[1] >= timeline[-1].t and chart.ax.get_ylim()[1] > 48.0
    assert chart.title.get_text() == "live"


def test_live_chart_redraws_its_background_only_when_the_layout_changes():
    import io

    from PIL import Image

    from localllm_nb.plots import TokenRateChart

    timeline = [TimelinePoint(0.3 + i / 50, i + 1, "content") for i in range(120)]
    chart = TokenRateChart()
    chart.update(timeline=timeline[:100], ttft_s=0.3)
    before = chart.full_draws
    blank = chart.png()
    for n in (101, 102, 103):  # same axis limits: lines and title only
        chart.update(timeline=timeline[:n], ttft_s=0.3, title=f"{n} tokens")
    assert chart.full_draws == before
    frame = chart.png()
    assert frame != blank  # the new points and title are in the frame
    assert Image.open(io.BytesIO(frame)).size == chart.fig.canvas.get_width_height()
    chart.update(timeline=timeline, ttft_s=0.3, server_tps=40.0)  # a new reference line
    assert chart.full_draws == before + 1
