"""llama.cpp inference for one model: an xllamacpp instance, a FIFO job queue served by
worker threads (one per parallel slot), token streaming with stop strings, cancellation,
the thinking budget's interventions and Ollama's timings."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ..._stream_text import HoldBack
from ..models.registry import ModelEntry
from .events import DoneEvent, EngineEvent, ErrorEvent, TextEvent
from .gguf import read_metadata
from .instance import PROMPT_BATCH, EngineHost, LlamaInstance, error_message
from .logprobs import LogprobQueue, ollama_entry
from .options import Options
from .steering import Intervention
from .threads import batch_threads, default_threads

__all__ = ["Job", "LlamaEngine", "default_threads", "sampling"]

log = logging.getLogger("localllm_nb.embedded")

EMBEDDER_IDLE = 10.0  # seconds before a chat model's embedding instance is freed
# llama.cpp pools a sequence within one micro-batch and computes logits for each of its
# tokens: ~0.4 MB per token for the 135M model's 49k vocabulary (a 2,000-token input
# took the server to 1.24 GB). So a chat model embeds at most CHAT_EMBED_TOKENS per input
# (the end is cut, as Ollama truncates at num_ctx; 400 when truncate is false), which is
# also Ollama's default batch. Inputs up to SHARED_EMBED_TOKENS (one micro-batch of the
# generating instance) are pooled by that instance itself, which keeps the buffers they
# needed until it unloads; longer ones by a second instance, freed when idle (it maps the
# weights again).
CHAT_EMBED_TOKENS = 512
SHARED_EMBED_TOKENS = PROMPT_BATCH


@dataclass
class Job:
    """One generation request as the worker sees it."""

    prompt_tokens: list[int]
    options: Options
    emit: Callable[[EngineEvent], None]  # called from a worker thread
    grammar: str | None = None
    steer: object | None = None  # e.g. a ThinkSteer, asked after every piece of text
    top_logprobs: int | None = None  # None: no logprobs; else how many alternatives
    cancel: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.perf_counter)


def sampling(opts: Options) -> dict:
    """Ollama's options as llama-server request fields.

    >>> sampling(Options(seed=-1, top_k=0))["top_k"], "seed" in sampling(Options())
    (0, False)
    >>> sampling(Options(repeat_last_n=-1, num_ctx=1024))["repeat_last_n"]
    1024
    """
    body = {
        "temperature": opts.temperature,
        "top_k": opts.top_k,  # 0: the whole vocabulary, as in Ollama
        "top_p": opts.top_p,
        "min_p": opts.min_p,
        "typical_p": opts.typical_p,
        "repeat_penalty": opts.repeat_penalty,
        "repeat_last_n": opts.penalty_window(),
        "presence_penalty": opts.presence_penalty,
        "frequency_penalty": opts.frequency_penalty,
    }
    if opts.seed >= 0:  # otherwise llama.cpp draws a random seed
        body["seed"] = opts.seed
    return body


@dataclass
class Phase:
    """What one engine request produced."""

    tokens: list[int] = field(default_factory=list)
    finish: str | None = None  # llama-server's finish_reason: "stop" (end of turn), "length"
    action: Intervention | None = None
    stopped: bool = False  # by a stop string
    cancelled: bool = False
    error: str | None = None
    evaluated: int = 0  # prompt tokens evaluated, as llama-server last reported them
    last_empty: bool = False  # the last token decoded to no bytes (e.g. end of turn)
    # Tokens generated but never streamed: cut by n_predict inside a UTF-8 character,
    # llama-server holds them back for good. Counted, but not in the context (their
    # bytes were never text).
    unseen: int = 0


class LlamaEngine:
    """A loaded GGUF model and the worker threads that run its jobs in order."""

    def __init__(
        self,
        entry: ModelEntry,
        num_ctx: int,
        num_thread: int = 0,
        parallel: int = 1,
        num_thread_batch: int = 0,
    ):
        """`num_thread`: decoding threads; `num_thread_batch`: prompt evaluation's (0:
        the CPUs free now, `threads.batch_threads`)."""
        self.entry = entry
        self.num_ctx = num_ctx
        self.threads = num_thread or default_threads()
        self.batch_threads = num_thread_batch or batch_threads(self.threads, EngineHost.pids())
        self.parallel = max(1, parallel)
        self.llama = LlamaInstance(
            str(entry.path()),
            num_ctx,
            self.threads,
            parallel=self.parallel,
            pooled=True,
            batch_threads=self.batch_threads,
        )
        log.info(
            "loaded %s: num_ctx=%d, %d decoding thread(s), %d for prompts",
            entry.name,
            num_ctx,
            self.threads,
            self.batch_threads,
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

    @property
    def alive(self) -> bool:
        """False once its llama.cpp instance is gone (the engine host ended): the
        manager then loads the model again instead of lending it."""
        return self.llama.alive

    def metadata(self) -> dict:
        return dict(read_metadata(str(self.entry.path())))

    def memory(self) -> dict[str, int]:
        """Bytes llama.cpp allocated for this model by kind (weights, kv, compute, output),
        the embedding instance's included while it exists; {} when llama.cpp did not say."""
        sizes = dict(self.llama.buffers)
        embedder = self._embedder
        if sizes and embedder is not None:
            for kind, size in embedder.llama.buffers.items():
                sizes[kind] = sizes.get(kind, 0) + size
        return sizes

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
                    str(self.entry.path()),
                    limit,
                    self.threads,
                    embedding=True,
                    batch_threads=self.batch_threads,  # pooling is prompt work
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
        job.emit(ErrorEvent(f"model {self.entry.name} was unloaded"))

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
                job.emit(ErrorEvent(str(exc)))

    def _phase(self, job: Job, context: list[int], n_predict: int, grammar, emit) -> Phase:
        """One llama-server completion from `context`, streamed token by token until it
        ends, a stop string or the steer intervenes, or the client goes away."""
        out = Phase()
        body = {
            **sampling(job.options),
            "prompt": context,
            "n_predict": n_predict,
            # Always evaluate the whole prompt: a cached prefix changes the batch shape of
            # the prompt's last token, and with it the logits, so the same seed and prompt
            # would not always give the same text.
            "cache_prompt": False,
            # Each piece then names its token id (for `context` and continuing) and its
            # logprob; the alternatives are the n_probs most likely, all computed anyway.
            "n_probs": max(1, job.top_logprobs or 0),
            # A chunk after each prompt batch: a cancelled job stops between batches
            # instead of after the whole prompt (~50 s for a 2,000-message chat on one core).
            "return_progress": True,
        }
        if grammar:
            body["grammar"] = grammar

        def on_chunk(chunk: dict) -> bool:
            if "choices" not in chunk:
                out.error = error_message(chunk)
                return True
            progress = chunk.get("prompt_progress")
            # Every other chunk comes after the whole prompt was evaluated.
            out.evaluated = (
                progress["processed"] - progress.get("cache", 0) if progress else len(context)
            )
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
            entries = self._entries(job, pieces)
            if choice.get("finish_reason"):
                out.finish = choice["finish_reason"]
                made = (chunk.get("usage") or {}).get("completion_tokens")
                if out.finish == "length" and made:
                    out.unseen = max(0, made - len(out.tokens))
                if out.finish == "stop" and out.last_empty:
                    # The end-of-turn token streams as an empty piece: not part of the
                    # answer, its context or its count (the model stopped before it).
                    out.tokens.pop()
            if text and emit(text, entries):
                out.stopped = True
                return True
            if text and job.steer is not None:
                out.action = job.steer.on_text(text, max(1, len(ids)))
                return out.action is not None
            return False

        self.llama.complete(body, on_chunk)
        return out

    @staticmethod
    def _entries(job: Job, pieces: list[dict]) -> list[tuple[dict, int]]:
        """The pieces' logprobs in Ollama's shape, each with its length in characters;
        an empty piece (the end-of-turn token) is not text and has none."""
        if job.top_logprobs is None:
            return []
        return [
            (ollama_entry(p, job.top_logprobs), len(bytes(p["bytes"]).decode("utf-8", "replace")))
            for p in pieces
            if p.get("bytes")
        ]

    def _run(self, job: Job) -> None:
        """Decode in phases until the answer ends, then report Ollama's timings. Each
        phase decodes until the end or until the steer intervenes (inject text, change
        grammar); the next phase continues from the context so far."""
        state = Decoding(job)
        start = job.steer.start() if job.steer is not None else None
        end = self._intervene(state, start) if start is not None else None
        while end is None:
            end = self._step(job, state)
        if end is Ended.FAILED:
            return
        done = state.finish(end)
        if end is Ended.CANCELLED:
            log.info(
                "%s: request cancelled after %d of %d prompt tokens and %d generated "
                "tokens (%.2f s)",
                self.entry.name,
                done.prompt_eval_count,
                len(job.prompt_tokens),
                done.eval_count,
                (done.prompt_eval_duration + done.eval_duration) / 1e9,
            )
        job.emit(done)

    def _step(self, job: Job, state: Decoding) -> Ended | None:
        """One phase and what follows it; an `Ended` when the answer is over."""
        room = min(state.limit - state.generated, self.num_ctx - len(state.context))
        if room <= 0:
            return Ended.LENGTH
        budget = job.steer.remaining() if job.steer is not None else None
        n_predict = room if budget is None else max(1, min(room, budget))
        phase = self._phase(job, state.context, n_predict, state.grammar, state.emit_text)
        if phase.error is not None:
            job.emit(ErrorEvent(phase.error))
            return Ended.FAILED
        state.add(phase)
        if phase.cancelled:
            return Ended.CANCELLED
        if phase.stopped:
            return Ended.STOP_STRING
        action = phase.action
        if action is None and phase.finish == "stop":  # the model ended its turn
            action = job.steer.on_end() if job.steer is not None else None
            if action is None:
                return Ended.END_OF_TURN
        if action is None:  # the phase's n_predict ran out
            return None
        return self._intervene(state, action)

    def _intervene(self, state: Decoding, action: Intervention) -> Ended | None:
        """Apply the steer's action: its text joins the context (and the answer), its
        grammar constrains the next phase."""
        injected = self.tokenize(action.inject, add_bos=False) if action.inject else []
        if len(state.context) + len(injected) >= self.num_ctx:
            return Ended.LENGTH
        state.context += injected
        state.grammar = action.grammar
        if action.finish:  # the steer wrote the end of the answer in the model's place
            state.generated += len(injected)
        if action.inject and state.emit_text(action.inject):
            return Ended.STOP_STRING
        return Ended.LENGTH if action.finish else None


