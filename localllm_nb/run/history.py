"""RunHistory: the runs of a session as rows (spec + stats + text), saved as JSON or CSV.

Credentials never reach a file: the spec is written redacted (no userinfo in base_url,
'***' for Authorization and other auth-like client kwargs), and error messages carry
URLs without userinfo.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .record import Run
from .tokens import mean_logprob, perplexity

log = logging.getLogger(__name__)

# RunStats fields that get a CSV column of their own.
STAT_COLUMNS = (
    "ttft_s",
    "duration_s",
    "tokens",
    "client_tps",
    "server_tps",
    "prompt_tokens",
    "eval_tokens",
)
# Token-probability figures of the answer (content tokens), empty without logprobs.
LOGPROB_COLUMNS = ("mean_logprob", "perplexity")
CSV_COLUMNS = (
    "id",
    "started_at",
    "model",
    "protocol",
    "backend",
    "kind",
    "status",
    "done_reason",
    *STAT_COLUMNS,
    *LOGPROB_COLUMNS,
    "prompt",
    "content",
    "thinking",
    "tool_calls",
    "error",
    "spec",
    "logprobs",
    "receipt",
)


def prompt_json(prompt: Any) -> Any:
    """Prompt or messages as plain JSON (role + content)."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)):
        out = []
        for msg in prompt:
            if isinstance(msg, (tuple, list)) and len(msg) == 2:
                out.append({"role": str(msg[0]), "content": msg[1]})
            elif isinstance(msg, dict):
                out.append({"role": msg.get("role"), "content": msg.get("content")})
            else:
                out.append(
                    {
                        "role": getattr(msg, "type", "?"),
                        "content": getattr(msg, "content", str(msg)),
                    }
                )
        return out
    return str(prompt)


def receipt_record(run: Run) -> dict[str, Any] | None:
    """The run's receipt as JSON-ready data; None while it runs or when none can be had."""
    if not run.done:
        return None
    try:
        return run.receipt().to_dict()
    except Exception:  # a receipt is a bonus on an export, never a reason to lose it
        log.exception("run %s: no receipt", run.id)
        return None


def protocol_of(run: Run) -> str | None:
    """What the run spoke: 'ollama', 'openai' (any /v1 server) or 'mlx' (in process);
    from its spec, else from the figures its server sent."""
    return run.spec.backend if run.spec is not None else run.stats.source


def run_record(run: Run) -> dict[str, Any]:
    """One run as a JSON-ready dict, without credentials. Token logprobs, when the run
    has them, are a list in Ollama's shape with each token's channel, and the answer's
    `mean_logprob` and `perplexity` sit beside them."""
    spec = run.spec.redacted().model_dump(mode="json", exclude_none=True) if run.spec else None
    started = (
        datetime.fromtimestamp(run.started_at, timezone.utc).isoformat() if run.started_at else None
    )
    tokens = run.logprobs
    answer = [t for t in tokens if t.channel == "content"]
    return {
        "id": run.id,
        "started_at": started,
        "model": run.model_name,
        "protocol": protocol_of(run),
        "status": run.status,
        "done_reason": run.done_reason,
        "spec": spec,
        "stats": run.stats.to_dict(),
        "prompt": prompt_json(run.prompt),
        "content": run.content,
        "thinking": run.thinking,
        "tool_calls": run.tool_calls,
        "error": f"{type(run.error).__name__}: {run.error}" if run.error else None,
        "observer_errors": run.observer_errors,
        "mean_logprob": mean_logprob(answer),
        "perplexity": perplexity(answer),
        "logprobs": [t.to_ollama() for t in tokens],
        "receipt": receipt_record(run),
    }


class RunHistory:
    """Runs in the order they were added; `to_json(path)` / `to_csv(path)` save them.

    `observe(callback)` lets a view follow it: `callback("added", run)` when a run is
    added, `callback("finished", run)` when a run added unfinished ends.
    """

    def __init__(self, runs: list[Run] | None = None):
        self._runs: list[Run] = list(runs or [])
        self._observers: list[Callable[[str, Run], None]] = []

    def add(self, run: Run) -> Run:
        """Append `run` (finished or not; it is read when saving) and return it."""
        self._runs.append(run)
        self._notify("added", run)
        if not run.done:
            once = threading.Lock()

            def ended(event) -> None:
                if event.type == "end" and once.acquire(blocking=False):
                    self._notify("finished", run)

            run.subscribe(ended)
        return run

    def observe(self, callback: Callable[[str, Run], None]) -> Callable[[], None]:
        """Call `callback(change, run)` on 'added' and 'finished'; returns an unsubscribe
        function. A failing observer is logged and kept on the run's observer errors."""
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    def _notify(self, change: str, run: Run) -> None:
        for callback in list(self._observers):
            try:
                callback(change, run)
            except Exception as exc:
                run.callback_errors.append(exc)
                log.exception("history observer %r failed", callback)

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._runs))

    def __getitem__(self, index: int) -> Run:
        return self._runs[index]

    def __repr__(self) -> str:
        return f"RunHistory({len(self._runs)} runs)"

    def records(self) -> list[dict[str, Any]]:
        """All runs as JSON-ready dicts."""
        return [run_record(r) for r in self._runs]

    def receipts(self) -> list[Any]:
        """The `Receipt` of every finished run (`localllm_nb.replay` reruns one)."""
        return [r.receipt() for r in self._runs if r.done]

    def receipts_json(self, path: str | Path) -> Path:
        """Write the finished runs' receipts as a JSON list (`load_receipts` reads it)."""
        path = Path(path)
        data = [receipt.to_dict() for receipt in self.receipts()]
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False), "utf-8")
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write all runs as a JSON list; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.records(), indent=2, ensure_ascii=False), "utf-8")
        return path

    def to_csv(self, path: str | Path) -> Path:
        """Write one row per run (stats flattened, spec and token logprobs as JSON);
        returns the path."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for rec in self.records():
                stats = rec["stats"]
                spec = rec["spec"] or {}
                writer.writerow(
                    {
                        "id": rec["id"],
                        "started_at": rec["started_at"],
                        "model": rec["model"],
                        "protocol": rec["protocol"],
                        "backend": spec.get("backend"),
                        "kind": spec.get("kind"),
                        "status": rec["status"],
                        "done_reason": rec["done_reason"],
                        **{k: stats.get(k) for k in STAT_COLUMNS},
                        **{k: rec[k] for k in LOGPROB_COLUMNS},
                        "prompt": json.dumps(rec["prompt"], ensure_ascii=False),
                        "content": rec["content"],
                        "thinking": rec["thinking"],
                        "tool_calls": json.dumps(rec["tool_calls"], ensure_ascii=False),
                        "error": rec["error"],
                        "spec": json.dumps(spec, ensure_ascii=False),
                        "logprobs": json.dumps(rec["logprobs"], ensure_ascii=False)
                        if rec["logprobs"]
                        else "",
                        "receipt": json.dumps(rec["receipt"], ensure_ascii=False),
                    }
                )
        return path
