"""Playground: the control panel, a prompt box, a chat StreamView and the session's runs."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..run import RunHistory
from ..run.history import protocol_of
from ..spec import ModelSpec
from ._base import PromptBox, SnapshotDisplay
from .controls import ControlPanel
from .snapshot import snapshot_bundle, view_stats
from .stream import STATES, StreamView, ended, error_message

# Spec fields a history row leaves out: where the server is, not how the model ran.
_NOT_SETTINGS = {"base_url", "client_kwargs", "sync_client_kwargs", "async_client_kwargs"}


def history_rows(history: RunHistory) -> list[dict[str, Any]]:
    """One row per run: model, protocol, settings that differ from the defaults, speed,
    outcome."""
    rows = []
    for run in history:
        stats = view_stats(run)
        settings = {}
        if run.spec is not None:
            settings = {k: v for k, v in run.spec.set_params().items() if k not in _NOT_SETTINGS}
        rows.append(
            {
                "run": run.id,
                "model": run.model_name,
                "protocol": protocol_of(run),
                "settings": ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults",
                "ttft_s": stats["ttft_s"],
                "tok/s": stats["client_tps"],
                "tokens": stats["tokens"],
                "done": run.done_reason or STATES.get(run.status, run.status),
            }
        )
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape("-" if value is None else str(value))


class HistoryTable(W.VBox):
    """The runs of a RunHistory as a table that follows it, with JSON and CSV export."""

    def __init__(self, history: RunHistory, folder: str | Path = "."):
        self.history = history
        self.folder = Path(folder)
        self.table = W.HTML()
        self.saved = W.HTML()
        json_button = W.Button(description="Export JSON", icon="download")
        csv_button = W.Button(description="Export CSV", icon="download")
        json_button.on_click(lambda _: self.export("json"))
        csv_button.on_click(lambda _: self.export("csv"))
        receipts_button = W.Button(description="Export receipts", icon="download")
        receipts_button.on_click(lambda _: self.export("receipts"))
        buttons = [json_button, csv_button, receipts_button, self.saved]
        super().__init__([self.table, W.HBox(buttons)])
        history.observe(lambda _change, _run: self.redraw())
        self.redraw()

    def redraw(self) -> None:
        """Draw the table again from the history."""
        rows = history_rows(self.history)
        if not rows:
            self.table.value = "<i>No runs yet: send a prompt.</i>"
            return
        head = "".join(f"<th style='text-align:left;padding:0 8px'>{k}</th>" for k in rows[0])
        body = "".join(
            "<tr>"
            + "".join(f"<td style='padding:0 8px'>{_cell(v)}</td>" for v in r.values())
            + "</tr>"
            for r in rows
        )
        self.table.value = f"<table class='llnb-history'><tr>{head}</tr>{body}</table>"

    def export(self, fmt: str) -> Path:
        """Write the runs as `playground-runs.json` or `.csv`, or the finished runs'
        receipts as `playground-receipts.json` (fmt 'receipts'); returns the path."""
        if fmt == "receipts":
            path = self.folder / "playground-receipts.json"
            self.history.receipts_json(path)
        else:
            path = self.folder / f"playground-runs.{fmt}"
            (self.history.to_json if fmt == "json" else self.history.to_csv)(path)
        what = "the receipts of " if fmt == "receipts" else ""
        self.saved.value = (
            f"Saved {what}{len(self.history)} runs to <a href='{html.escape(path.as_posix())}' "
            f"target='_blank'>{html.escape(str(path))}</a>"
        )
        return path


class Playground(SnapshotDisplay, W.VBox):
    """ControlPanel + prompt box + chat StreamView + the session's runs.

    Enter sends the prompt with the panel's current spec; the conversation continues
    until "New chat". `playground.history` holds every run (RunHistory).
    """

    def __init__(self, spec: ModelSpec | str | None = None, *, base_url: str | None = None):
        self.panel = ControlPanel(spec, base_url=base_url)
        self.view = StreamView(self.panel.spec, chat=True)
        self.history = RunHistory()
        self.view.history = self.history
        self.prompt = PromptBox()
        self.notice = W.HTML()
        self.table = HistoryTable(self.history)
        new_chat = W.Button(description="New chat", icon="plus", tooltip="Forget the conversation")
        new_chat.on_click(lambda _: self.view.clear())
        self.prompt.on_send(self.send)
        self.view.observe(self._on_state, names="state")
        chat = W.VBox(
            [self.view, self.notice, self.prompt, new_chat], layout=W.Layout(flex="1 1 55%")
        )
        controls = W.Accordion([self.panel], layout=W.Layout(flex="1 1 45%"))
        controls.set_title(0, "Model and parameters")
        controls.selected_index = 0
        super().__init__(
            [W.HBox([controls, chat]), W.HTML("<b>Runs</b>"), self.table],
            layout=W.Layout(width="100%"),
        )
        self._handles = []
        self.history.observe(self._on_history)

    def send(self, text: str) -> None:
        """Send `text` with the panel's spec (what pressing Enter does)."""
        spec = self.panel.spec
        if spec.kind == "embeddings":
            self.notice.value = (
                "<span role='alert' style='color:#b71c1c'>An embeddings model does not "
                "chat: pick Chat or LLM above, or use EmbeddingExplorer.</span>"
            )
            return
        if self.view.running:
            self.notice.value = "<span role='alert'>A run is in progress: stop it first.</span>"
            return
        self.notice.value = ""
        self.view.model = spec
        self.view.chat = spec.kind == "chat"
        self.view.run(text)

    def _snapshot(self) -> dict[str, Any] | None:
        finished = [run for run in self.history if ended(run)]
        if not finished:
            return None
        bundle = snapshot_bundle(finished[-1], error_message(finished[-1].error))
        bundle["text/html"] += f"<p><b>Runs</b></p>{self.table.table.value}"
        return bundle

    def _on_history(self, change: str, _run: Any) -> None:
        if change == "finished":  # the table has redrawn itself already
            self._update_displays()

    def _on_state(self, change: dict) -> None:
        self.prompt.disabled = change["new"] in ("pending", "running")

    def __repr__(self) -> str:
        return f"Playground(model={self.panel.spec.model!r}, runs={len(self.history)})"
