"""How fast and how busy this machine is, measured before recording notebook outputs.

Saved outputs show timings; recorded on a machine busy with other work they contradict
the lessons around them. So the recorder measures first: the embedded model's decode
rate (a short fixed generation, tokens/s from the server's eval_count/eval_duration) and
the CPU other processes use (psutil, over a few seconds) with the load average. `judge`
is the pure decision, tested on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from dataclasses import asdict, dataclass, field

DECODE_MODEL = "smollm2:135m"
DECODE_PROMPT = "Count from one to forty in words, separated by commas."
DECODE_TOKENS = 64


@dataclass(frozen=True)
class Limits:
    """When the machine counts as busy."""

    max_others_percent: float = 10.0
    """Most CPU other processes may use, in percent of the whole machine."""
    max_load_per_cpu: float = 1.0
    """Most 1-minute load average per CPU (ours included: it lags by about a minute)."""
    min_decode_tok_s: float = 0.0
    """Least decode rate of the embedded model (0: any; set it from an idle run)."""


@dataclass(frozen=True)
class Sample:
    """One measurement of the machine."""

    cpu_count: int
    others_percent: float  # CPU of other processes, percent of the whole machine
    load1: float
    decode_tok_s: float | None = None
    seconds: float = 0.0  # how long the CPU was watched
    top: list[tuple[str, float]] = field(default_factory=list)  # busiest others (name, %core)

    @property
    def idle_cpu_percent(self) -> float:
        """What other processes left free, in percent of the whole machine."""
        return round(max(0.0, 100.0 - self.others_percent), 1)


def judge(sample: Sample, limits: Limits) -> list[str]:
    """Why `sample` is too busy to record on (empty: fine).

    >>> judge(Sample(cpu_count=2, others_percent=3.0, load1=0.4, decode_tok_s=80), Limits())
    []
    >>> judge(Sample(cpu_count=2, others_percent=55.0, load1=4.2), Limits())  # doctest: +NORMALIZE_WHITESPACE
    ['other processes use 55.0% of the CPU (limit 10.0%)',
     'load average 4.20 on 2 CPUs (limit 2.00)']
    """
    reasons = []
    if sample.others_percent > limits.max_others_percent:
        reasons.append(
            f"other processes use {sample.others_percent:.1f}% of the CPU "
            f"(limit {limits.max_others_percent:.1f}%)"
        )
    if sample.load1 > limits.max_load_per_cpu * sample.cpu_count:
        reasons.append(
            f"load average {sample.load1:.2f} on {sample.cpu_count} CPUs "
            f"(limit {limits.max_load_per_cpu * sample.cpu_count:.2f})"
        )
    rate = sample.decode_tok_s
    if rate is not None and rate < limits.min_decode_tok_s:
        reasons.append(
            f"the embedded model decodes {rate:.1f} tokens/s "
            f"(at least {limits.min_decode_tok_s:.1f} expected)"
        )
    return reasons


def describe(sample: Sample) -> str:
    """The measurement in one line, for messages and logs.

    >>> describe(Sample(cpu_count=2, others_percent=12.5, load1=1.5, decode_tok_s=61.25,
    ...                 top=[("python", 20.0)]))
    '2 CPUs, other processes 12.5% of the CPU (python 20% of a core), load 1.50, decode 61.2 tok/s'
    """
    busiest = ", ".join(f"{name} {pct:.0f}% of a core" for name, pct in sample.top[:3])
    parts = [
        f"{sample.cpu_count} CPUs",
        f"other processes {sample.others_percent:.1f}% of the CPU"
        + (f" ({busiest})" if busiest else ""),
        f"load {sample.load1:.2f}",
    ]
    if sample.decode_tok_s is not None:
        parts.append(f"decode {sample.decode_tok_s:.1f} tok/s")
    return ", ".join(parts)


def recorded_metadata(sample: Sample, at: str) -> dict:
    """What a recorded notebook keeps in `metadata.localllm_nb.recorded`.

    >>> recorded_metadata(Sample(cpu_count=2, others_percent=4.0, load1=0.31,
    ...                          decode_tok_s=81.234), "2026-12-06T03:00:00+00:00")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'at': '2026-12-06T03:00:00+00:00', 'decode_tok_s': 81.2, 'model': 'smollm2:135m',
     'cpu_count': 2, 'idle_cpu_percent': 96.0, 'load1': 0.31}
    """
    return {
        "at": at,
        "decode_tok_s": None if sample.decode_tok_s is None else round(sample.decode_tok_s, 1),
        "model": DECODE_MODEL,
        "cpu_count": sample.cpu_count,
        "idle_cpu_percent": sample.idle_cpu_percent,
        "load1": round(sample.load1, 2),
    }


def ours() -> set[int]:
    """This process and its descendants (the embedded server, kernels)."""
    import psutil

    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.children(recursive=True))}


def cpu_of_others(seconds: float = 5.0) -> tuple[float, list[tuple[str, float]]]:
    """CPU used by processes other than ours over `seconds`: (percent of the whole
    machine, the busiest few as (name, percent of one core))."""
    import psutil

    procs = []
    for proc in psutil.process_iter(["name"]):
        try:
            proc.cpu_percent(None)  # the first call only starts the count
            procs.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    time.sleep(seconds)
    mine = ours()
    used = []
    for proc in procs:
        if proc.pid in mine:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            used.append((proc.info["name"] or str(proc.pid), proc.cpu_percent(None)))
    total = sum(pct for _, pct in used) / (psutil.cpu_count() or 1)
    used.sort(key=lambda item: -item[1])
    return round(total, 1), [item for item in used if item[1] >= 5.0][:5]


def decode_rate(base_url: str, model: str = DECODE_MODEL) -> float:
    """The server's decode rate for a short fixed generation, from its own eval figures."""
    body = {
        "model": model,
        "prompt": DECODE_PROMPT,
        "stream": False,
        "options": {"num_predict": DECODE_TOKENS, "temperature": 0, "seed": 1},
    }
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/generate",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        reply = json.loads(response.read())
    if not reply.get("eval_duration"):
        raise RuntimeError(f"{model} generated nothing to time: {reply}")
    return reply["eval_count"] / reply["eval_duration"] * 1e9


def measure(base_url: str | None, seconds: float = 5.0) -> Sample:
    """Watch the CPU for `seconds`, then (given a server) time a short generation."""
    others, top = cpu_of_others(seconds)
    load1 = os.getloadavg()[0]
    rate = decode_rate(base_url) if base_url else None
    return Sample(os.cpu_count() or 1, others, load1, rate, seconds, top)


def sample_dict(sample: Sample) -> dict:
    """The sample as JSON-able data (for `--measure-only`)."""
    return {**asdict(sample), "idle_cpu_percent": sample.idle_cpu_percent}
