"""llama.cpp inference for one model: an xllamacpp instance, a FIFO job queue served by
worker threads (one per parallel slot), token streaming with stop strings, cancellation,
the thinking budget's interventions and Ollama's timings."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..._stream_text import HoldBack
from ..models.registry import ModelEntry
from .gguf import read_metadata
from .instance import LlamaInstance, error_message
from .options import Options
from .steering import Intervention
from .threads import default_threads

__all__ = ["Job", "LlamaEngine", "default_threads", "sampling"]

EMBEDDER_IDLE = 10.0  # seconds before a chat model's embedding instance is freed
# llama.cpp pools a sequence within one micro-batch and computes logits for each of its
# tokens: ~0.4 MB per token for the 135M model's 49k vocabulary (a 2,000-token input
# took the server to 1.24 GB). So a chat model embeds at most CHAT_EMBED_TOKENS per input
# (the end is cut, as Ollama truncates at num_ctx; 400 when truncate is false), which is
# also Ollama's default batch. Inputs up to SHARED_EMBED_TOKENS are pooled by the
# generating instance itself, which keeps the buffers they needed until it unloads;
# longer ones by a second instance, freed when idle (it maps the weights again).
CHAT_EMBED_TOKENS = 512
SHARED_EMBED_TOKENS = 64


@dataclass
class Job:
    """One generation request as the worker sees it."""

    prompt_tokens: list[int]
    options: Options
    emit: Callable[[dict], None]  # receives event dicts, called from a worker thread
    grammar: str | None = None
    steer: object | None = None  # e.g. a ThinkSteer, asked after every piece of text
    cancel: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.perf_counter)


def sampling(opts: Options) -> dict:
    """Ollama's options as llama-server request fields.

    >>> sampling(Options(seed=-1, top_k=0))["top_k"], "seed" in sampling(Options())
    (0, False)
    """
    body = {
        "temperature": opts.temperature,
        "top_k": opts.top_k,  # 0: the whole vocabulary, as in Ollama
        "top_p": opts.top_p,
        "min_p": opts.min_p,
        "typical_p": opts.typical_p,
        "repeat_penalty": opts.repeat_penalty,
        "repeat_last_n": opts.repeat_last_n,  # -1: the whole context
        "presence_penalty": opts.presence_penalty,
        "frequency_penalty": opts.frequency_penalty,
    }
    if opts.seed >= 0:  # otherwise llama.cpp draws a random seed
        body["seed"] = opts.seed
    return body


@dataclass
class _Phase:
    """What one engine request produced."""

    tokens: list[int] = field(default_factory=list)
    finish: str | None = None  # llama-server's finish_reason: "stop" (end of turn), "length"
    action: Intervention | None = None
    stopped: bool = False  # by a stop string
    cancelled: bool = False
    error: str | None = None
    last_empty: bool = False  # the last token decoded to no bytes (e.g. end of turn)
    # Tokens generated but never streamed: cut by n_predict inside a UTF-8 character,
    # llama-server holds them back for good. Counted, but not in the context (their
    # bytes were never text).
    unseen: int = 0


class LlamaEngine:
    """A loaded GGUF model and the worker threads that run its jobs in order."""

    def __init__(self, entry: ModelEntry, num_ctx: int, num_thread: int = 0, parallel: int = 1):
        self.entry = entry
        self.num_ctx = num_ctx
        self.threads = num_thread or default_threads()
        self.parallel = max(1, parallel)
        self.llama = LlamaInstance(
            str(entry.path()), num_ctx, self.threads, parallel=self.parallel, pooled=True
        )
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._closing = threading.Lock()
        self._closed = False
        self._embed_lock = threading.Lock()
        self._embedder = None  # a second instance in embedding mode, made on first use
        self._embedded_at = 0.0
        self._workers = [
            threading.Thread(target=self._serve, name=f"llama:{entry.name}:{i}", daemon=True)
            for i in range(self.parallel)
        ]
        for worker in self._workers:
            worker.start()

    # -- tokens ------------------------------------------------------------------------

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return self.llama.tokenize(text, add_bos=add_bos)

    def _piece_ids(self, piece: dict) -> list[int]:
        """The token ids behind one streamed piece. llama-server holds back a token that
        ends inside a UTF-8 character and streams it with the next one as one piece that
        names only the last token: the ids before it are recovered by tokenizing the
        piece's text (exactly the model's when it wrote the usual split, and the same
        bytes otherwise). Without them `context`, eval_count and the next phase's prompt
        would lose the character's first bytes."""
        raw = bytes(piece["bytes"])
        if raw.isascii():  # an ASCII piece is always one whole token
            return [piece["id"]]
        ids = self.llama.tokenize(raw.decode("utf-8", "replace"), add_bos=False, special=False)
        return ids if len(ids) > 1 else [piece["id"]]

    def metadata(self) -> dict:
        return dict(read_metadata(str(self.entry.path())))

    def embed(self, texts: list[str], truncate: bool = True, normalize: bool = True):
        """Mean-pooled embeddings from this model, as Ollama gives any model: (vectors, counts)."""
        from ..embedder.engines import LlamaEmbedder

        # Tokenised once, by the generating instance (the same vocabulary), to choose the
        # instance that pools them.
        tokens = [self.tokenize(t) for t in texts]
        limit = min(CHAT_EMBED_TOKENS, self.num_ctx)
        if max(map(len, tokens), default=1) <= SHARED_EMBED_TOKENS:
            return LlamaEmbedder(self.llama, limit).embed(
                tokens, truncate=truncate, normalize=normalize
            )
        with self._embed_lock:
            if self._embedder is None:
                instance = LlamaInstance(
                    str(self.entry.path()), limit, self.threads, embedding=True
                )
                self._embedder = LlamaEmbedder(instance, limit)
            try:
                return self._embedder.embed(tokens, truncate=truncate, normalize=normalize)
            finally:
                self._embedded_at = time.monotonic()

    def free_idle_embedder(self, idle: float = EMBEDDER_IDLE) -> None:
        """Free the embedding instance once unused for `idle` seconds: it maps the weights
        again and keeps its context and logits buffers (~330 MB of RSS for the 135M model
        after a 512-token input), which a chat model's occasional `/api/embed` of a long
        input should not keep for the whole keep-alive."""
        with self._embed_lock:
            if self._embedder is not None and time.monotonic() - self._embedded_at >= idle:
                self._embedder.close()
                self._embedder = None

    def has_idle_embedder(self, idle: float = EMBEDDER_IDLE) -> bool:
        embedder = self._embedder
        return embedder is not None and time.monotonic() - self._embedded_at >= idle

    # -- jobs --------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        with self._closing:
            if not self._closed:
                self._jobs.put(job)
                return
        job.emit({"type": "error", "error": f"model {self.entry.name} was unloaded"})

    def close(self) -> None:
        """Free the model once the workers have finished the jobs already queued (the
        manager closes an engine only when no request holds it, so they are few and
        their clients have left). Never frees it under a running job."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            for _ in self._workers:
                self._jobs.put(None)
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join()
        self.llama.close()
        with self._embed_lock:
            if self._embedder is not None:
                self._embedder.close()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.cancel.is_set():
                continue
            try:
                self._run(job)
            except Exception as exc:  # surfaced to the client as Ollama's error line
                job.emit({"type": "error", "error": str(exc)})

    def _phase(self, job: Job, context: list[int], n_predict: int, grammar, emit) -> _Phase:
        """One llama-server completion from `context`, streamed token by token until it
        ends, a stop string or the steer intervenes, or the client goes away."""
        out = _Phase()
        body = {
            **sampling(job.options),
            "prompt": context,
            "n_predict": n_predict,
            # Always evaluate the whole prompt: a cached prefix changes the batch shape of
            # the prompt's last token, and with it the logits, so the same seed and prompt
            # would not always give the same text.
            "cache_prompt": False,
            "n_probs": 1,  # each piece then names its token ids: for `context` and continuing
        }
        if grammar:
            body["grammar"] = grammar

        def on_chunk(chunk: dict) -> bool:
            if "choices" not in chunk:
                out.error = error_message(chunk)
                return True
            if job.cancel.is_set():
                out.cancelled = True
                return True
            choice = chunk["choices"][0]
            pieces = (choice.get("logprobs") or {}).get("content") or []
            ids = [i for t in pieces for i in self._piece_ids(t)]
            out.tokens += ids
            if pieces:
                out.last_empty = not pieces[-1]["bytes"]
            text = choice.get("text") or ""
            if choice.get("finish_reason"):
                out.finish = choice["finish_reason"]
                made = (chunk.get("usage") or {}).get("completion_tokens")
                if out.finish == "length" and made:
                    out.unseen = max(0, made - len(out.tokens))
                if out.finish == "stop" and out.last_empty:
                    # The end-of-turn token streams as an empty piece: not part of the
                    # answer, its context or its count (the model stopped before it).
                    out.tokens.pop()
            if text and emit(text):
                out.stopped = True
                return True
            if text and job.steer is not None:
                out.action = job.steer.on_text(text, max(1, len(ids)))
                return out.action is not None
            return False

        self.llama.complete(body, on_chunk)
        return out

    def _run(self, job: Job) -> None:
        opts = job.options
        prompt = job.prompt_tokens
        limit = opts.predict_limit()
        context = list(prompt)
        stops = HoldBack(opts.stop)
        generated = 0
        done_reason = "stop"
        stopped_by_string = False
        started = time.perf_counter()
        first_token_at = None
        grammar = job.grammar

        def emit(text: str) -> bool:
            nonlocal first_token_at
            if first_token_at is None:
                first_token_at = time.perf_counter()
            out = stops.feed(text)
            if out:
                job.emit({"type": "text", "text": out})
            return stops.match is not None

        # Each phase decodes until the end or until the steer intervenes (inject text,
        # change grammar); the next phase continues from the context so far.
        while True:
            room = min(limit - generated, self.num_ctx - len(context))
            if room <= 0:
                done_reason = "length"
                break
            budget = job.steer.remaining() if job.steer is not None else None
            n_predict = room if budget is None else max(1, min(room, budget))
            phase = self._phase(job, context, n_predict, grammar, emit)
            if phase.error is not None:
                job.emit({"type": "error", "error": phase.error})
                return
            if first_token_at is None and phase.tokens:
                first_token_at = time.perf_counter()
            generated += len(phase.tokens) + phase.unseen
            context += phase.tokens
            if phase.cancelled:
                done_reason = "cancelled"
                break
            if phase.stopped:
                stopped_by_string = True
                break
            action = phase.action
            if action is None and phase.finish == "stop":  # the model ended its turn
                action = job.steer.on_end() if job.steer is not None else None
                if action is None:
                    break
            if action is None:  # the phase's n_predict ran out
                continue
            injected = self.tokenize(action.inject, add_bos=False) if action.inject else []
            if len(context) + len(injected) >= self.num_ctx:
                done_reason = "length"
                break
            context += injected
            grammar = action.grammar
            if action.inject and emit(action.inject):
                stopped_by_string = True
                break
        if not stopped_by_string and done_reason != "cancelled":
            tail = stops.flush()
            if tail:
                job.emit({"type": "text", "text": tail})
        ended = time.perf_counter()
        first = first_token_at or ended
        job.emit(
            {
                "type": "done",
                "done_reason": done_reason,
                "prompt_eval_count": len(prompt),
                "prompt_eval_duration": int((first - started) * 1e9),
                "eval_count": generated,
                "eval_duration": int((ended - first) * 1e9),
                "context": context,
            }
        )
