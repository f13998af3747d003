"""Compare: one prompt, several specs side by side, with speed per column.

Each column is a StreamView; `run.schedule` decides when each run starts (one run at a
time per server by default, so the columns measure the model, not the queue). A bar
above the columns shows the figures of every column (mean ± spread over repeats) with
the best of each highlighted, how the numbers were taken, and Stop all. The results
are rows (`results`, a DataFrame), exportable as CSV and Markdown.

With token logprobs (a spec with `logprobs=True`, or `show_logprobs=True`), the bar, the
exports and the saved snapshot also show each column's mean logprob and perplexity:
which setting made the model surer, at a glance.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as W
import traitlets

from ..run.schedule import FIGURES, Schedule, best_columns, plan_jobs, summarize
from ._base import SnapshotDisplay, View
from ._esm import esm
from .snapshot import snapshot_html, snapshot_png
from .stream import StreamView, ended, error_message

# (figure, label, digits, unit) as the bar and the exports show them.
ROWS = (
    ("ttft_s", "TTFT", 2, " s"),
    ("client_tps", "tokens/s", 1, ""),
    ("server_tps", "server tok/s", 1, ""),
    ("tokens", "tokens", 1, ""),
    ("duration_s", "total", 2, " s"),
    ("load_s", "load", 2, " s"),
)
# The rows added when the columns record token logprobs (see `Compare`'s show_logprobs).
LOGPROB_ROWS = (
    ("mean_logprob", "mean logprob", 3, ""),
    ("perplexity", "perplexity", 2, ""),
)


def cell_text(summary: dict[str, Any], name: str, digits: int, unit: str = "") -> str:
    """'mean ± std unit', or '-' when there is no figure.

    >>> cell_text({"ttft_s": 0.2, "ttft_s_std": 0.05}, "ttft_s", 2, " s")
    '0.20 ± 0.05 s'
    """
    mean, std = summary.get(name), summary.get(f"{name}_std")
    if mean is None:
        return "-"
    if name == "tokens" and std is None:
        digits = 0  # one run: a count, not a mean
    spread = f" ± {std:.{digits}f}" if std is not None else ""
    return f"{mean:.{digits}f}{spread}{unit}"


def mode_text(mode: dict[str, Any]) -> str:
    """How the numbers were taken, in one line: concurrency, repeats, the protocol of
    each column when they differ, servers' models.

    >>> mode_text({"concurrency": 1, "repeats": 1, "protocols": {0: "Ollama API",
    ...            1: "OpenAI-compatible /v1"}})
    'one run at a time per server · 1 repeat(s) · protocols: column 1 Ollama API, column 2 OpenAI-compatible /v1'
    """
    if not mode:
        return ""
    runs = "one run" if mode["concurrency"] == 1 else f"{mode['concurrency']} runs"
    parts = [f"{runs} at a time per server", f"{mode['repeats']} repeat(s)"]
    protocols = mode.get("protocols") or {}
    if len(set(protocols.values())) > 1:  # one protocol for all says nothing new
        parts.append(
            "protocols: " + ", ".join(f"column {c + 1} {p}" for c, p in sorted(protocols.items()))
        )
    ps = mode.get("ps_after") or mode.get("ps_before") or {}
    for host in mode.get("hosts", []):
        loaded = ps.get(host)
        names = (
            ", ".join(m.get("name", "?") for m in loaded) or "none"
            if isinstance(loaded, list)
            else (loaded or "not asked yet")
        )
        parts.append(f"{host} loaded: {names}")
    return " · ".join(parts)


def markdown_table(summary: Sequence[dict[str, Any]], rows: Sequence[tuple] = ROWS) -> str:
    """The summary as a Markdown table, one row per column, best of each in bold;
    `rows` are the figures shown, as (figure, label, digits, unit)."""
    best = best_columns(summary)
    head = ["column", *(label for _, label, _, _ in rows), "done"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        cells = [s["label"].replace("|", "\\|")]
        for name, _, digits, unit in rows:
            text = cell_text(s, name, digits, unit)
            cells.append(f"**{text}**" if best.get(name) == s["column"] else text)
        cells.append(str(s.get("done_reason") or "-"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_html(
    summary: Sequence[dict[str, Any]], mode: dict[str, Any], rows: Sequence[tuple] = ROWS
) -> str:
    """The summary as a self-contained HTML table (figures as rows, columns as columns)."""
    best = best_columns(summary)
    head = "".join(f"<th>{html.escape(s['label'])}</th>" for s in summary)
    body = []
    for name, label, digits, unit in rows:
        cells = "".join(
            f"<td>{'<b>' if best.get(name) == s['column'] else ''}"
            f"{html.escape(cell_text(s, name, digits, unit))}"
            f"{'</b>' if best.get(name) == s['column'] else ''}</td>"
            for s in summary
        )
        body.append(f"<tr><th style='text-align:left'>{label}</th>{cells}</tr>")
    done = "".join(f"<td>{html.escape(str(s.get('done_reason') or '-'))}</td>" for s in summary)
    body.append(f"<tr><th style='text-align:left'>done</th>{done}</tr>")
    return (
        f"<table class='llnb-compare-table'><tr><th></th>{head}</tr>{''.join(body)}</table>"
        f"<div style='color:#666;font-size:12px'>{html.escape(mode_text(mode))}</div>"
    )


class CompareBar(View):
    """The bar above a comparison's columns: figures per column, how they were taken, Stop all."""

    _esm = esm("compare.js")
    state = traitlets.Unicode("idle", help="idle | running | done | stopped").tag(sync=True)
    title = traitlets.Unicode("", help="What is compared.").tag(sync=True)
    summary = traitlets.List(help="Per column: label, runs, mean and _std of each figure.").tag(
        sync=True
    )
    best = traitlets.Dict(help="Figure -> the column that did best.").tag(sync=True)
    figures = traitlets.List(
        [list(row) for row in ROWS],
        help="The figures shown as rows, in order: [figure, label, digits, unit].",
    ).tag(sync=True)
    mode = traitlets.Unicode("", help="How the numbers were taken, in one line.").tag(sync=True)
    progress = traitlets.Unicode("", help="Runs ended / planned.").tag(sync=True)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._on_stop: list = []
        self.on_msg(self._msg)

    def _msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "stop_all":
            for callback in list(self._on_stop):
                callback()

    def __repr__(self) -> str:
        return f"CompareBar(state={self.state!r})"


