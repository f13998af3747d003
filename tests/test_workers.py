"""Warm worker threads for runs: never queued behind each other, reused, bounded."""

from __future__ import annotations

import threading
import time

from localllm_nb.run.workers import Workers


def _wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_tasks_run_at_once_even_when_every_worker_is_busy():
    workers = Workers(name="t-busy")
    release = threading.Event()
    started = []
    for i in range(3):
        workers.submit(lambda i=i: (started.append(i), release.wait(10)))
    assert _wait_until(lambda: len(started) == 3)  # none waited for another to finish
    release.set()
    assert _wait_until(lambda: workers.idle == 3)


def test_idle_workers_are_reused_and_a_few_are_kept():
    workers = Workers(name="t-reuse", max_idle=2)
    release = threading.Event()
    names: list[str] = []

    def task():
        names.append(threading.current_thread().name)
        release.wait(10)

    for _ in range(5):
        workers.submit(task)
    assert _wait_until(lambda: len(names) == 5)
    release.set()
    assert _wait_until(lambda: workers.idle == 2)
    assert _wait_until(
        lambda: sum(t.name.startswith("t-reuse") for t in threading.enumerate()) == 2
    )
    first = set(names)
    names.clear()
    workers.submit(task)
    assert _wait_until(lambda: len(names) == 1)
    assert names[0] in first and names[0].startswith("t-reuse-worker-")


def test_a_failing_task_leaves_its_worker_alive():
    workers = Workers(name="t-fail")
    done = threading.Event()
    workers.submit(lambda: 1 / 0)
    assert _wait_until(lambda: workers.idle == 1)
    workers.submit(done.set)
    assert done.wait(5) and _wait_until(lambda: workers.idle == 1)
