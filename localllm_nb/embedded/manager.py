"""Loaded models: one engine per model, reloaded when the context size changes,
unloaded when its keep-alive expires (as Ollama's scheduler does)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from .registry import ModelEntry

DEFAULT_KEEP_ALIVE = 300.0  # seconds, Ollama's 5m


@dataclass
class Loaded:
    engine: object
    name: str
    expires_at: float  # time.time() seconds; inf for never


class ModelManager:
    """Loads engines on demand and unloads them when their keep-alive runs out."""

    def __init__(self, threads: int = 0, num_parallel: int = 1):
        self.threads = threads
        self.num_parallel = max(1, num_parallel)
        self._loaded: dict[str, Loaded] = {}
        self._lock = threading.RLock()

    @staticmethod
    def _key(entry: ModelEntry):
        # Variants of one weights file (e.g. smollm2 and its thinking template) share an engine.
        return entry.weights

    def engine(self, entry: ModelEntry, num_ctx: int, name: str, num_thread: int = 0):
        """Return the engine for `entry`, loading it (or reloading at a new num_ctx or,
        for a chat model, a new thread count: llama.cpp fixes both at load, as Ollama's
        runner does)."""
        from .engine import LlamaEngine, default_threads

        threads = num_thread or self.threads or default_threads()
        with self._lock:
            current = self._loaded.get(self._key(entry))
            if (
                current is not None
                and getattr(current.engine, "num_ctx", num_ctx) == num_ctx
                and getattr(current.engine, "threads", threads) == threads
            ):
                current.name = name
                return current.engine
            if current is not None:
                current.engine.close()
                del self._loaded[self._key(entry)]
            if entry.kind == "chat":
                engine = LlamaEngine(
                    entry, num_ctx=num_ctx, num_thread=threads, parallel=self.num_parallel
                )
            elif entry.kind == "embedding":
                from .embed_engine import EmbeddingEngine

                engine = EmbeddingEngine(entry, num_ctx=num_ctx, num_thread=self.threads)
            else:
                raise RuntimeError(f"no engine for model kind {entry.kind!r}")
            self._loaded[self._key(entry)] = Loaded(engine, name, time.time() + DEFAULT_KEEP_ALIVE)
            return engine

    def loaded(self, entry: ModelEntry):
        with self._lock:
            item = self._loaded.get(self._key(entry))
            return item.engine if item else None

    def touch(self, entry: ModelEntry, keep_alive: float) -> None:
        """Restart the keep-alive clock after a request; 0 unloads at once."""
        with self._lock:
            item = self._loaded.get(self._key(entry))
            if item is None:
                return
            if keep_alive <= 0:
                self.unload(entry)
            else:
                item.expires_at = time.time() + keep_alive

    def unload(self, entry: ModelEntry) -> bool:
        with self._lock:
            item = self._loaded.pop(self._key(entry), None)
        if item is not None:
            # The engine's worker finishes its queue before the model is freed.
            threading.Thread(target=item.engine.close, daemon=True).start()
        return item is not None

    def expire(self) -> None:
        now = time.time()
        with self._lock:
            stale = [k for k, v in self._loaded.items() if v.expires_at <= now]
            items = [self._loaded.pop(k) for k in stale]
        for item in items:
            item.engine.close()

    def running(self) -> list[tuple[ModelEntry, Loaded]]:
        with self._lock:
            return [(v.engine.entry, v) for v in self._loaded.values()]

    def close(self) -> None:
        with self._lock:
            items = list(self._loaded.values())
            self._loaded.clear()
        for item in items:
            item.engine.close()


def expires_at_iso(expires_at: float) -> str:
    if math.isinf(expires_at):
        moment = datetime(2318, 1, 1, tzinfo=timezone.utc)  # Ollama's "forever" is far out
    else:
        moment = datetime.fromtimestamp(expires_at, timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")
