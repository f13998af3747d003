"""The generation loop over mlx-lm's `stream_generate`, and a small cache of loaded models."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from ._mlx_bundled import resolve_model_id
from ._mlx_grammar import grammar_processor
from ._mlx_logprobs import TokenBytes, logprob_entry
from ._mlx_prompt_cache import prompt_cache
from ._mlx_text import GenerationFigures, GenerationSettings, Piece, StopStrings

# Loaded (model, tokenizer) pairs. A notebook rebuilds its chat model whenever a setting
# changes; reloading weights each time would cost seconds. Two entries bound the memory.
_MODEL_CACHE: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
_MODEL_CACHE_SIZE = 2
_CACHE_LOCK = threading.Lock()

# One lock per loaded model: LangChain's `batch` runs calls in threads, and pipelines
# built from the cache share a model; generations on one model run one at a time.
# Re-entrant, so that two streams interleaved in one thread do not deadlock.
_MODEL_LOCKS: dict[int, threading.RLock] = {}


def load_model(
    model_id: str,
    tokenizer_config: dict | None = None,
    adapter_file: str | None = None,
    lazy: bool = False,
) -> tuple[Any, Any]:
    """`mlx_lm.load` with bundled names resolved and the last two models kept loaded."""
    path = resolve_model_id(model_id)
    key = (
        path,
        json.dumps(tokenizer_config or {}, sort_keys=True, default=str),
        adapter_file,
        lazy,
    )
    with _CACHE_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    from mlx_lm import load

    loaded = load(
        path, tokenizer_config=tokenizer_config or {}, adapter_path=adapter_file, lazy=lazy
    )
    model, tokenizer = loaded[0], loaded[1]
    with _CACHE_LOCK:
        _MODEL_CACHE[key] = (model, tokenizer)
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return model, tokenizer


def model_lock(model: Any) -> threading.RLock:
    """The lock that serializes generations on `model` across threads."""
    with _CACHE_LOCK:
        return _MODEL_LOCKS.setdefault(id(model), threading.RLock())


def generate_pieces(
    model: Any,
    tokenizer: Any,
    prompt: str | list[int],
    stop: list[str] | None,
    settings: GenerationSettings,
    grammar: str | None = None,
) -> Iterator[Piece]:
    """Stream `Piece`s of text; the last one carries the generation's figures.

    mlx-lm does the sampling, EOS handling (every id in `tokenizer.eos_token_ids`),
    `max_tokens` and incremental detokenization; this adds stop strings that may span
    tokens (text is held back while it could still become a stop string) and keeps the
    reply's leading space. A `grammar` (llguidance) constrains every sampled token.
    The longest prefix the prompt shares with a recent one is not computed again
    (`prompt_cached_tokens`; `prompt_tps` counts the tokens computed). With
    `settings.logprobs`, each piece carries the entries of the tokens read since the
    previous piece (text held back travels with its tokens' entries; an EOS has none).
    """
    import mlx.core as mx
    from mlx_lm import stream_generate

    sampler, processors = _sampling(tokenizer, settings, grammar)
    ids = _prompt_ids(tokenizer, prompt)
    reply = _Reply(tokenizer, stop, settings)
    with model_lock(model), _cached_prompt(model, ids) as (kv, rest):
        cached = len(ids) - len(rest)
        if cached:  # the processors (repetition penalty) still see the whole prompt
            processors = [_with_prefix(p, ids[:cached]) for p in processors]
        responses = stream_generate(
            model,
            tokenizer,
            mx.array(rest),
            max_tokens=settings.max_tokens,
            sampler=sampler,
            logits_processors=processors,
            prompt_cache=kv,
        )
        yield from _pieces(responses, reply)
    final = reply.final(len(ids), cached)
    if settings.verbose:
        _echo_figures(final.figures)
    yield final


def _sampling(tokenizer: Any, settings: GenerationSettings, grammar: str | None) -> tuple:
    """mlx-lm's sampler and logits processors for `settings` (and the grammar's mask)."""
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    sampler = make_sampler(
        temp=settings.temp,
        top_p=settings.top_p,
        min_p=settings.min_p,
        min_tokens_to_keep=settings.min_tokens_to_keep,
        top_k=settings.top_k,
    )
    processors = make_logits_processors(
        repetition_penalty=settings.repetition_penalty,
        repetition_context_size=settings.repetition_context_size,
    )
    # Last: it sees the final logits. It keeps a JSON answer valid within max_tokens.
    processors += grammar_processor(tokenizer, grammar, settings.max_tokens)
    return sampler, processors


@contextlib.contextmanager
def _cached_prompt(model: Any, ids: list[int]) -> Iterator[tuple[Any, list[int]]]:
    """(the KV cache to start from, the prompt ids still to compute). The cache is kept
    for the next prompt when the generation ends, or when the reader stops early (it is
    still sound then); after an error it is dropped."""
    store = prompt_cache(model)
    if store is None:
        yield None, ids
        return
    kv, rest = store.fetch(model, ids)
    try:
        yield kv, rest
    except GeneratorExit:
        store.keep(ids, kv)
        raise
    store.keep(ids, kv)


def _pieces(responses: Any, reply: _Reply) -> Iterator[Piece]:
    """A piece per response with text to pass on, until the reply ends."""
    try:
        for response in responses:
            text = reply.step(response)
            if text is None:
                break
            if text:
                yield Piece(text, logprobs=reply.take_logprobs())
    finally:
        responses.close()


class _Reply:
    """One reply as it is read: its tokens, whether its text has started, the stop
    strings, and mlx-lm's last response (whose figures end the stream)."""

    def __init__(self, tokenizer: Any, stop: list[str] | None, settings: GenerationSettings):
        self.tokenizer = tokenizer
        self.settings = settings
        self.stops = StopStrings(stop)
        self.tokens: list[int] = []
        self.started = False
        self.last: Any = None
        self.held = ""  # the ending response's text, sent with the figures
        self.names = TokenBytes(tokenizer) if settings.logprobs else None
        self.eos = set(getattr(tokenizer, "eos_token_ids", None) or ())
        self.logprobs: list[dict[str, Any]] = []  # entries not yet sent with a piece

    def take_logprobs(self) -> tuple[dict[str, Any], ...]:
        """The entries waiting to go out with the next piece."""
        out, self.logprobs = tuple(self.logprobs), []
        return out

    def step(self, response: Any) -> str | None:
        """The text to pass on for one response; None once the reply ended (a stop
        string, or mlx-lm's finish), its last text then held for the final piece."""
        self.last = response
        self.tokens.append(response.token)
        if self.names is not None and response.token not in self.eos:
            entry = logprob_entry(
                response.logprobs, response.token, self.settings.top_logprobs, self.names
            )
            self.logprobs.append(entry)
        text = response.text
        if text and not self.started:
            self.started = True
            text = _leading_space(self.tokenizer, self.tokens, text)
        if self.settings.verbose:
            _echo(text, response, self.settings)
        text = self.stops.feed(text)
        if self.stops.stopped or response.finish_reason is not None:
            self.held = text
            return None
        return text

    def final(self, prompt_tokens: int, cached: int) -> Piece:
        """The last piece: the held text (and what the stop filter still held, when no
        stop string matched) with the figures."""
        last = self.last
        if last is None:  # pragma: no cover - stream_generate always yields a final response
            raise RuntimeError("mlx-lm produced no response")
        if self.stops.stopped:
            text, reason = self.held, "stop"
        else:
            text, reason = self.held + self.stops.flush(), last.finish_reason or "stop"
        figures = GenerationFigures(
            prompt_tokens=prompt_tokens,
            prompt_cached_tokens=cached,
            prompt_tps=float(last.prompt_tps),
            generation_tokens=int(last.generation_tokens),
            generation_tps=float(last.generation_tps),
            peak_memory=float(last.peak_memory),
            finish_reason=reason,
        )
        return Piece(text, figures, self.take_logprobs())


