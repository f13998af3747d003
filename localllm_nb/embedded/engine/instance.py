"""One llama.cpp instance, run in this process by xllamacpp (llama-server without its own
process): loading with our settings, and its private tokenizer endpoint.

xllamacpp always opens llama-server's HTTP listener. It stays on loopback, on a random
port, behind a random API key, and is never announced: only this module talks to it.
"""

from __future__ import annotations

import secrets
import signal
import threading

from .native_log import LoadLog
from .options import PROMPT_BATCH


def reclaim_signals() -> None:
    """Give SIGINT and SIGTERM back to Python. Loading an instance installs llama-server's
    own handlers process-wide, which only stop that instance's loop: Ctrl-C and
    `terminate()` would no longer end the program. Only the main thread may set them,
    so callers that load off it call this when they are back on it."""
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


class LlamaInstance:
    """A loaded GGUF: completions and embeddings through xllamacpp's in-process calls,
    tokenization through the instance's loopback endpoint (xllamacpp has no direct call)."""

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
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(model_path)
        params.verbosity = -1  # llama-server logs every request otherwise
        params.warmup = False
        # llama.cpp's "fit" step loads the model a first time without memory to size its
        # buffers, and would shrink n_ctx to fit: half the load's time (0.41 s of 0.78 s
        # measured), spent holding the GIL (xllamacpp's constructor keeps it), so the
        # event loop stalled for it. Off, a context that does not fit fails to load
        # instead of being silently shortened.
        params.fit_params = False
        params.n_parallel = parallel
        # Each parallel slot gets n_ctx / n_parallel of the KV cache: give each a full context.
        params.n_ctx = n_ctx * parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = batch_threads or threads
        # Idle threads sleep instead of spinning: on a shared, oversubscribed machine a
        # spinning thread takes the core from the thread with work (measured faster here).
        params.cpuparams.poll = params.cpuparams_batch.poll = 0
        # The host-memory prompt cache could hand a request KV state computed in another
        # batch shape; requests never reuse cached prompts (see engine.py), so keep none.
        params.cache_ram_mib = 0
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        self._key = secrets.token_urlsafe(24)
        params.api_keys = [self._key]
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_metrics = False
        params.n_threads_http = 2
        if embedding or pooled:
            params.embedding = True
            params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        if embedding:
            # A pooled sequence must fit in one micro-batch: llama.cpp pools per ubatch.
            params.n_batch = params.n_ubatch = n_ctx
        else:
            params.n_batch = params.n_ubatch = PROMPT_BATCH
        self.n_ctx = n_ctx
        with LoadLog() as load:
            params.verbosity = load.verbosity
            self.server = xlc.Server(params)
        # Bytes llama.cpp allocated, by kind (weights, kv, compute, output); {} if unknown.
        self.buffers: dict[str, int] = load.buffers
        reclaim_signals()
        self._http = httpx.Client(
            base_url=self.server.listening_address,
            headers={"Authorization": f"Bearer {self._key}"},
            timeout=120,
            trust_env=False,  # loopback only: never through a proxy from the environment
        )
        self._closed = threading.Event()

    def tokenize(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        """Token ids of `text`, special tokens (`<|im_start|>`) parsed as such unless
        `special` is false."""
        resp = self._http.post(
            "/tokenize", json={"content": text, "add_special": add_bos, "parse_special": special}
        )
        reply = resp.json()
        if resp.status_code != 200:
            raise LlamaServerError(error_message(reply))
        return reply["tokens"]

    def complete(self, body: dict, on_chunk) -> None:
        """Stream a completion: `on_chunk(dict)` gets each chunk (or an error object) and
        returns True to stop generation."""
        self.server.handle_completions({**body, "stream": True}, on_chunk)

    def embeddings(self, inputs: list[list[int]]) -> list[list[float]]:
        """Mean-pooled, unnormalised embeddings of token sequences (embedding mode only)."""
        reply = self.server.handle_embeddings({"input": inputs, "embd_normalize": -1})
        if "data" not in reply:
            raise LlamaServerError(error_message(reply))
        return [row["embedding"] for row in sorted(reply["data"], key=lambda r: r["index"])]

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._http.close()
        # Dropping the last reference stops llama-server's loop and frees the model.
        self.server = None
