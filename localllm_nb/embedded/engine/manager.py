"""Loaded models: one engine per model, reloaded when the context size changes,
unloaded when its keep-alive expires (as Ollama's scheduler does).

The rule that keeps the server alive: a model is never freed while a request uses it
or waits for it. Every request holds a `Lease` on its engine from before its prompt is
tokenised until its answer ends (or its client leaves). A request that needs the model
at another context size or thread count marks the engine draining and waits until its
leases are back; newer requests queue behind it, so a reload is never starved. The
keep-alive clock starts when the last lease is returned, and an engine with leases
never expires.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

from ..models.registry import ModelEntry
from .memory import release_memory

DEFAULT_KEEP_ALIVE = 300.0  # seconds, Ollama's 5m


SHUTTING_DOWN = "server is shutting down"


class Abandoned(Exception):
    """A request gave up waiting for its model (its client went away)."""


class ShuttingDown(RuntimeError):
    """A request wanted a model while the server was stopping."""


@dataclass
class Loaded:
    """One model in memory (or being loaded, while `engine` is None)."""

    engine: object | None
    name: str
    # (num_ctx, threads, batch threads) the engine was loaded with; batch threads 0: the
    # default, chosen at load (`threads.batch_threads`), so joining never depends on it.
    config: tuple[int, int, int]
    expires_at: float = math.inf  # time.time() seconds; inf while in use or for never
    keep_alive: float = DEFAULT_KEEP_ALIVE  # set by the latest request, as in Ollama
    leases: int = 0
    # Set while a request waits to reload it at this (num_ctx, threads): nobody joins.
    wanted: tuple[int, int, int] | None = None
    waiters: int = 0

    def shown_expiry(self) -> float:
        """What `/api/ps` shows: in use, the keep-alive counted from now."""
        if self.leases:
            return time.time() + self.keep_alive
        return self.expires_at


@dataclass(eq=False)
class Lease:
    """A request's hold on an engine. `release()` is idempotent, so every path that
    might end a request (the answer's end, an error, a client that left) may call it."""

    engine: object
    load_duration: int  # ns spent waiting for and loading the model
    _manager: ModelManager = field(repr=False)
    _key: object = field(repr=False)
    cancel: threading.Event = field(default_factory=threading.Event)
    # Set by whoever runs a job under this lease: ends the job's answer with an error line.
    # A job started after the interruption reads `interrupted` instead (set first, so
    # one of the two always sees it).
    on_interrupt: Callable[[str], None] | None = field(default=None, repr=False)
    interrupted: str | None = None
    _released: bool = False

    def interrupt(self, message: str) -> None:
        """End the request now with `message` (the server is stopping)."""
        self.interrupted = message
        self.cancel.set()
        if self.on_interrupt is not None:
            self.on_interrupt(message)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self.cancel.set()  # a job still running for this request stops at its next token
        self._manager.give_back(self._key, self)


class Step(Enum):
    """What a request that wants a model does next, decided under the manager's lock."""

    LOAD = "load"  # not loaded: this request loads it
    JOIN = "join"  # loaded as wanted: take a lease
    RELOAD = "reload"  # loaded otherwise and nobody holds it: this request reloads it
    DRAIN = "drain"  # loaded otherwise and in use: mark it wanted, wait for its leases
    WAIT = "wait"  # being loaded, or draining for a request ahead: wait


def next_step(item: Loaded | None, config: tuple) -> Step:
    """The model's state (`item`, None when not loaded) decides a request's next step.

    >>> small, large = (2048, 1, 0), (4096, 1, 0)
    >>> busy = Loaded(engine="e", name="m", config=small, leases=1)
    >>> next_step(None, small), next_step(busy, small), next_step(busy, large)
    (<Step.LOAD: 'load'>, <Step.JOIN: 'join'>, <Step.DRAIN: 'drain'>)
    >>> busy.wanted = large
    >>> next_step(busy, small)  # a reload waits for it to drain: nobody joins
    <Step.WAIT: 'wait'>

    An engine that died (its process ended) is reloaded as if asked at another size.
    """
    if item is None:
        return Step.LOAD
    if item.engine is None:
        return Step.WAIT  # another request is loading it
    if item.config == config and getattr(item.engine, "alive", True):
        return Step.JOIN if item.wanted is None else Step.WAIT
    if item.leases == 0:
        return Step.RELOAD if item.wanted in (None, config) else Step.WAIT
    return Step.DRAIN if item.wanted is None else Step.WAIT


class ModelManager:
    """Loads engines on demand, lends them to requests, and unloads them when no request
    holds them and their keep-alive has run out."""

    def __init__(self, threads: int = 0, num_parallel: int = 1):
        from .threads import others_busy

        others_busy()  # the first look at the CPUs: the first load measures from here
        self.threads = threads
        self.num_parallel = max(1, num_parallel)
        self._loaded: dict[object, Loaded] = {}
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        self._leases: set[Lease] = set()

    @staticmethod
    def _key(entry: ModelEntry):
        # Variants of one weights file (e.g. smollm2 and its thinking template) share an engine.
        return entry.weights

    def _config(self, entry: ModelEntry, num_ctx: int, num_thread: int) -> tuple[int, int, int]:
        """(num_ctx, threads, batch threads). A thread count asked for (`num_thread`,
        `serve --threads`) sets both, as Ollama's runner does; without one, decoding
        leaves a CPU to the notebook and prompts get the CPUs free at load (0 here)."""
        from .threads import default_threads

        if entry.kind != "chat":
            return (num_ctx, self.threads, self.threads)  # an encoder's are fixed per server
        asked = num_thread or self.threads
        return (num_ctx, asked or default_threads(), asked)

    def acquire(
        self,
        entry: ModelEntry,
        num_ctx: int,
        name: str,
        num_thread: int = 0,
        keep_alive: float = DEFAULT_KEEP_ALIVE,
        abandoned: threading.Event | None = None,
    ) -> Lease:
        """A lease on the engine for `entry` at this context size and thread count,
        loading it (or, once every other request has given the old one back, reloading
        it: llama.cpp fixes both at load, as Ollama's runner does). Blocks while waiting;
        raises `Abandoned` once `abandoned` is set (the client left), so that a request
        nobody waits for does not take its turn and reload the model for nothing."""
        started = time.perf_counter()
        key = self._key(entry)
        config = self._config(entry, num_ctx, num_thread)
        with self._cond:
            while True:
                self._check_open()
                item = self._loaded.get(key)
                step = next_step(item, config)
                if step is Step.JOIN:
                    return self._lend(item, key, name, keep_alive, started)
                if step in (Step.LOAD, Step.RELOAD):
                    break
                if step is Step.DRAIN:
                    item.wanted = config  # nobody joins it now: it drains for this request
                self._wait_turn(item, config, abandoned)
            old = item.engine if step is Step.RELOAD else None
            # A placeholder keeps everyone else waiting while this thread (re)loads.
            placeholder = Loaded(engine=None, name=name, config=config, leases=1)
            self._loaded[key] = placeholder
        engine = self._load_in_place(entry, key, placeholder, old)
        return self._install(placeholder, engine, key, name, keep_alive, started)

    @property
    def stopping(self) -> bool:
        """True once `stop` or `close` was called: no request gets a model any more."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ShuttingDown(SHUTTING_DOWN)

    def _wait_turn(self, item: Loaded, config: tuple, abandoned) -> None:
        """Wait (lock held) until the model's state changes; `Abandoned` if the client
        left meanwhile, giving up this request's claim to reload it."""
        item.waiters += 1
        self._cond.wait(timeout=None if abandoned is None else 0.25)
        item.waiters -= 1
        if abandoned is not None and abandoned.is_set():
            if item.wanted == config:  # others wanting it mark it again
                item.wanted = None
                self._cond.notify_all()
            raise Abandoned("the client went away while waiting for the model")

    def _load_in_place(self, entry: ModelEntry, key, placeholder: Loaded, old):
        """Free the engine being replaced, if any, and load the new one (lock not held);
        on failure the placeholder goes, so the next request tries afresh."""
        try:
            if old is not None:
                old.close()
                release_memory()
            return self._load(entry, placeholder.config)
        except BaseException:
            with self._cond:
                if self._loaded.get(key) is placeholder:
                    del self._loaded[key]
                self._cond.notify_all()
            raise

    def _install(self, item: Loaded, engine, key, name: str, keep_alive: float, started):
        """The loaded engine takes the placeholder's place; this request's lease on it."""
        with self._cond:
            item.engine = engine
            item.leases -= 1  # the placeholder's hold, now a lease like any other
            self._cond.notify_all()
            if self._closed:
                self._drop(key)
            self._check_open()
            return self._lend(item, key, name, keep_alive, started)

    def _lend(self, item: Loaded, key, name: str, keep_alive: float, started: float) -> Lease:
        item.leases += 1
        item.name = name
        item.keep_alive = keep_alive
        item.expires_at = math.inf
        loaded_in = int((time.perf_counter() - started) * 1e9)
        lease = Lease(engine=item.engine, load_duration=loaded_in, _manager=self, _key=key)
        self._leases.add(lease)
        return lease

    def _load(self, entry: ModelEntry, config: tuple[int, int, int]):
        num_ctx, threads, batch = config
        if entry.kind == "chat":
            from .llama import LlamaEngine

            return LlamaEngine(
                entry,
                num_ctx=num_ctx,
                num_thread=threads,
                parallel=self.num_parallel,
                num_thread_batch=batch,
            )
        if entry.kind == "embedding":
            from ..embedder.engines import EmbeddingEngine

            return EmbeddingEngine(entry, num_ctx=num_ctx, num_thread=threads)
        raise RuntimeError(f"no engine for model kind {entry.kind!r}")

    def give_back(self, key, lease: Lease) -> None:
        """A lease returned (`Lease.release`): the keep-alive clock starts with the last."""
        with self._cond:
            self._leases.discard(lease)
            item = self._loaded.get(key)
            if item is None or item.engine is not lease.engine:
                return
            item.leases -= 1
            if item.leases == 0:
                if item.keep_alive <= 0 and not item.waiters:
                    self._drop(key)
                else:
                    item.expires_at = time.time() + item.keep_alive
            self._cond.notify_all()

    def _drop(self, key) -> None:
        """Forget an unused engine and free it in the background (the caller may be the
        event loop). Called with the lock held."""
        item = self._loaded.pop(key)
        threading.Thread(target=_freeing(item.engine.close), name="unload", daemon=True).start()

    def unload(self, entry: ModelEntry) -> bool:
        """Ollama's `keep_alive: 0` without a prompt: unload now if unused, else as soon as
        the last request holding it ends. Never loads anything. False if not loaded."""
        key = self._key(entry)
        with self._cond:
            item = self._loaded.get(key)
            if item is None or item.engine is None:
                return False
            item.keep_alive = 0
            if item.leases == 0 and not item.waiters:
                self._drop(key)
            return True

    def loaded(self, entry: ModelEntry):
        with self._cond:
            item = self._loaded.get(self._key(entry))
            return item.engine if item else None

    def expire(self) -> None:
        """Unload what nobody holds and whose keep-alive has run out. Never blocks."""
        now = time.time()
        with self._cond:
            for key, item in list(self._loaded.items()):
                idle = item.engine is not None and not item.leases and not item.waiters
                if idle and item.expires_at <= now:
                    self._drop(key)
            trims = [
                v.engine
                for v in self._loaded.values()
                if hasattr(v.engine, "has_idle_embedder") and v.engine.has_idle_embedder()
            ]
        for engine in trims:  # a chat model's embedding instance, unused for a while
            threading.Thread(target=_freeing(engine.free_idle_embedder), daemon=True).start()

    def running(self) -> list[tuple[ModelEntry, Loaded]]:
        with self._cond:
            return [(v.engine.entry, v) for v in self._loaded.values() if v.engine is not None]

    def stop(self, message: str = SHUTTING_DOWN) -> int:
        """The server is stopping: requests waiting for a model fail, and running ones
        end now with `message` as their last line; how many. Frees nothing (see `close`)."""
        with self._cond:
            self._closed = True
            leases = list(self._leases)
            self._cond.notify_all()
        for lease in leases:
            lease.interrupt(message)
        return len(leases)

    def close(self) -> None:
        """Free every engine (the server is stopping); jobs still queued end with an error."""
        with self._cond:
            self._closed = True
            items = [v for v in self._loaded.values() if v.engine is not None]
            self._loaded.clear()
            self._cond.notify_all()
        for item in items:
            item.engine.close()


def _freeing(close: Callable[[], None]) -> Callable[[], None]:
    """`close`, then the freed heap handed back to the system."""

    def run() -> None:
        close()
        release_memory()

    return run


def expires_at_iso(expires_at: float) -> str:
    if math.isinf(expires_at):
        moment = datetime(2318, 1, 1, tzinfo=timezone.utc)  # Ollama's "forever" is far out
    else:
        moment = datetime.fromtimestamp(expires_at, timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")
