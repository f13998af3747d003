"""One llama.cpp instance: llama-server run by xllamacpp in the engine host, a process of
its own (`host.py` says why), and the calls this server makes to it over loopback HTTP.

Each instance listens on loopback, on a random port, behind a random API key, and is
never announced: only this module talks to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .options import PROMPT_BATCH

log = logging.getLogger("localllm_nb.embedded")


def reclaim_signals() -> None:
    """Give SIGINT and SIGTERM back to Python. Running xllamacpp in this process (a
    reference llama-server in a test or a notebook; the server's own instances live in
    the engine host) installs llama-server's own handlers process-wide, which only stop
    that instance's loop: Ctrl-C and `terminate()` would no longer end the program.
    Only the main thread may set them, so callers that load off it call this when they
    are back on it."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:  # None: installed from C, not by Python; leave it
            signal.signal(sig, handler)


class LlamaServerError(RuntimeError):
    """The engine answered a request with an error."""


def error_message(reply: dict) -> str:
    """The text of a llama-server error object (`{"error": {...}}` or the bare object).

    >>> error_message({"error": {"code": 400, "message": "bad grammar"}})
    'bad grammar'
    """
    err = reply.get("error", reply)
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err)


def gone(exc: Exception) -> str:
    """What a request is told when the engine host ended under it."""
    return f"the model's engine process ended ({exc}); the next request loads the model again"


class EngineHost:
    """The process that holds this process's llama.cpp instances (`host.py`), started at
    the first load and ended with this process (its stdin closes)."""

    _lock = threading.Lock()
    _current: EngineHost | None = None

    @classmethod
    def get(cls) -> EngineHost:
        with cls._lock:
            if cls.running() is None:
                cls._current = cls()
            return cls._current

    @classmethod
    def running(cls) -> EngineHost | None:
        """The host, if one was started and has not ended."""
        current = cls._current
        return current if current is not None and current.proc.poll() is None else None

    @classmethod
    def pids(cls) -> list[int]:
        """The running host's pid, if any: its CPU time is this server's own work."""
        host = cls.running()
        return [host.proc.pid] if host is not None else []

    @classmethod
    def trim(cls) -> None:
        """Ask the running host, if any, to hand its freed heap back to the system."""
        host = cls.running()
        if host is not None:
            with contextlib.suppress(OSError):
                host._send({"op": "trim"})

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("host.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C goes to the server, which ends the host
        )
        self._send_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time: replies come in order
        self._ids = iter(range(1, sys.maxsize))

    def load(self, config: dict) -> tuple[int, dict]:
        """(instance id, reply) once the host has loaded `config`, waiting with the GIL
        released; raises LlamaServerError if it could not."""
        with self._load_lock:
            ident = next(self._ids)
            self._send({"op": "load", "id": ident, "config": config})
            line = self.proc.stdout.readline()
        reply = json.loads(line) if line else {"error": "the engine process ended"}
        if "address" not in reply:
            raise LlamaServerError(f"loading {config['model_path']} failed: {reply['error']}")
        for error in reply.get("errors", ()):
            log.warning("llama.cpp: %s", error)
        return ident, reply

    def unload(self, ident: int) -> None:
        """Free an instance; returns at once (the host frees it in the background)."""
        with contextlib.suppress(OSError):  # a host that is gone took the instance with it
            self._send({"op": "unload", "id": ident})

    def _send(self, command: dict) -> None:
        with self._send_lock:
            self.proc.stdin.write(json.dumps(command).encode() + b"\n")
            self.proc.stdin.flush()


