"""Coalesced frames of a run, for views: what is new since the last frame, at most one
frame every `every` seconds, and always a final one.

A view that redraws per token pays a message per token (WIDGETS.md: about 620 bytes of
Jupyter envelope each), so views follow frames instead. Each subscriber keeps its own
offsets into the run's append-only records: a subscriber that joins late gets
everything so far in its first frame, and no piece is sent twice or skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .stats import TimelinePoint
from .tokens import TokenLogprob

if TYPE_CHECKING:
    from .record import Run, RunEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFrame:
    """What changed in a run since the subscriber's previous frame.

    `content`, `thinking`, `points` (timeline), `tool_calls` and `logprobs` (one
    `TokenLogprob` per new token, when the run records them; `tokens.pack` turns them
    into compact columns for a browser) hold only what is new;
    `seq` counts this subscriber's frames from 1; `final` is True on the last frame,
    which carries the outcome (`status`, `done_reason`, `error`, `observer_errors`).
    """

    run_id: int
    seq: int
    status: str
    t: float
    content: str = ""
    thinking: str = ""
    points: tuple[TimelinePoint, ...] = ()
    tool_calls: tuple[dict[str, Any], ...] = ()
    logprobs: tuple[TokenLogprob, ...] = ()
    final: bool = False
    done_reason: str | None = None
    error: str | None = None
    observer_errors: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the frame carries no new output (a status change only)."""
        return not (
            self.content or self.thinking or self.points or self.tool_calls or self.logprobs
        )


class FrameFeed:
    """One subscriber's frames: offsets into the run, throttle, a timer for the tail."""

    def __init__(
        self,
        run: Run,
        callback: Callable[[RunFrame], None],
        every: float,
        min_tokens: int = 1,
        max_wait: float | None = None,
    ):
        self.run = run
        self.callback = callback
        self.every = every
        self.min_tokens = min_tokens
        self.max_wait = every if max_wait is None else max(every, max_wait)
        # content pieces, thinking pieces, points, tool calls, token logprobs
        self._offsets = [0, 0, 0, 0, 0]
        self._seq = 0
        self._status = ""
        self._last = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False
        self._lock = threading.Lock()

    def on_event(self, event: RunEvent) -> None:
        """Run subscriber: flush on start and end, otherwise at most once per `every`."""
        waited = time.monotonic() - self._last
        pending = len(self.run.timeline) - self._offsets[2]
        if event.type == "end":
            self.flush(final=True)
        elif event.type == "start" or (
            waited >= self.every and (pending >= self.min_tokens or waited >= self.max_wait)
        ):
            self.flush()
        elif self._timer is None:
            # Something new is waiting: make sure it goes out even if no event follows.
            wait = max(0.0, self.max_wait - waited)
            self._timer = threading.Timer(wait, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self, final: bool = False) -> None:
        """Send what is new (and the outcome, when `final`)."""
        with self._lock:
            if self._closed:
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            frame = self._next(final)
            if frame is None:
                return
            self._closed = final
            self._last = time.monotonic()
            try:
                self.callback(frame)
            except Exception as exc:  # a view's bug must not stop the run
                self.run.callback_errors.append(exc)
                log.exception("run %s: frame subscriber %r failed", self.run.id, self.callback)

    def close(self) -> None:
        """Stop sending frames (unsubscribe)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _next(self, final: bool) -> RunFrame | None:
        run = self.run
        new, ends = run.read_from(self._offsets)
        status = run.status
        if not final and not any(new) and status == self._status:
            return None  # nothing to say
        self._offsets = ends
        self._status = status
        self._seq += 1
        frame = RunFrame(
            run_id=run.id,
            seq=self._seq,
            status=status,
            t=run.elapsed(),
            content="".join(new[0]),
            thinking="".join(new[1]),
            points=tuple(new[2]),
            tool_calls=tuple(new[3]),
            logprobs=tuple(new[4]),
            final=final,
        )
        if not final:
            return frame
        return RunFrame(
            **{
                **frame.__dict__,
                "done_reason": run.done_reason,
                "error": str(run.error) if run.error is not None else None,
                "observer_errors": tuple(
                    f"{type(e).__name__}: {e}" for e in list(run.callback_errors)
                ),
            }
        )
