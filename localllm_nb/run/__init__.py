"""One generation as data: text, thinking, tool calls, timeline, server figures, outcome.

`stream_run` blocks until the end, `start_run` streams in a background thread (so a
notebook stays responsive and can cancel), `astream_run` is the asyncio form. The worker
writes through a `RunRecorder`; views `watch` the `Run` in coalesced frames and draw
what it records. Per-token logprobs (when the model was asked for them) are in
`Run.logprobs`; `localllm_nb.run.tokens` reads them (probability, entropy, least
confident spans, perplexity). No widget code here.
"""

from .context import ContextUse
from .driver import astream_run, start_run, stream_run
from .frames import RunFrame
from .history import RunHistory, run_record
from .receipt import Receipt, load_receipts
from .record import Run, RunEvent, RunRecorder
from .replay import ReplayResult, replay
from .stats import RunStats, TimelinePoint, compute_stats, rate_series, server_figures
from .tokens import TokenLogprob

__all__ = [
    "ContextUse",
    "Receipt",
    "ReplayResult",
    "Run",
    "RunEvent",
    "RunFrame",
    "RunHistory",
    "RunRecorder",
    "RunStats",
    "TimelinePoint",
    "TokenLogprob",
    "astream_run",
    "compute_stats",
    "load_receipts",
    "rate_series",
    "replay",
    "run_record",
    "server_figures",
    "start_run",
    "stream_run",
]