class LlamaInstance:
    """A loaded GGUF in the engine host: completions, embeddings and tokenization
    through its loopback endpoint."""

    def __init__(
        self,
        model_path: str,
        n_ctx: int,
        threads: int,
        *,
        parallel: int = 1,
        embedding: bool = False,
        pooled: bool = False,
        batch_threads: int = 0,
    ):
        """`embedding`: an instance only for embeddings, whose micro-batch holds its whole
        context (llama.cpp pools a sequence within one micro-batch). `pooled`: a generating
        instance that can also pool short inputs (those that fit one micro-batch, PROMPT_BATCH);
        generation is unchanged, llama-server never batches the two kinds together.
        `batch_threads`: prompt evaluation's threads (0: as many as `threads`)."""
        import httpx

        self.n_ctx = n_ctx
        # A connection per streaming slot, one per tokenisation during each stream, and
        # spares for embeddings: a request never queues behind another.
        http_threads = 2 * max(1, parallel) + 2
        key = secrets.token_urlsafe(24)
        self._host = EngineHost.get()
        self._id, reply = self._host.load(
            {
                "model_path": str(model_path),
                "n_ctx": n_ctx,
                "threads": threads,
                "batch_threads": batch_threads or threads,
                "parallel": parallel,
                "embedding": embedding,
                "pooled": pooled,
                # A pooled sequence must fit in one micro-batch: llama.cpp pools per ubatch.
                "n_batch": n_ctx if embedding else PROMPT_BATCH,
                "api_key": key,
                "http_threads": http_threads,
            }
        )
        # Bytes llama.cpp allocated, by kind (weights, kv, compute, output); {} if unknown.
        self.buffers: dict[str, int] = reply["buffers"]
        self._http = httpx.Client(
            base_url=reply["address"],
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(120, read=None),  # a long prompt may stream nothing a while
            # A connection per request: a kept-alive one that llama-server closed while
            # idle would fail the next request, and a loopback connection costs well under
            # a millisecond.
            limits=httpx.Limits(max_connections=http_threads, max_keepalive_connections=0),
            trust_env=False,  # loopback only: never through a proxy from the environment
        )
        self._closed = threading.Event()

    @property
    def alive(self) -> bool:
        """False once closed or once the engine host has ended (killed, or crashed)."""
        return not self._closed.is_set() and self._host.proc.poll() is None

    def tokenize(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        """Token ids of `text`, special tokens (`<|im_start|>`) parsed as such unless
        `special` is false."""
        reply = self._post(
            "/tokenize", {"content": text, "add_special": add_bos, "parse_special": special}
        )
        if "tokens" not in reply:
            raise LlamaServerError(error_message(reply))
        return reply["tokens"]

    def complete(self, body: dict, on_chunk) -> None:
        """Stream a completion: `on_chunk(dict)` gets each chunk (or an error object) and
        returns True to stop generation (the stream is closed, and llama-server stops at
        its next chunk: with `return_progress`, after the prompt batch it is on)."""
        import httpx

        try:
            with self._http.stream(
                "POST", "/v1/completions", json={**body, "stream": True}
            ) as resp:
                if resp.status_code != 200:
                    resp.read()
                    on_chunk(resp.json())
                    return
                for line in resp.iter_lines():
                    _, sep, data = line.partition("data: ")  # blank lines separate events
                    if not sep or data == "[DONE]":
                        continue
                    if on_chunk(json.loads(data)):
                        return
        except httpx.TransportError as exc:
            raise LlamaServerError(gone(exc)) from None

    def completion(self, body: dict) -> dict:
        """One completion, not streamed: llama-server's whole reply (or its error)."""
        return self._post("/v1/completions", {**body, "stream": False})

    def embeddings(self, inputs: list[list[int]]) -> list[list[float]]:
        """Mean-pooled, unnormalised embeddings of token sequences (embedding mode only)."""
        reply = self._post("/v1/embeddings", {"input": inputs, "embd_normalize": -1})
        if "data" not in reply:
            raise LlamaServerError(error_message(reply))
        return [row["embedding"] for row in sorted(reply["data"], key=lambda r: r["index"])]

    def _post(self, path: str, body: dict) -> dict:
        import httpx

        try:
            return self._http.post(path, json=body).json()
        except httpx.TransportError as exc:
            raise LlamaServerError(gone(exc)) from None

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._http.close()
        self._host.unload(self._id)
