"""The context fill bar: a run's prompt + generated tokens against the model's context,
and a plain warning when the prompt was cut to fit (`Run.context`)."""

from __future__ import annotations

import html
import logging
from typing import Any

log = logging.getLogger(__name__)


def context_state(run: Any, chat: bool = False) -> dict[str, Any]:
    """What the bar shows for `run` ({} when the server reported no counts). In a `chat`,
    a context nearly full is said before the next turn outgrows it."""
    try:
        use = run.context
    except Exception:  # a bar is a bonus: never let it break the view's end
        log.exception("run %s: no context figures", getattr(run, "id", "?"))
        return {}
    if not use.used:
        return {}
    message = use.message()
    warn = chat and use.near_full and not use.truncated
    if warn:
        message += (
            "; the conversation nearly fills the context: the next turns will drop the "
            "oldest messages (raise num_ctx or clear())"
        )
    return {
        "used": use.used,
        "limit": use.limit,
        "fraction": round(use.fraction, 4) if use.fraction is not None else None,
        "truncated": use.truncated,
        "near_full": warn,
        "message": message,
    }


def context_bar_html(state: dict[str, Any]) -> str:
    """The bar as self-contained HTML, for saved snapshots ('' without figures)."""
    if not state:
        return ""
    alarm = state["truncated"] or state.get("near_full")
    color = "#c62828" if state["truncated"] else "#ef6c00" if alarm else "#1f77b4"
    width = min(100.0, 100 * (state["fraction"] or 0))
    return (
        f'<div class="llnb-context" data-truncated="{str(state["truncated"]).lower()}" '
        'style="margin:6px 0">'
        '<div style="height:6px;background:#eee;border-radius:3px;overflow:hidden">'
        f'<div style="height:6px;width:{width:.1f}%;background:{color}"></div></div>'
        f'<div style="color:{color if alarm else "#555"}">'
        f"{html.escape(state['message'])}</div></div>"
    )
