"""Names for the explorer's clusters, asked of a chat model in a background thread.

Each cluster's prompt (`vectors.clusters.naming_prompt`) is streamed from the model the
spec names; the partial name is passed on a few times a second so the map shows it
growing; answers are cached by model and prompt, so naming again costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..vectors.clusters import clean_name, naming_prompt

_CACHE: dict[tuple[str, str], str] = {}
_CACHE_LOCK = threading.Lock()
EVERY_S = 0.25
"""Partial names are passed on at most this often."""


def cached_name(model: str, prompt: str) -> str | None:
    """The name kept for this model and prompt, if it was asked before."""
    with _CACHE_LOCK:
        return _CACHE.get((model, prompt))


def name_clusters(
    spec: Any,
    groups: Sequence[Sequence[str]],
    template: str,
    on_name: Callable[[int, str, bool], None],
    on_error: Callable[[BaseException], None],
) -> threading.Thread:
    """Start naming each group of texts with the chat model of `spec`; `on_name(j, name,
    final)` gets partial and final names, `on_error(exc)` a failure. Returns the thread."""

    def work() -> None:
        try:
            from ..backends import build_chat
            from ..spec import ModelSpec

            chosen = spec if isinstance(spec, ModelSpec) else ModelSpec(model=str(spec))
            chat = None
            for j, texts in enumerate(groups):
                prompt = naming_prompt(texts, template)
                known = cached_name(chosen.model, prompt)
                if known is not None:
                    on_name(j, known, True)
                    continue
                chat = chat or build_chat(chosen)
                answer, last = "", 0.0
                for chunk in chat.stream(prompt):
                    answer += str(getattr(chunk, "content", chunk) or "")
                    if time.monotonic() - last > EVERY_S and answer.strip():
                        last = time.monotonic()
                        on_name(j, clean_name(answer), False)
                name = clean_name(answer)
                with _CACHE_LOCK:
                    _CACHE[(chosen.model, prompt)] = name
                on_name(j, name, True)
        except Exception as exc:  # shown in the view, never lost in a thread
            on_error(exc)

    thread = threading.Thread(target=work, name="explorer-cluster-names", daemon=True)
    thread.start()
    return thread
