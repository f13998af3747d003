"""Compare's overhead per column against bare runs, measured side by side in one run.

The same spec (temperature 0, fixed seed, same length) runs `COLUMNS` times bare
(`stream_run`, one after another, as the default scheduler does) and as a `Compare` of
`COLUMNS` identical columns (StreamView per column, scheduler, bar updates, snapshot),
alternating which goes first. Reported: wall time per column for each, the added time
per column (median over rounds), the tokens/s ratio Compare/bare (target >= 0.97), and
the gap between one run's end and the next run's start (the scheduler's own cost, which
machine noise barely touches; the wall figures on a loaded machine are noisy).
"""

from __future__ import annotations

import itertools
import statistics
import time

COLUMNS = 3
ROUNDS = 2
TOKENS = 16
PROMPT = "Write a short paragraph about the ocean."


def run() -> dict:
    from localllm_nb import ModelSpec
    from localllm_nb.embedded import start_server
    from localllm_nb.run import stream_run
    from localllm_nb.widgets import Compare

    server = start_server()
    try:
        spec = ModelSpec(
            model="smollm2:135m", base_url=server.url, temperature=0, seed=7, num_predict=TOKENS
        )
        stream_run(spec, PROMPT)  # load the model once
        added, ratios, bare_walls, view_walls = [], [], [], []
        gaps: dict[str, list[float]] = {"bare": [], "compare": []}
        for round_ in range(ROUNDS):
            got = {}
            for side in ("bare", "compare") if round_ % 2 == 0 else ("compare", "bare"):
                started = time.perf_counter()
                if side == "bare":
                    runs = [stream_run(spec, PROMPT) for _ in range(COLUMNS)]
                    tps = [r.stats.client_tps for r in runs]
                    gaps["bare"] += _gaps(runs)
                else:
                    compare = Compare([spec] * COLUMNS, PROMPT)
                    compare.wait()
                    tps = [r["client_tps"] for r in compare.rows]
                    gaps["compare"] += _gaps([run for _, run in compare.schedule.runs])
                got[side] = (time.perf_counter() - started, statistics.fmean(tps))
            bare_walls.append(got["bare"][0] / COLUMNS)
            view_walls.append(got["compare"][0] / COLUMNS)
            added.append((got["compare"][0] - got["bare"][0]) / COLUMNS)
            ratios.append(got["compare"][1] / got["bare"][1])
    finally:
        server.stop()
    return {
        "columns": COLUMNS,
        "rounds": ROUNDS,
        "tokens_per_run": TOKENS,
        "bare_wall_s_per_column": round(statistics.median(bare_walls), 3),
        "compare_wall_s_per_column": round(statistics.median(view_walls), 3),
        "compare_added_s_per_column (median)": round(statistics.median(added), 3),
        "tps_ratio_compare_over_bare (>= 0.97)": round(statistics.median(ratios), 3),
        "gap_ms_between_runs_bare (median)": round(statistics.median(gaps["bare"]) * 1000, 1),
        "gap_ms_between_runs_compare (median)": round(statistics.median(gaps["compare"]) * 1000, 1),
    }


def _gaps(runs) -> list[float]:
    """Seconds from each run's end to the next run's start (runs in start order)."""
    ordered = sorted(runs, key=lambda r: r.started_at)
    return [
        later.started_at - (earlier.started_at + earlier.elapsed())
        for earlier, later in itertools.pairwise(ordered)
    ]
