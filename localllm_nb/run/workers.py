"""Warm worker threads for runs.

Starting a thread costs about a millisecond before a run's request can leave (measured
on 2 cores: a third of the client's whole share of the time to first token); an idle
worker picks a run up in tens of microseconds. Runs never wait for one another: a run
submitted while every worker is busy gets a new thread. A few workers stay idle for the
next runs; the rest end. Workers are daemon threads, so a run blocked on a dead server
never holds up the interpreter's exit.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Workers:
    """Run each submitted call at once, on an idle worker or a new one."""

    def __init__(self, name: str = "localllm-run", max_idle: int = 4):
        self._name = name
        self._max_idle = max_idle
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers waiting for a task and not yet promised one
        self._count = itertools.count(1)

    @property
    def idle(self) -> int:
        return self._idle

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # promise the task to a waiting worker
                spawn = False
            else:
                spawn = True
        self._tasks.put((fn, args))
        if spawn:
            name = f"{self._name}-worker-{next(self._count)}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, args = self._tasks.get()
            try:
                fn(*args)
            except BaseException:  # a worker outlives the task it ran
                log.exception("%s: a task failed", threading.current_thread().name)
            with self._lock:
                if self._idle >= self._max_idle:
                    return
                self._idle += 1
