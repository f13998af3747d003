"""Static snapshots of a finished run, for saved notebooks: one self-contained HTML.

A saved notebook reopened without a kernel, converted by nbconvert, or shown on GitHub
cannot draw a live widget; this output travels in the same display and shows instead.
Those readers prefer `text/html` to `image/png`, so the chart is inside the HTML (an
`<img>` with a data URI) rather than beside it. Pure functions of a `Run`, so they are
tested without a kernel.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from .markdown import markdown_html

_STATUS = {"done": "done", "cancelled": "stopped", "error": "error"}


def stats_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The stats strip as (label, value) rows: the saved snapshot's table, and the live
    view's strip once a run ended (StreamView sends them in its `stats_rows` trait).

    >>> stats_rows({"ttft_s": 0.25, "client_tps": 80.0, "server_tps": 82.5, "tokens": 12,
    ...             "prompt_tps": None, "load_s": None, "done_reason": "stop"})[:2]
    [('TTFT', '0.25 s'), ('tokens/s', '80.0 (server 82.5)')]
    """

    def num(key: str, digits: int, unit: str = "") -> str:
        value = stats.get(key)
        return "-" if value is None else f"{value:.{digits}f}{unit}"

    rows = [
        ("TTFT", num("ttft_s", 2, " s")),
        ("tokens/s", f"{num('client_tps', 1)} (server {num('server_tps', 1)})"),
        ("prompt tok/s", num("prompt_tps", 1)),
        ("tokens", "-" if stats.get("tokens") is None else str(stats["tokens"])),
        ("load", num("load_s", 2, " s")),
        ("done", str(stats.get("done_reason") or "-")),
    ]
    if stats.get("source") == "openai":
        # OpenAI-compatible servers report counts (usage), rarely rates: show the counts.
        counts = [stats.get("prompt_tokens"), stats.get("eval_tokens")]
        rows.append(
            (
                "usage",
                " · ".join("-" if c is None else str(c) for c in counts)
                + " tokens (prompt · completion)",
            )
        )
    if stats.get("peak_memory_gb") is not None:
        rows.append(("peak memory", num("peak_memory_gb", 2, " GB")))
    return rows


def view_stats(run: Any) -> dict[str, Any]:
    """The figures a view shows for `run`: RunStats plus why it ended (the server's done
    reason, or 'stopped'/'error' when it ended otherwise)."""
    reason = run.done_reason or {"cancelled": "stopped", "error": "error"}.get(run.status)
    return {**run.stats.to_dict(), "done_reason": reason}


def png_img(png: bytes, alt: str) -> str:
    """An `<img>` carrying `png` in a data URI, so the HTML needs no other file.

    >>> png_img(b"\\x89PNG", 'a "chart"')
    '<img alt="a &quot;chart&quot;" style="max-width:100%" src="data:image/png;base64,iVBORw=="/>'
    """
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img alt="{html.escape(alt)}" style="max-width:100%" src="data:image/png;base64,{data}"/>'
    )


def snapshot_html(
    run: Any,
    error: str = "",
    png: bytes | None = None,
    context: dict | None = None,
    lens: bool = False,
    branch: dict | None = None,
) -> str:
    """The run as self-contained HTML: answer (Markdown rendered as the live view does,
    or shaded by token probability with `lens`), thinking (collapsed), tool calls,
    error, the context bar (`context`, as `context_bar.context_state` gives it), the
    chart `png` if given, stats table; with a `branch` (StreamView's `branch_state`),
    the original and the branch side by side. Everything the model wrote is escaped."""
    status = _STATUS.get(run.status, run.status)
    parts = [
        '<div class="llnb-snapshot" style="border:1px solid #ddd;border-radius:6px;'
        'padding:8px 10px;font-family:system-ui,sans-serif;font-size:13px">',
        f"<div><b>{html.escape(run.model_name)}</b> · {html.escape(status)}</div>",
    ]
    if run.thinking:
        thinking_tokens = run.stats.thinking_tokens
        parts.append(
            f"<details><summary>Thinking ({thinking_tokens} tokens)</summary>"
            f'<div style="white-space:pre-wrap;color:#555">{html.escape(run.thinking)}</div>'
            "</details>"
        )
    for call in run.tool_calls:
        args = json.dumps(call.get("args") or {}, ensure_ascii=False)
        parts.append(
            f"<div>🔧 <b>{html.escape(str(call.get('name')))}</b> "
            f"<code>{html.escape(args)}</code></div>"
        )
    if run.content or branch:
        from .lens import branch_html, columns_html, lens_html

        mark = branch.get("index") if branch else None
        answer = lens_html(run.logprobs, mark) if lens else markdown_html(run.content)
        parts.append(
            columns_html(f'<div class="llnb-answer">{answer}</div>', branch_html(branch or {}))
        )
    if error:
        parts.append(f'<div role="alert" style="color:#b71c1c">{html.escape(error)}</div>')
    if context:
        from .context_bar import context_bar_html

        parts.append(context_bar_html(context))
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:12px'>{k}</th><td>{html.escape(v)}</td></tr>"
        for k, v in stats_rows(view_stats(run))
    )
    if png is not None:
        parts.append(png_img(png, "tokens/s over the run"))
    parts.append(f"<table>{cells}</table></div>")
    return "".join(parts)


def snapshot_png(run: Any, entropy: bool = False) -> bytes | None:
    """The final token-rate chart as PNG bytes (None when the run produced no tokens),
    with the lens's entropy track when `entropy`."""
    if len(run.timeline) < 2:
        return None
    from ..plots import render_png, token_rate_figure

    return render_png(token_rate_figure(run, entropy=entropy))


def snapshot_bundle(
    run: Any,
    error: str = "",
    context: dict | None = None,
    lens: bool = False,
    branch: dict | None = None,
) -> dict[str, Any]:
    """`text/html` with the chart inside (when the run produced tokens), for a display
    bundle. No separate `image/png`: every reader that can show it picks the HTML.
    `context` defaults to the run's own context use; `lens` and `branch` as in
    `snapshot_html`."""
    if context is None:
        from .context_bar import context_state

        context = context_state(run)
    html_text = snapshot_html(
        run, error, snapshot_png(run, entropy=lens), context, lens=lens, branch=branch
    )
    return {"text/html": html_text}
