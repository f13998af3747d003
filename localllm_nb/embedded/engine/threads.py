"""How many threads llama.cpp should use: the CPUs this process may really run on.

Why not `os.cpu_count()`: a container (a Binder pod, a CI runner) sees every core of its
host but may use only its affinity mask, and its cgroup CPU quota caps it further. Two
decoding threads on one CPU's worth of quota were measured 4-8x slower than one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

MAX_THREADS = 8  # a model this small stops getting faster well before that
CGROUP_ROOT = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max` line, None when unlimited.

    >>> parse_cpu_max("max 100000"), parse_cpu_max("150000 100000")
    (None, 1.5)
    """
    quota, _, period = text.strip().partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def parse_cfs(quota: str, period: str) -> float | None:
    """CPUs allowed by cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`.

    >>> parse_cfs("-1", "100000"), parse_cfs("200000", "100000")
    (None, 2.0)
    """
    q, p = int(quota), int(period)
    return None if q <= 0 or p <= 0 else q / p


def own_cgroups(root: Path) -> list[Path]:
    """This process's cgroup directories (v2 and v1 `cpu`), deepest first, with their parents:
    a quota set on any ancestor applies too."""
    dirs = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base = root
        elif "cpu" in controllers.split(","):
            base = root / "cpu"
        else:
            continue
        here = base / path.lstrip("/")
        while True:
            dirs.append(here)
            if here == base:
                break
            here = here.parent
    return dirs


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The tightest CPU quota over this process's cgroups (v2 or v1), None if unlimited."""
    limits = []
    for d in own_cgroups(root):
        try:
            if (d / "cpu.max").is_file():
                limits.append(parse_cpu_max((d / "cpu.max").read_text()))
            elif (d / "cpu.cfs_quota_us").is_file():
                limits.append(
                    parse_cfs(
                        (d / "cpu.cfs_quota_us").read_text(), (d / "cpu.cfs_period_us").read_text()
                    )
                )
        except (OSError, ValueError):
            continue
    found = [x for x in limits if x is not None]
    return min(found) if found else None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by its cgroup quota (rounded
    down, at least 1: a pod with 1.5 CPUs of quota gets one thread, not two fighting)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows: no affinity API
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, math.floor(limit))
    return max(1, cpus)


def default_threads() -> int:
    """llama.cpp's thread count when none is given (`num_thread`, `serve --threads`):
    one CPU is left for the notebook around the model (kernel, JupyterLab, the browser
    drawing the stream).

    llama.cpp's threads meet at a spinning barrier several hundred times per token, so
    when any other process wants a core they all wait for the one that was preempted.
    Measured on 2 cores: 2 threads give 80-100 tokens/s idle but 2.5-18 with a second
    busy process, 1 thread 60 idle and 37-49 busy; with a StreamView rendering in
    Chromium, 2 threads lost 15% of their rate and 1 thread nothing
    (benchmarks/bench_widgets.py)."""
    return max(1, min(available_cpus() - 1, MAX_THREADS))


def batch_threads(decode: int, own: Iterable[int] = ()) -> int:
    """llama.cpp's threads for prompt evaluation when none is given: the CPUs free when
    the model loads, at least the `decode` threads. Free means not kept busy by other
    processes (`others_busy`: the server's own, `own` pids, do not count, though the
    load average counts them: after a minute of decoding it read 1.1-1.4 on an
    otherwise idle 2-core machine, and every core would have been refused).

    Prompt evaluation runs before the first token, while the notebook around the model
    waits, so on an idle machine every core is free for it: on an idle 2-core machine a
    2,290-token prompt's first token came after 12.1 s on 2 threads and 19.3 s on 1
    (benchmarks/bench_prompt.py). But its threads meet at the same barrier as
    decoding's: with the machine shared (load 5-8 on 2 cores) a 2,162-token prompt took
    a median 1.5x longer on 2 threads than on 1. The count only changes how fast a
    prompt is evaluated, never its logits (checked: same tokens and logprobs on 1 and 2
    threads)."""
    cpus = min(available_cpus(), MAX_THREADS)
    busy = others_busy(own)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # Windows: no load average
            busy = 0.0
    free = math.floor(cpus - busy + 0.5)
    return max(decode, min(cpus, free))


def machine_busy_ticks(proc_stat: str) -> int:
    """Clock ticks the machine's CPUs spent working, from `/proc/stat`'s first line
    (everything but idle and iowait; guest time is already inside user time).

    >>> machine_busy_ticks("cpu  100 5 50 1000 20 1 2 3 0 0\\ncpu0 1 1 1 1 1 1 1 1 0 0")
    161
    """
    fields = [int(x) for x in proc_stat.split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal


def process_ticks(pid_stat: str) -> int:
    """Clock ticks a process spent on CPUs (user + system, all its threads), from
    `/proc/<pid>/stat` (its name, in parentheses, may hold spaces).

    >>> process_ticks("42 (a b) S 1 42 42 0 -1 4194304 10 0 0 0 700 300 0 0 20 0")
    1000
    """
    rest = pid_stat[pid_stat.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])


class Sample(NamedTuple):
    """A look at the CPUs: when (monotonic s), the machine's busy ticks, our pids' ticks."""

    at: float
    machine: int
    own: dict[int, int]


def sample(own: Iterable[int] = ()) -> Sample | None:
    """The CPU time spent so far by the machine and by this process and `own` pids;
    None without /proc."""
    try:
        machine = machine_busy_ticks(Path("/proc/stat").read_text())
    except (OSError, ValueError):
        return None
    ticks = {}
    for pid in {os.getpid(), *own}:
        try:
            ticks[pid] = process_ticks(Path(f"/proc/{pid}/stat").read_text())
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    return Sample(time.monotonic(), machine, ticks)


def others_between(before: Sample, after: Sample) -> float:
    """CPUs kept busy by other processes, on average, between two samples. A pid not
    seen before (a new engine host) counts its whole life as our own work."""
    own = sum(t - before.own.get(pid, 0) for pid, t in after.own.items())
    seconds = (after.machine - before.machine - own) / os.sysconf("SC_CLK_TCK")
    return max(0.0, seconds / (after.at - before.at))


_last: Sample | None = None


def others_busy(own: Iterable[int] = ()) -> float | None:
    """CPUs kept busy by other processes since the last call, this process and the
    `own` pids left out. None on the first call (the server makes it when it starts),
    without /proc, or after less than a second (too short to mean anything)."""
    global _last
    now = sample(own)
    if now is None or (_last is not None and now.at - _last.at < 1.0):
        return None
    last, _last = _last, now
    return None if last is None else others_between(last, now)
