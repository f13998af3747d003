"""Run several specs over one or more servers, fairly: the scheduler under Compare and Sweep.

A single Ollama serves one request per model at a time by default (`OLLAMA_NUM_PARALLEL`),
so columns started together would measure the queue, not the model. By default each
server runs one generation at a time (`concurrency=1`); a list of `hosts` spreads the
columns over several servers, each keeping its own limit. A column's repeats never
overlap, and repeats are interleaved across columns so that drift (a warming machine,
another user's load) spreads over all columns instead of favouring one.

How the numbers were taken travels with them: `Schedule.mode` holds the concurrency, the
hosts and each server's loaded models (`/api/ps`) before and after the runs. No widget
code here; views pass a `start(job)` that shows each run.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .record import Run
from .tokens import mean_logprob, perplexity

# Figures a summary aggregates, and which way is better (None: neither).
FIGURES = {
    "ttft_s": "min",
    "client_tps": "max",
    "server_tps": "max",
    "tokens": None,
    "duration_s": "min",
    "load_s": "min",
    # The answer's token probabilities (None unless the run recorded logprobs): a mean
    # logprob closer to 0, a perplexity closer to 1, is a surer model.
    "mean_logprob": "max",
    "perplexity": "min",
}


def measured(row: dict[str, Any]) -> bool:
    """Whether a summary counts this run's figures: a finished run, or a stopped one that
    produced tokens (its TTFT and speed were measured all the same); not a failed run,
    nor one stopped before its first token.

    >>> measured({"status": "cancelled", "tokens": 0}), measured({"status": "done"})
    (False, True)
    """
    return row["status"] == "done" or (row["status"] == "cancelled" and bool(row.get("tokens")))


@dataclass(frozen=True)
class Job:
    """One run to make: column `column` (a spec), repeat `repeat`, on server `host`."""

    column: int
    repeat: int
    spec: Any
    host: str
    label: str


def plan_jobs(
    specs: Sequence[Any],
    hosts: Sequence[str] | None = None,
    repeats: int = 1,
    labels: Sequence[str] | None = None,
) -> list[Job]:
    """The runs of a comparison, in the order they start: repeat by repeat, column by column.

    With `hosts`, column i runs on `hosts[i % len(hosts)]` (its spec's `base_url` is
    replaced), so all repeats of a column are measured on the same machine. Without,
    each spec keeps its own server (`base_url`, or OLLAMA_HOST's). A host may be given
    with or without `/v1`: an OpenAI-compatible column speaks to its `/v1`, an Ollama
    column to its root (see `placed_url`).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if not specs:
        raise ValueError("nothing to run: give at least one spec")
    if labels is not None and len(labels) != len(specs):
        raise ValueError(f"need one label per spec: {len(specs)} specs, {len(labels)} labels")
    hosts = [h.rstrip("/") for h in hosts or ()]
    placed = []
    for i, spec in enumerate(specs):
        if hosts:
            spec = spec.replace(base_url=placed_url(hosts[i % len(hosts)], spec.backend))
        placed.append(spec)
    names = list(labels) if labels is not None else column_labels(placed)
    return [
        Job(column, repeat, spec, _host_of(spec), names[column])
        for repeat in range(repeats)
        for column, spec in enumerate(placed)
    ]


def placed_url(host: str, backend: str) -> str:
    """The `base_url` a column of `backend` gets on server `host`: its `/v1` for an
    OpenAI-compatible column, its root for the others.

    >>> placed_url("http://box:8000", "openai"), placed_url("http://box:8000/v1/", "openai")
    ('http://box:8000/v1', 'http://box:8000/v1')
    >>> placed_url("http://box:11434/v1", "ollama")
    'http://box:11434'
    """
    root = host.rstrip("/").removesuffix("/v1")
    return root + "/v1" if backend == "openai" else root


def _host_of(spec: Any) -> str:
    """The server a spec runs on: its queue. An OpenAI-compatible URL without its /v1, so
    a server spoken to in both protocols (Ollama, the embedded one) is one queue."""
    from .._host import base_url

    url = (getattr(spec, "base_url", None) or base_url()).rstrip("/")
    return url.removesuffix("/v1") if getattr(spec, "backend", None) == "openai" else url


# What each backend speaks, as the mode line says it.
PROTOCOLS = {"ollama": "Ollama API", "openai": "OpenAI-compatible /v1", "mlx": "MLX in process"}


# Spec fields that say where a server is, not how the model runs.
_WHERE = {"base_url", "client_kwargs", "sync_client_kwargs", "async_client_kwargs"}


def column_labels(specs: Sequence[Any]) -> list[str]:
    """A short name per spec: the model, the settings that differ between the specs,
    and the server when there are several.

    >>> from localllm_nb import ModelSpec
    >>> a = ModelSpec(model="m", temperature=0, num_predict=8)
    >>> column_labels([a, a.replace(temperature=1.0)])
    ['m · temperature=0.0', 'm · temperature=1.0']
    """
    params = [{k: v for k, v in s.set_params().items() if k not in _WHERE} for s in specs]
    keys = sorted({k for p in params for k in p})
    differ = [k for k in keys if len({repr(p.get(k)) for p in params}) > 1]
    several_hosts = len({_host_of(s) for s in specs}) > 1
    names = []
    for spec, p in zip(specs, params, strict=True):
        name = spec.model
        settings = ", ".join(f"{k}={p.get(k)}" for k in differ)
        name += f" · {settings}" if settings else ""
        name += f" @ {_host_of(spec)}" if several_hosts else ""
        names.append(name)
    counts: dict[str, int] = {}
    for i, name in enumerate(names):  # identical specs: number them
        if names.count(name) > 1:
            counts[name] = counts.get(name, 0) + 1
            names[i] = f"{name} #{counts[name]}"
    return names


def loaded_models(host: str, timeout: float = 2.0) -> list[dict[str, Any]] | str:
    """The models a server has loaded (`GET /api/ps`): name, size, size_vram, expiry;
    or a one-line reason when the server did not say."""
    import httpx

    try:
        response = httpx.get(f"{host}/api/ps", timeout=timeout)
        response.raise_for_status()
        models = response.json().get("models") or []
    except Exception as exc:  # the figures stay useful without it
        return f"/api/ps failed: {type(exc).__name__}: {exc}"
    keep = ("name", "size", "size_vram", "expires_at")
    return [{k: m.get(k) for k in keep if k in m} for m in models]


def result_row(job: Job, run: Run, concurrency: int) -> dict[str, Any]:
    """One run as a flat row: where and how it ran, its figures and its text. The
    answer's `mean_logprob` and `perplexity` (its content tokens, as `RunHistory`
    exports them) are None unless the run recorded logprobs."""
    stats = run.stats
    answer = [t for t in run.logprobs if t.channel == "content"]
    reason = run.done_reason or {"cancelled": "stopped", "error": "error"}.get(run.status)
    return {
        "column": job.column,
        "label": job.label,
        "repeat": job.repeat,
        "model": job.spec.model,
        "host": job.host,
        "protocol": job.spec.backend,
        "concurrency": concurrency,
        "status": run.status,
        "done_reason": reason,
        "ttft_s": stats.ttft_s,
        "client_tps": stats.client_tps,
        "server_tps": stats.server_tps,
        "tokens": stats.tokens,
        "duration_s": stats.duration_s,
        "load_s": stats.load_s,
        "mean_logprob": mean_logprob(answer),
        "perplexity": perplexity(answer),
        "content": run.content,
        "error": None if run.error is None else f"{type(run.error).__name__}: {run.error}",
    }


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per column: runs, mean and standard deviation of each figure, done reasons.

    >>> rows = [{"column": 0, "label": "a", "status": "done", "done_reason": "stop",
    ...          "ttft_s": t, "client_tps": 80.0, "server_tps": None, "tokens": 8,
    ...          "duration_s": 0.5, "load_s": 0.0} for t in (0.1, 0.3)]
    >>> s = summarize(rows)[0]
    >>> (s["runs"], round(s["ttft_s"], 2), round(s["ttft_s_std"], 3), s["server_tps"])
    (2, 0.2, 0.141, None)
    """
    columns: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        columns.setdefault(row["column"], []).append(row)
    out = []
    for column in sorted(columns):
        group = columns[column]
        summary: dict[str, Any] = {"column": column, "label": group[0]["label"], "runs": len(group)}
        for name in FIGURES:
            values = [r[name] for r in group if r.get(name) is not None and measured(r)]
            summary[name] = statistics.fmean(values) if values else None
            summary[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else None
        reasons = sorted({str(r["done_reason"]) for r in group})
        summary["done_reason"] = ", ".join(reasons)
        out.append(summary)
    return out


def best_columns(summary: Sequence[dict[str, Any]]) -> dict[str, int]:
    """For each figure with a better direction, the column that did best (ties: first).

    >>> best_columns([{"column": 0, "ttft_s": 0.3, "client_tps": 90.0},
    ...               {"column": 1, "ttft_s": 0.2, "client_tps": None}])
    {'ttft_s': 1, 'client_tps': 0}
    """
    best = {}
    for name, direction in FIGURES.items():
        scored = [(s[name], s["column"]) for s in summary if s.get(name) is not None]
        if direction is None or len(scored) < 1 or not all(math.isfinite(v) for v, _ in scored):
            continue
        pick = min if direction == "min" else max
        value = pick(v for v, _ in scored)
        best[name] = next(c for v, c in scored if v == value)
    return best


@dataclass
class Schedule:
    """Runs `jobs` with at most `concurrency` generations at once per host.

    `start(job)` starts one run and returns its `Run` (default: `start_run(job.spec,
    prompt, **run_kwargs)`); `on_end(job, run)` is called as each run ends. `begin()`
    returns at once (a dispatcher thread per host slot); `stop()` cancels live runs and
    drops the rest; `wait()` blocks until everything ended.
    """

    jobs: list[Job]
    prompt: Any
    concurrency: int = 1
    start: Callable[[Job], Run] | None = None
    on_end: Callable[[Job, Run], None] | None = None
    run_kwargs: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[Job, Run]] = field(default_factory=list)
    mode: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        self._cond = threading.Condition()
        self._pending = list(self.jobs)
        self._busy: set[int] = set()  # columns with a live run
        self._live: list[Run] = []
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._done = threading.Event()

    @property
    def hosts(self) -> list[str]:
        """The servers this schedule uses, in first-use order."""
        return list(dict.fromkeys(job.host for job in self.jobs))

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def finished(self) -> bool:
        """True once every run ended (or was dropped by `stop()`)."""
        return self._done.is_set()

    def begin(self) -> Schedule:
        """Record the servers' loaded models, then start dispatching; returns at once."""
        self.mode = {
            "concurrency": self.concurrency,
            "per": "host",
            "hosts": self.hosts,
            "repeats": 1 + max(job.repeat for job in self.jobs),
            # Column -> the protocol its runs spoke (columns may mix Ollama and OpenAI).
            "protocols": {
                job.column: PROTOCOLS.get(job.spec.backend, job.spec.backend) for job in self.jobs
            },
            "ps_before": {},
            "ps_after": {},
        }
        slots = [(host, i) for host in self.hosts for i in range(self.concurrency)]
        self._running_slots = len(slots)
        for host, i in slots:
            thread = threading.Thread(
                target=self._dispatch, args=(host,), name=f"localllm-schedule-{i}", daemon=True
            )
            self._threads.append(thread)
        threading.Thread(target=self._launch, name="localllm-schedule", daemon=True).start()
        return self

    def stop(self) -> None:
        """Cancel the live runs and drop those not started."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            live = list(self._live)
            self._cond.notify_all()
        for run in live:
            run.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the schedule ends; False if `timeout` passed first."""
        return self._done.wait(timeout)

    # --- internals ----------------------------------------------------------------

    def _launch(self) -> None:
        for host in self.hosts:
            self.mode["ps_before"][host] = loaded_models(host)
        for thread in self._threads:
            thread.start()

    def _next(self, host: str) -> Job | None:
        with self._cond:
            while not self._stopped:
                job = next(
                    (j for j in self._pending if j.host == host and j.column not in self._busy),
                    None,
                )
                if job is not None:
                    self._pending.remove(job)
                    self._busy.add(job.column)
                    return job
                if not any(j.host == host for j in self._pending):
                    return None
                self._cond.wait()
            return None

    def _dispatch(self, host: str) -> None:
        try:
            while (job := self._next(host)) is not None:
                self._run(job)
        finally:
            with self._cond:
                self._running_slots -= 1
                last = self._running_slots == 0
            if last:
                for h in self.hosts:
                    self.mode["ps_after"][h] = loaded_models(h)
                self._done.set()

    def _run(self, job: Job) -> None:
        try:
            run = self._start(job)
        except Exception as exc:  # refused before it started: a failed row, not a dead thread
            run = Run.failed(exc, model_name=job.spec.model, spec=job.spec, prompt=self.prompt)
        with self._cond:
            self._live.append(run)
        if self._stopped:
            run.cancel()
        run.wait()
        with self._cond:
            self._live.remove(run)
            self.runs.append((job, run))
            self.rows.append(result_row(job, run, self.concurrency))
        try:
            if self.on_end is not None:
                self.on_end(job, run)
        finally:
            with self._cond:
                self._busy.discard(job.column)
                self._cond.notify_all()

    def _start(self, job: Job) -> Run:
        if self.start is not None:
            return self.start(job)
        from .driver import start_run

        return start_run(job.spec, self.prompt, **self.run_kwargs)
