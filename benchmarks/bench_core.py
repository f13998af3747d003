"""Core library costs, measured side by side in one run.

- Client overhead: tokens/s and time to first token through `stream_run` (ChatOllama in
  a worker thread, recording every chunk) against ollama-python's raw
  `Client.chat(stream=True)`, same server, prompt, seed and length, interleaved A/B
  (alternating which goes first) so that machine noise hits both alike; ratio and added
  TTFT are medians of the per-pair figures; the added TTFT is given end to end and
  without the server's prefill time (its noise is larger than the client's cost). Targets: ratio >= 0.97, added TTFT <= 5 ms.
- Embedding math: cosine similarity + PCA projection of 5,000 x 384 vectors (< 1 s).
- One frame of the live token-rate chart (`TokenRateChart.update`, blitted) at the
  default size, on Agg (<= 30 ms), beside a full static figure and a bare line plot.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

PAIRS = 25
PROMPT = "Write a short paragraph about the ocean."
OPTIONS = {"temperature": 0, "seed": 7, "num_predict": 128}
MODEL = "smollm2:135m"


@dataclass(frozen=True)
class Sample:
    """One streamed answer as the caller saw it, with the server's prefill time."""

    ttft: float  # seconds from the call to the first content token
    tps: float  # content tokens per second after the first
    prefill: float  # server: total - eval duration (load, queue, prompt evaluation)

    @property
    def client_ttft(self) -> float:
        """The part of the time to first token the server did not spend prefilling."""
        return self.ttft - self.prefill


def _sample(t0: float, stamps: list[float], final: dict) -> Sample:
    prefill = (final["total_duration"] - final["eval_duration"]) / 1e9
    tps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return Sample(stamps[0] - t0, tps, prefill)


def _raw(client) -> Sample:
    t0 = time.perf_counter()
    stamps = []
    for part in client.chat(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], options=OPTIONS, stream=True
    ):
        if part.message.content:
            stamps.append(time.perf_counter())
    return _sample(t0, stamps, dict(part))


def _ours(chat) -> Sample:
    from localllm_nb import stream_run

    stamps = []

    def on_event(event):
        if event.type == "token":
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    run = stream_run(chat, PROMPT, on_event=on_event)
    return _sample(t0, stamps, run.server)


def client_overhead(url: str) -> dict:
    import ollama

    from localllm_nb import ModelSpec, build_chat

    client = ollama.Client(host=url)
    chat = build_chat(ModelSpec(model=MODEL, base_url=url, **OPTIONS))
    _raw(client), _ours(chat)  # warm up: model load, connection pools
    pairs = []
    for i in range(PAIRS):
        # Alternate which side goes first, so neither always runs on a warmer machine.
        if i % 2:
            ours = _ours(chat)
            pairs.append((_raw(client), ours))
        else:
            raw = _raw(client)
            pairs.append((raw, _ours(chat)))

    def median(figure) -> float:
        return statistics.median(figure(raw, ours) for raw, ours in pairs)

    # The machine's speed drifts between runs far more than the client costs; figures
    # within each interleaved pair cancel most of that drift. The server's prompt
    # evaluation still varies by tens of ms from one request to the next, so the added
    # TTFT is also given without it: the client's own share, which is what we control.
    return {
        "raw_tokens_per_s": round(median(lambda r, o: r.tps), 1),
        "stream_run_tokens_per_s": round(median(lambda r, o: o.tps), 1),
        "tps_ratio (>= 0.97)": round(median(lambda r, o: o.tps / r.tps), 3),
        "raw_ttft_ms": round(median(lambda r, o: r.ttft) * 1000, 1),
        "stream_run_ttft_ms": round(median(lambda r, o: o.ttft) * 1000, 1),
        "added_ttft_ms (<= 5)": round(median(lambda r, o: o.ttft - r.ttft) * 1000, 1),
        "added_ttft_client_share_ms (<= 5)": round(
            median(lambda r, o: o.client_ttft - r.client_ttft) * 1000, 2
        ),
        "pairs": PAIRS,
    }


def embedding_math() -> dict:
    from localllm_nb.vectors import cosine_similarity, pca_2d

    x = np.random.default_rng(0).standard_normal((5000, 384)).astype(np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        cosine_similarity(x)
        pca_2d(x)
        best = min(best, time.perf_counter() - t0)
    return {"similarity+pca_5000x384_s (< 1)": round(best, 3)}


def figure_frame() -> dict:
    from localllm_nb.plots import token_rate_figure
    from localllm_nb.run import TimelinePoint

    timeline = [
        TimelinePoint(0.2 + i / 80, i + 1, "thinking" if i < 150 else "content") for i in range(500)
    ]
    from localllm_nb.plots import new_figure

    def bare() -> None:
        # Baseline on the same machine: one plain line plot, the least a frame can cost.
        fig = new_figure(layout=None)
        fig.add_subplot().plot(np.arange(500), np.arange(500))
        fig.canvas.draw()

    from localllm_nb.plots import TokenRateChart

    chart = TokenRateChart()
    built, redrawn, baseline, live, png = [], [], [], [], []
    for k in range(1, 26):  # a run growing 20 tokens a frame, as a live view sees it
        t = time.perf_counter()
        chart.update(timeline=timeline[: 20 * k], ttft_s=0.2, title=f"{20 * k} tokens")
        live.append(time.perf_counter() - t)
        t = time.perf_counter()
        chart.png()
        png.append(time.perf_counter() - t)
    for _ in range(10):
        t0 = time.perf_counter()
        fig = token_rate_figure(timeline=timeline, server_tps=80.0, ttft_s=0.2)
        fig.canvas.draw()
        t1 = time.perf_counter()
        fig.canvas.draw()
        t2 = time.perf_counter()
        bare()
        t3 = time.perf_counter()
        built.append(t1 - t0)
        redrawn.append(t2 - t1)
        baseline.append(t3 - t2)
    return {
        "static_figure_frame_ms": round(statistics.median(built) * 1000, 1),
        "token_rate_redraw_ms": round(statistics.median(redrawn) * 1000, 1),
        "live_frame_ms (<= 30, TokenRateChart.update)": round(statistics.median(live) * 1000, 1),
        "live_frame_png_ms": round(statistics.median(png) * 1000, 1),
        "live_frame_background_redraws": f"{chart.full_draws} of {len(live)}",
        "live_frame_over_bare_line": round(
            statistics.median(live) / statistics.median(baseline), 2
        ),
        "bare_line_frame_ms (baseline)": round(statistics.median(baseline) * 1000, 1),
    }


def run() -> dict:
    from localllm_nb.embedded import start_server

    server = start_server()
    try:
        figures = client_overhead(server.url)
    finally:
        server.stop()
    figures.update(embedding_math())
    figures.update(figure_frame())
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<36} {value}")