class Ended(Enum):
    """Why a job's decoding ended."""

    END_OF_TURN = "end of turn"
    STOP_STRING = "stop string"
    LENGTH = "length"
    CANCELLED = "cancelled"
    FAILED = "failed"  # reported by an ErrorEvent, not a DoneEvent

    @property
    def done_reason(self) -> str:
        """Ollama's name for it: a stop string ends the answer as its end of turn does."""
        return "stop" if self in (Ended.END_OF_TURN, Ended.STOP_STRING) else self.value


class Decoding:
    """One job's progress across phases: the context, tokens generated, the stop
    strings' held-back text and the timings Ollama reports."""

    def __init__(self, job: Job):
        self.job = job
        self.prompt = job.prompt_tokens
        self.context = list(job.prompt_tokens)
        self.limit = job.options.predict_limit()
        self.grammar = job.grammar
        self.stops = HoldBack(job.options.stop)
        self.logprobs = LogprobQueue()
        self.generated = 0
        # Ollama counts the whole prompt; a job cancelled inside it counts what it evaluated.
        self.prompt_evaluated = len(self.prompt)
        self.started = time.perf_counter()
        self.first_token_at: float | None = None

    def emit_text(self, text: str, entries: list[tuple[dict, int]] = ()) -> bool:
        """Pass on answer text up to any stop string, with the logprobs of the tokens
        it completes; True once a stop string is found."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.logprobs.add(text, list(entries))
        out = self.stops.feed(text)
        ready = self.logprobs.release(len(out))
        if self.stops.match is not None:
            ready += self.logprobs.cut()
        if out or ready:
            self.job.emit(TextEvent(out, tuple(ready)))
        return self.stops.match is not None

    def add(self, phase: Phase) -> None:
        if phase.cancelled and self.first_token_at is None and not phase.tokens:
            self.prompt_evaluated = min(phase.evaluated, len(self.prompt))
        if self.first_token_at is None and phase.tokens:
            self.first_token_at = time.perf_counter()
        self.generated += len(phase.tokens) + phase.unseen
        self.context += phase.tokens

    def finish(self, end: Ended) -> DoneEvent:
        """The last event; text held back for a stop string that never came goes first."""
        if end not in (Ended.STOP_STRING, Ended.CANCELLED):
            tail = self.stops.flush()
            ready = self.logprobs.release(len(tail))
            if tail or ready:
                self.job.emit(TextEvent(tail, tuple(ready)))
        ended = time.perf_counter()
        first = self.first_token_at or ended
        return DoneEvent(
            done_reason=end.done_reason,
            prompt_eval_count=self.prompt_evaluated,
            prompt_eval_duration=int((first - self.started) * 1e9),
            eval_count=self.generated,
            eval_duration=int((ended - first) * 1e9),
            context=self.context,
        )
