"""`Run`: the live record of one generation, readable while it is still streaming, and
`RunRecorder`, its writer side.

The worker (a thread or an asyncio task) holds the recorder and feeds chunks in; any
thread may read the run's text, timeline and stats, subscribe to events, cancel, or
wait for the end. Views and schedulers get the `Run` only, so they cannot write it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .chunks import split_chunk
from .frames import FrameFeed, RunFrame
from .stats import RunStats, TimelinePoint, compute_stats
from .tokens import TokenLogprob, parse_logprobs

log = logging.getLogger(__name__)
_ids = itertools.count(1)

PENDING, RUNNING, DONE, CANCELLED, ERROR = "pending", "running", "done", "cancelled", "error"


@dataclass(frozen=True)
class RunEvent:
    """What observers receive: `type` is 'start', 'token', 'tool_call' or 'end'.

    For 'token', `text` is the new text and `channel` 'content' or 'thinking'; `t` is
    seconds since the run started. Read everything else from `run`.
    """

    type: str
    run: Run
    text: str = ""
    channel: str = ""
    t: float = 0.0


class Run:
    """One generation: text, thinking, tool calls, timeline, server figures, outcome.

    `status` is 'pending', 'running', 'done', 'cancelled' or 'error'. A cancelled or
    failed run keeps the partial output; `error` holds the typed exception. Only its
    `RunRecorder` writes it (`start_run` keeps that for its worker).
    """

    def __init__(self, model_name: str = "", spec: Any = None, prompt: Any = None):
        self.id = next(_ids)
        self.model_name = model_name
        self.spec = spec
        self.prompt = prompt
        self.model: Any = None  # the LangChain model that runs (set once it is built)
        self.status = PENDING
        self.started_at: float | None = None  # epoch seconds
        self.error: BaseException | None = None
        self.done_reason: str | None = None
        self.tool_calls: list[dict[str, Any]] = []
        self.timeline: list[TimelinePoint] = []
        self.server: dict[str, Any] = {}
        self.callback_errors: list[BaseException] = []
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._logprobs: list[TokenLogprob] = []
        self._t0 = 0.0
        self._t_end: float | None = None
        self._tokens = 0
        self._subscribers: list[Callable[[RunEvent], None]] = []
        self._ended = False  # set with the final status, under _lock
        self._finished = threading.Event()
        self._cancel_requested = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._task_cancel: Callable[[], None] | None = None
        self._receipt: Any = None

    # --- reading -------------------------------------------------------------------

    @property
    def content(self) -> str:
        """The answer text so far."""
        return "".join(list(self._content))

    @property
    def thinking(self) -> str:
        """The reasoning text so far ('' when the model or settings give none)."""
        return "".join(list(self._thinking))

    @property
    def logprobs(self) -> list[TokenLogprob]:
        """Per generated token, its logprob and top alternatives, when the model was
        asked for them (`logprobs=True`, `top_logprobs=k`); [] otherwise. Read them
        with `localllm_nb.run.tokens` (probability, entropy, perplexity...)."""
        return list(self._logprobs)

    @property
    def done(self) -> bool:
        """True once the run has ended, whichever way."""
        return self._finished.is_set()

    @property
    def cancelled(self) -> bool:
        """True when the run ended because `cancel()` was called."""
        return self.status == CANCELLED

    @property
    def stats(self) -> RunStats:
        """Timing figures so far (final once `done`)."""
        end = (
            self._t_end
            if self._t_end is not None
            else (time.perf_counter() if self.status == RUNNING else None)
        )
        duration = end - self._t0 if end is not None and self._t0 else None
        return compute_stats(list(self.timeline), duration, dict(self.server))

    def elapsed(self) -> float:
        """Seconds since the run started (up to its end once done)."""
        if not self._t0:
            return 0.0
        end = self._t_end if self._t_end is not None else time.perf_counter()
        return end - self._t0

    def read_from(self, offsets: Sequence[int]) -> tuple[tuple[list, ...], list[int]]:
        """What was recorded after `offsets`, and the offsets to pass next time: an
        observer's cursor into the run's append-only records (content pieces, thinking
        pieces, timeline points, tool calls, token logprobs, in that order)."""
        sources = (self._content, self._thinking, self.timeline, self.tool_calls, self._logprobs)
        ends = [len(source) for source in sources]
        new = tuple(s[a:b] for s, a, b in zip(sources, offsets, ends, strict=True))
        return new, ends

    @property
    def observer_errors(self) -> list[str]:
        """Errors raised by observers (subscribers, frame callbacks), as 'Type: message'.
        They never stop the run; they are kept here and in the final frame."""
        return [f"{type(e).__name__}: {e}" for e in list(self.callback_errors)]

    def __repr__(self) -> str:
        extra = f", observer_errors={len(self.callback_errors)}" if self.callback_errors else ""
        return (
            f"Run(id={self.id}, model={self.model_name!r}, status={self.status!r}, "
            f"tokens={self._tokens}, done_reason={self.done_reason!r}{extra})"
        )

    @property
    def context(self) -> Any:
        """`ContextUse`: prompt + generated tokens against the model's context, and
        whether the prompt was cut to fit (final once the run is done)."""
        from .context import context_use

        return context_use(self)

    def receipt(self, *, refresh: bool = False) -> Any:
        """This run's `Receipt` (model digest, server, effective options, template hash,
        seed, packages, machine), taken from the server once the run has ended and kept:
        take it soon after the run, while the server still holds the model as it ran."""
        from .receipt import take_receipt

        if not self.done:
            raise RuntimeError("a receipt records a finished run: wait() for it first")
        if self._receipt is None or refresh:
            self._receipt = take_receipt(self)
        return self._receipt

    # --- observing and control -----------------------------------------------------

    def subscribe(self, callback: Callable[[RunEvent], None]) -> Callable[[], None]:
        """Call `callback(event)` from the worker on every event; returns an unsubscribe
        function. Callback exceptions are logged and kept in `callback_errors`; they
        never stop the run."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def watch(
        self,
        callback: Callable[[RunFrame], None],
        every: float = 0.05,
        *,
        min_tokens: int = 1,
        max_wait: float | None = None,
    ) -> Callable[[], None]:
        """Call `callback(frame)` with coalesced `RunFrame`s: what is new since the last
        frame, at most one every `every` seconds, and a final frame with the outcome.

        With `min_tokens`, a frame also waits for that many new chunks, or `max_wait`
        seconds: the number of frames then follows the tokens, not the clock, which
        bounds a slow answer's traffic. The first frame comes at once and holds
        everything so far, so a view that
        starts watching mid-run (or after the end) misses nothing. Frames come from the
        worker thread (or a timer thread for a trailing piece). Returns an unsubscribe
        function.
        """
        if every < 0:
            raise ValueError(f"every must be >= 0 seconds, got {every}")
        feed = FrameFeed(self, callback, every, min_tokens, max_wait)
        with self._lock:
            ended = self._ended
            if not ended:
                self._subscribers.append(feed.on_event)
        feed.flush(final=ended)

        def unsubscribe() -> None:
            feed.close()
            if feed.on_event in self._subscribers:
                self._subscribers.remove(feed.on_event)

        return unsubscribe

    def cancel(self) -> None:
        """Stop generating (from any thread). The connection is shut so the server stops
        too; partial text and stats stay on the run, which ends as 'cancelled'. A run
        still pending (its model being built) ends at once."""
        self._cancel_requested.set()
        if self.status == PENDING:
            self._end(None)
            return
        with self._lock:
            sock = self._socket if not self.done else None
            task_cancel = self._task_cancel
        if sock is not None:
            # Shutting the socket wakes a worker blocked in recv (a plain close would not).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if task_cancel is not None and not self.done:
            task_cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends or `timeout` seconds pass; True when it ended."""
        return self._finished.wait(timeout)

    def raise_for_error(self) -> Run:
        """Raise the run's error, if any; return the run otherwise."""
        if self.error is not None:
            raise self.error
        return self

    @classmethod
    def failed(
        cls, error: BaseException, model_name: str = "", spec: Any = None, prompt: Any = None
    ) -> Run:
        """A run refused before it started (a bad spec, no server): status 'error', so
        a view or a schedule shows it like any other failure."""
        run = cls(model_name=model_name, spec=spec, prompt=prompt)
        run._end(error)
        return run

    # --- internals, written through RunRecorder ------------------------------------

    def _emit(self, event: RunEvent, subscribers: list | None = None) -> None:
        for callback in list(self._subscribers) if subscribers is None else subscribers:
            try:
                callback(event)
            except Exception as exc:  # an observer bug must not kill the generation
                self.callback_errors.append(exc)
                log.exception("run %s: observer %r failed", self.id, callback)

    def _end(self, error: BaseException | None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            subscribers = list(self._subscribers)
            self._t_end = time.perf_counter()
            self._socket = None
            self._task_cancel = None
            if self._cancel_requested.is_set():
                self.status = CANCELLED
            elif error is not None:
                self.status = ERROR
                self.error = error
            else:
                self.status = DONE
        # Observers see the final state before waiters wake, so a waiter reads their work.
        end = RunEvent("end", self, t=self._t_end - self._t0 if self._t0 else 0.0)
        self._emit(end, subscribers)
        self._finished.set()


def _channel(parts: Any) -> str:
    if parts.content:
        return "content"
    if parts.thinking:
        return "thinking"
    return "tool_call" if parts.tool_calls else ""


class RunRecorder:
    """The writer side of one `Run`: the worker that streams holds it; everyone else
    reads `recorder.run`.

    Lifecycle, as the run's `status` shows it, and the calls each state allows:

    - pending: just created (a model may still be building). `start()` or `finish()`.
      A `Run.cancel()` here ends the run at once; `start()` then returns False.
    - running (streaming): after `start()` returned True. `feed(chunk)` per chunk,
      `attach_socket(sock)` and `on_cancel(callback)` so a cancel can wake the worker,
      `finish()`. Check `cancel_requested` between chunks and stop when it is set.
    - done | cancelled | error: after `finish(error)`. The outcome is final: `finish`
      again does nothing, and a chunk fed after the end is dropped.

    `finish()` decides the outcome: cancelled when a cancel was requested (or
    `cancelled=True`), error when `error` is given, done otherwise.
    """

    def __init__(self, model_name: str = "", spec: Any = None, prompt: Any = None):
        self.run = Run(model_name=model_name, spec=spec, prompt=prompt)
        self._waiting: list[Any] = []  # logprob entries whose text has not come yet
        self._channel = "content"  # of the last entries recorded

    @property
    def cancel_requested(self) -> bool:
        """True once someone called `run.cancel()`: stop reading and `finish()`."""
        return self.run._cancel_requested.is_set()

    def start(self) -> bool:
        """Mark the run running; False when it already ended (cancelled while pending)."""
        run = self.run
        with run._lock:
            if run._ended:
                return False
            run.started_at = time.time()
            run._t0 = time.perf_counter()
            run.status = RUNNING
        run._emit(RunEvent("start", run))
        return True

    def feed(self, chunk: Any) -> None:
        """Record one chunk (a string, a LangChain chunk or `ChunkParts`): text,
        thinking, tool calls, a timeline point per piece, the server's figures, and the
        chunk's token logprobs on the chunk's channel. Entries that come without text
        (a server sends them so while its parser holds their text back) wait for the
        next chunk with text and take its channel."""
        run = self.run
        if run.status == PENDING:
            raise RuntimeError("feed() before start(): the run has not started")
        if run._ended:
            return
        now = time.perf_counter() - run._t0
        parts = split_chunk(chunk)
        if parts.metadata:
            run.server.update(parts.metadata)
            reason = parts.metadata.get("done_reason") or parts.metadata.get("finish_reason")
            if reason:
                run.done_reason = reason
        if parts.thinking:
            run._thinking.append(parts.thinking)
            run._tokens += 1
            run.timeline.append(TimelinePoint(now, run._tokens, "thinking"))
            run._emit(RunEvent("token", run, parts.thinking, "thinking", now))
        if parts.content:
            run._content.append(parts.content)
            run._tokens += 1
            run.timeline.append(TimelinePoint(now, run._tokens, "content"))
            run._emit(RunEvent("token", run, parts.content, "content", now))
        self._waiting.extend(parts.logprobs)
        channel = _channel(parts)
        if channel and self._waiting:
            self._channel = channel
            run._logprobs.extend(parse_logprobs(self._waiting, channel))
            self._waiting = []
        for call in parts.tool_calls:
            run.tool_calls.append(call)
            run.timeline.append(TimelinePoint(now, run._tokens, "tool_call"))
            run._emit(RunEvent("tool_call", run, str(call.get("name")), "tool_call", now))

    def attach_socket(self, sock: socket.socket) -> None:
        """The HTTP connection the worker reads: `run.cancel()` shuts it, which wakes
        a worker blocked in recv and tells the server the client left. Shut at once
        when the cancel came while the request was being sent."""
        run = self.run
        with run._lock:
            if not run._ended:
                run._socket = sock
        if self.cancel_requested:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (from the cancelling thread) when the run is cancelled while
        running: an asyncio worker passes what cancels its task."""
        with self.run._lock:
            self.run._task_cancel = callback

    def finish(self, error: BaseException | None = None, *, cancelled: bool = False) -> None:
        """End the run: observers get the final event, then waiters wake. With
        `cancelled`, record a cancel that came from elsewhere (the awaiting task)."""
        if cancelled:
            self.run._cancel_requested.set()
        if self._waiting and not self.run._ended:  # text the server never sent
            self.run._logprobs.extend(parse_logprobs(self._waiting, self._channel))
            self._waiting = []
        self.run._end(error)
