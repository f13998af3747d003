"""Reuse of recent prompts' KV caches on MLX, as llama.cpp (and so Ollama) reuses its slot.

On Linux CPU a prompt costs about as much per token as generation does, and chat
prompts repeat themselves: the same system prompt and tool list before each question,
an agent loop's history growing by one turn, a notebook cell run again. mlx-lm's own
`LRUPromptCache` (the one `mlx_lm.server` uses) finds the longest cached prefix; only
the rest of the prompt is computed.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

# Prompts kept per model: the KV cache of the 135M model costs ~23 KB per token.
CACHED_PROMPTS = 4

_CACHES: dict[int, tuple[weakref.ref, PromptCache]] = {}
_LOCK = threading.Lock()


class PromptCache:
    """The KV caches of one model's recent prompts (use under the model's lock)."""

    def __init__(self, size: int = CACHED_PROMPTS):
        from mlx_lm.models.cache import LRUPromptCache

        self._lru = LRUPromptCache(max_size=size)

    def fetch(self, model: Any, tokens: list[int]) -> tuple[list[Any], list[int]]:
        """A KV cache for `tokens` and the tokens it still lacks (never none: the last
        prompt token is always computed, since its logits give the first reply token)."""
        from mlx_lm.models.cache import make_prompt_cache

        cache, rest = self._lru.fetch_nearest_cache(0, tokens)
        if cache is None or not rest:
            return make_prompt_cache(model), tokens
        return cache, list(rest)

    def keep(self, tokens: list[int], cache: list[Any]) -> None:
        """Keep `cache` after a generation from `tokens`, cut back to all but the last
        prompt token (what a later prompt that starts the same way can reuse)."""
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        keep = len(tokens) - 1
        offsets = {getattr(c, "offset", None) for c in cache}
        if keep < 1 or len(offsets) != 1 or not can_trim_prompt_cache(cache):
            return
        (offset,) = offsets
        if not isinstance(offset, int) or offset < keep:  # stopped before the prompt was read
            return
        trim_prompt_cache(cache, offset - keep)
        self._lru.insert_cache(0, tokens[:keep], cache)


def clear_prompt_caches() -> None:
    """Forget every model's prompt cache: the next prompt is computed whole."""
    with _LOCK:
        _CACHES.clear()


def prompt_cache(model: Any) -> PromptCache | None:
    """The prompt cache of `model` (None if the model cannot be tracked)."""
    key = id(model)
    with _LOCK:
        hit = _CACHES.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1]
        try:  # a freed model's caches go with it (and its id may be reused)
            ref = weakref.ref(model, lambda _: _CACHES.pop(key, None))
        except TypeError:
            return None
        cache = PromptCache()
        _CACHES[key] = (ref, cache)
        return cache