def _prompt_ids(tokenizer: Any, prompt: str | list[int]) -> list[int]:
    """The prompt's token ids; a text prompt is encoded as `stream_generate` would."""
    if not isinstance(prompt, str):
        return list(prompt)
    bos = tokenizer.bos_token
    return tokenizer.encode(prompt, add_special_tokens=bos is None or not prompt.startswith(bos))


def _with_prefix(processor: Any, prefix: list[int]) -> Any:
    """A logits processor that sees the cached prompt tokens before the computed ones."""
    import mlx.core as mx

    head = mx.array(prefix)

    def process(tokens: Any, logits: Any) -> Any:
        return processor(mx.concatenate([head, tokens.astype(head.dtype)]), logits)

    return process


def _leading_space(tokenizer: Any, tokens: list[int], text: str) -> str:
    """Give back the leading space mlx-lm's BPE detokenizer trims from a reply's start.

    A completion must continue its prompt exactly ("The capital is" + " Paris"), so the
    decoded tokens are the reference: if they start with one more space than the
    streamed text, the space is restored.
    """
    full = tokenizer.decode(tokens)
    return " " + text if full.startswith(" " + text) else text


def _echo_figures(figures: GenerationFigures) -> None:
    """`verbose=True`: the closing summary, as mlx-lm's `generate` prints it."""
    print(
        f"\nPrompt: {figures.prompt_tokens} tokens, {figures.prompt_tps:.3f} tokens-per-sec"
        f"\nGeneration: {figures.generation_tokens} tokens, "
        f"{figures.generation_tps:.3f} tokens-per-sec\nPeak memory: {figures.peak_memory:.3f} GB"
    )


def _echo(text: str, response: Any, settings: GenerationSettings) -> None:
    """`verbose=True`: print each piece, through `formatter(text, prob)` when given."""
    if settings.formatter is not None:
        import mlx.core as mx

        prob = mx.exp(response.logprobs[response.token]).item()
        settings.formatter(text, prob)
    else:
        print(text, end="", flush=True)
