"""llama.cpp inference for one model: a single context, a FIFO job queue served by one
worker thread, token streaming with stop strings, cancellation and Ollama's timings."""

from __future__ import annotations

import codecs
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .options import Options
from .registry import ModelEntry
from .steering import Intervention
from .streams import StopMatcher

LLAMA_DEFAULT_SEED = 0xFFFFFFFF


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class Job:
    """One generation request as the worker sees it."""

    prompt_tokens: list[int]
    options: Options
    emit: Callable[[dict], None]  # receives event dicts, called from the worker thread
    grammar: object | None = None
    steer: object | None = None  # e.g. a ThinkSteer, asked after every token
    cancel: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.perf_counter)


class LlamaEngine:
    """A loaded GGUF model and the single worker thread that runs its jobs in order."""

    def __init__(self, entry: ModelEntry, num_ctx: int, num_thread: int = 0):
        self.entry = entry
        self.num_ctx = num_ctx
        self.threads = num_thread or default_threads()
        self.llm = self._load(entry, num_ctx, self.threads)
        import llama_cpp

        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        # llama.cpp is not thread-safe: generation and embedding never overlap.
        self._busy = threading.Lock()
        self._embedder = None  # a second context in embedding mode, made on first use
        self._worker = threading.Thread(target=self._serve, name=f"llama:{entry.name}", daemon=True)
        self._worker.start()

    @staticmethod
    def _load(entry: ModelEntry, num_ctx: int, threads: int):
        from llama_cpp import Llama

        return Llama(
            model_path=str(entry.path()),
            n_ctx=num_ctx,
            n_batch=512,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    # -- tokens ------------------------------------------------------------------------

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def is_eog(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def metadata(self) -> dict:
        return dict(self.llm.metadata)

    def embed(self, texts: list[str], truncate: bool = True, normalize: bool = True):
        """Mean-pooled embeddings from this model, as Ollama gives any model: (vectors, counts)."""
        from .embed_engine import LlamaEmbedder

        with self._busy:
            if self._embedder is None:
                self._embedder = LlamaEmbedder(str(self.entry.path()), self.num_ctx, self.threads)
            return self._embedder.embed(texts, truncate=truncate, normalize=normalize)

    # -- jobs --------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=30)
        self.llm.close()
        with self._busy:
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
                with self._busy:
                    self._run(job)
            except Exception as exc:  # surfaced to the client as Ollama's error line
                job.emit({"type": "error", "error": str(exc)})

    def _run(self, job: Job) -> None:
        import llama_cpp

        opts = job.options
        llm = self.llm
        threads = opts.num_thread or self.threads
        llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
        llm.set_seed(opts.seed if opts.seed >= 0 else LLAMA_DEFAULT_SEED)
        llm.last_n_tokens_size = opts.num_ctx if opts.repeat_last_n < 0 else opts.repeat_last_n

        prompt = job.prompt_tokens
        limit = opts.predict_limit()
        context = list(prompt)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopMatcher(opts.stop)
        generated: list[int] = []
        done_reason = "stop"
        stopped_by_string = False
        started = time.perf_counter()
        first_token_at = None
        grammar = job.grammar

        def emit(text: str) -> bool:
            out, stopped = stops.feed(text)
            if out:
                job.emit({"type": "text", "text": out})
            return stopped

        # Always evaluate the whole prompt: reusing a cached prefix changes the batch shape
        # of the prompt's last token, and with it the logits, so the same seed and prompt
        # would not always give the same text.
        llm.reset()
        if limit == 0 or len(context) >= self.num_ctx:
            done_reason = "length"
        # Each pass decodes until the end or until the steer intervenes (inject text,
        # change grammar); the next pass continues from the context so far.
        while done_reason == "stop":
            action: Intervention | None = None
            tokens = llm.generate(
                context,
                top_k=opts.top_k if opts.top_k > 0 else llm.n_vocab(),
                top_p=opts.top_p,
                min_p=opts.min_p,
                typical_p=opts.typical_p,
                temp=opts.temperature,
                repeat_penalty=opts.repeat_penalty,
                frequency_penalty=opts.frequency_penalty,
                presence_penalty=opts.presence_penalty,
                grammar=grammar,
            )
            for token in tokens:
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                if job.cancel.is_set():
                    done_reason = "cancelled"
                    break
                if self.is_eog(token):
                    action = job.steer.on_end() if job.steer is not None else None
                    break
                generated.append(token)
                context.append(token)
                text = decoder.decode(llm.detokenize([token], special=True))
                if emit(text):
                    stopped_by_string = True
                    break
                if len(generated) >= limit or len(context) >= self.num_ctx:
                    done_reason = "length"
                    break
                if job.steer is not None and (action := job.steer.on_text(text)):
                    break
            tokens.close()
            if action is None:
                break
            injected = self.tokenize(action.inject, add_bos=False) if action.inject else []
            if len(context) + len(injected) >= self.num_ctx:
                done_reason = "length"
                break
            context += injected
            grammar = action.grammar
            if action.inject and emit(decoder.decode(action.inject.encode())):
                stopped_by_string = True
                break
        if not stopped_by_string and done_reason != "cancelled":
            text, hit = stops.feed(decoder.decode(b"", final=True))
            tail = text + ("" if hit else stops.flush())
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
                "eval_count": len(generated),
                "eval_duration": int((ended - first) * 1e9),
                "context": context,
            }
        )
