"""The generation loop over mlx-lm's `stream_generate`, and a small cache of loaded models."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from ._mlx_bundled import resolve_model_id
from ._mlx_grammar import grammar_processor
from ._mlx_prompt_cache import prompt_cache
from ._mlx_text import GenerationSettings, StopStrings

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


def _generation_info(
    response: Any, finish_reason: str, prompt_tokens: int, cached: int
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "prompt_cached_tokens": cached,
        "prompt_tps": float(response.prompt_tps),
        "generation_tokens": int(response.generation_tokens),
        "generation_tps": float(response.generation_tps),
        "peak_memory": float(response.peak_memory),
        "finish_reason": finish_reason,
    }


def generate_pieces(
    model: Any,
    tokenizer: Any,
    prompt: str | list[int],
    stop: list[str] | None,
    settings: GenerationSettings,
    grammar: str | None = None,
) -> Iterator[tuple[str, dict | None]]:
    """Stream `(text, None)` pieces, then one final `(text, generation_info)`.

    mlx-lm does the sampling, EOS handling (every id in `tokenizer.eos_token_ids`),
    `max_tokens` and incremental detokenization; this adds stop strings that may span
    tokens (text is held back while it could still become a stop string) and keeps the
    reply's leading space. A `grammar` (llguidance) constrains every sampled token.
    The longest prefix the prompt shares with a recent one is not computed again
    (`prompt_cached_tokens`; `prompt_tps` counts the tokens computed).
    """
    import mlx.core as mx
    from mlx_lm import stream_generate
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
    processors += grammar_processor(tokenizer, grammar)  # last: it sees the final logits
    stops = StopStrings(stop)
    last = None
    pending = ""
    tokens: list[int] = []
    started = False
    ids = _prompt_ids(tokenizer, prompt)
    store = prompt_cache(model)
    with model_lock(model):
        kv, rest = store.fetch(model, ids) if store is not None else (None, ids)
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
        finished = False
        try:
            for response in responses:
                last = response
                tokens.append(response.token)
                text = response.text
                if text and not started:
                    started = True
                    text = _leading_space(tokenizer, tokens, text)
                if settings.verbose:
                    _echo(text, response, settings)
                text = stops.feed(text)
                if stops.stopped or response.finish_reason is not None:
                    # The last text goes out together with the figures below.
                    pending = text
                    break
                if text:
                    yield text, None
            finished = True
        except GeneratorExit:  # the caller stopped reading: the cache is still sound
            finished = True
            raise
        finally:
            responses.close()
            if finished and store is not None:
                store.keep(ids, kv)
    if last is None:  # pragma: no cover - stream_generate always yields a final response
        raise RuntimeError("mlx-lm produced no response")
    if stops.stopped:
        reason = "stop"
    else:
        pending += stops.flush()
        reason = last.finish_reason or "stop"
    info = _generation_info(last, reason, len(ids), cached)
    if settings.verbose:
        print(
            f"\nPrompt: {info['prompt_tokens']} tokens, {info['prompt_tps']:.3f} tokens-per-sec"
            f"\nGeneration: {info['generation_tokens']} tokens, "
            f"{info['generation_tps']:.3f} tokens-per-sec\nPeak memory: {info['peak_memory']:.3f} GB"
        )
    yield pending, info


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


def _echo(text: str, response: Any, settings: GenerationSettings) -> None:
    """`verbose=True`: print each piece, through `formatter(text, prob)` when given."""
    if settings.formatter is not None:
        import mlx.core as mx

        prob = mx.exp(response.logprobs[response.token]).item()
        settings.formatter(text, prob)
    else:
        print(text, end="", flush=True)