class Compare(SnapshotDisplay, W.VBox):
    """`Compare([spec_a, spec_b], prompt)`: one StreamView per spec, run by one scheduler.

    `concurrency` runs per server at once (default 1); `hosts=[url, ...]` spreads the
    columns over several servers (Ollama or OpenAI-compatible, each its own queue);
    `repeats=N` runs each column N times (mean ± spread).
    Starts at once (off the cell) unless `start=False`; `stop()` stops every column.

    `show_logprobs=True` asks every column that can give token logprobs (Ollama chat
    and MLX specs) for them and shows each column's mean logprob and perplexity; left
    unset, those rows appear when some spec already has `logprobs=True`; `False` hides
    them (`results` keeps the figures either way).
    """

    def __init__(
        self,
        specs: Sequence[Any],
        prompt: Any,
        *,
        hosts: Sequence[str] | None = None,
        concurrency: int = 1,
        repeats: int = 1,
        labels: Sequence[str] | None = None,
        start: bool = True,
        show_logprobs: bool | None = None,
        **run_kwargs: Any,
    ):
        from ..spec import ModelSpec

        specs = [ModelSpec(model=s) if isinstance(s, str) else s for s in specs]
        if show_logprobs:
            specs = [with_logprobs(s) for s in specs]
        self.show_logprobs = (
            any(s.logprobs for s in specs) if show_logprobs is None else show_logprobs
        )
        self.prompt = prompt
        self.jobs = plan_jobs(specs, hosts, repeats, labels)
        columns = {job.column: job for job in self.jobs}
        self.labels = [columns[i].label for i in sorted(columns)]
        self.views = [StreamView(columns[i].spec, **run_kwargs) for i in sorted(columns)]
        at_once = "one run" if concurrency == 1 else f"{concurrency} runs"
        for view in self.views:
            view.empty_text = f"Waiting for its turn ({at_once} at a time per server)."
        self.bar = CompareBar(title=self._title(), figures=[list(r) for r in self.figure_rows])
        self.bar._on_stop.append(self.stop)
        self.schedule = Schedule(
            self.jobs, prompt, concurrency, start=self._start_job, on_end=self._on_end
        )
        self._lock = threading.Lock()
        self._final = threading.Event()  # set once the view shows the final figures
        cells = [
            W.VBox(
                [W.HTML(f"<b>{html.escape(label)}</b>"), view],
                layout=W.Layout(flex="1 1 0", min_width="220px"),
            )
            for label, view in zip(self.labels, self.views, strict=True)
        ]
        super().__init__([self.bar, W.HBox(cells, layout=W.Layout(width="100%"))], **self._layout())
        self.add_class("llnb-compare-box")
        self._handles = []
        self._progress()
        if start:
            self.start()

    # --- public API -----------------------------------------------------------------

    def start(self) -> Compare:
        """Start the runs (off the cell); returns at once."""
        if self.bar.state != "idle":
            raise RuntimeError("this comparison has started already: make a new one")
        self.bar.state = "running"
        self.schedule.begin()
        threading.Thread(target=self._finish_when_done, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop every column: cancel live runs, drop those not started."""
        self.schedule.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every run ended and the view shows the final figures."""
        return self.schedule.wait(timeout) and self._final.wait(timeout)

    @property
    def mode(self) -> dict[str, Any]:
        """How the numbers were taken: concurrency, hosts, repeats, `/api/ps` before/after."""
        return self.schedule.mode

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per run, in (repeat, column) order."""
        return sorted(self.schedule.rows, key=lambda r: (r["repeat"], r["column"]))

    @property
    def results(self) -> Any:
        """The runs as a pandas DataFrame (one row per run); `.attrs["mode"]` says how
        they were taken (concurrency, hosts, `/api/ps` before and after)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows)
        frame.attrs["mode"] = self.mode
        return frame

    @property
    def figure_rows(self) -> tuple[tuple[str, str, int, str], ...]:
        """The figures the bar, the Markdown and the snapshot show, as (figure, label,
        digits, unit): the speed figures, then mean logprob and perplexity when shown."""
        return ROWS + LOGPROB_ROWS if self.show_logprobs else ROWS

    def summary(self) -> Any:
        """Per column mean and spread of each figure, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(summarize(self.rows)).set_index("label")

    def to_csv(self, path: str | Path) -> Path:
        """Write the runs as CSV; returns the path."""
        path = Path(path)
        self.results.to_csv(path, index=False)
        return path

    def to_markdown(self) -> str:
        """The summary as a Markdown table, best of each figure in bold."""
        return markdown_table(summarize(self.rows), self.figure_rows)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.views)} columns, state={self.bar.state!r})"

    # --- internals ------------------------------------------------------------------

    def _title(self) -> str:
        return f"Compare · {len(self.labels)} columns"

    def _layout(self) -> dict[str, Any]:
        return {"layout": W.Layout(width="100%")}

    def _start_job(self, job: Any) -> Any:
        view = self.views[job.column]
        view.model = job.spec
        return view.run(self.prompt)

    def _on_end(self, _job: Any, _run: Any) -> None:
        self._refresh()

    def _refresh(self) -> None:
        with self._lock:
            summary = summarize(self.rows)
            with self.bar.hold_sync():
                self.bar.summary = [_jsonable(s) for s in summary]
                self.bar.best = {k: int(v) for k, v in best_columns(summary).items()}
                self.bar.mode = mode_text(self.mode)
                self._progress()

    def _progress(self) -> None:
        self.bar.progress = f"{len(self.schedule.rows)}/{len(self.jobs)} runs"

    def _finish_when_done(self) -> None:
        self.schedule.wait()
        self._refresh()
        self.bar.state = "stopped" if self.schedule.stopped else "done"
        self._update_displays()
        self._final.set()

    def _snapshot(self) -> dict[str, Any] | None:
        if self.bar.state not in ("done", "stopped"):
            return None
        columns = "".join(
            f"<div style='flex:1 1 0;min-width:220px'><b>{html.escape(label)}</b>"
            f"{self._column_html(view.last_run)}</div>"
            for label, view in zip(self.labels, self.views, strict=True)
            if view.last_run is not None and ended(view.last_run)
        )
        summary = summarize(self.rows)
        return {
            "text/html": f"<div><b>{html.escape(self._title())}</b> · {self.bar.state}"
            f"{summary_html(summary, self.mode, self.figure_rows)}{self._chart_html()}"
            f"<div style='display:flex;gap:8px;margin-top:6px'>{columns}</div></div>"
        }

    def _column_html(self, run: Any) -> str:
        # Each column keeps its token-rate chart, as its live view shows one.
        return snapshot_html(run, error_message(run.error), snapshot_png(run))

    def _chart_html(self) -> str:
        """A chart of the whole comparison above the columns (none here; Sweep has one)."""
        return ""


def with_logprobs(spec: Any) -> Any:
    """The spec asking for token logprobs, when its backend and kind take them (Ollama
    chat, MLX); otherwise the spec as it is.

    >>> from localllm_nb import ModelSpec
    >>> with_logprobs(ModelSpec(model="m")).logprobs, with_logprobs(ModelSpec(
    ...     backend="openai", model="m", base_url="http://h/v1")).logprobs
    (True, None)
    """
    from ..spec import FIELDS_BY_TARGET

    if spec.logprobs or "logprobs" not in FIELDS_BY_TARGET.get((spec.backend, spec.kind), ()):
        return spec
    return spec.replace(logprobs=True)


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    keep = {"column", "label", "runs", "done_reason", *FIGURES, *(f"{k}_std" for k in FIGURES)}
    return {k: v for k, v in summary.items() if k in keep}
