"""The base of localllm_nb's anywidget views, display handles with snapshots, and the
prompt and code boxes."""

from __future__ import annotations

import contextlib
from typing import Any

import anywidget
import traitlets

from ._esm import STATIC, esm

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class SnapshotDisplay:
    """Displays a widget through display handles, so that it can later put a static
    snapshot (`_snapshot()`: HTML, PNG) beside the widget in the same output.

    JupyterLab draws the live widget; a saved notebook opened without a kernel,
    nbconvert and GitHub fall back to the snapshot.

    Updates come from worker threads, whose messages ipykernel parents to the latest
    execute request. JupyterLab applies an update only in the cell whose request it
    answers, so each update is also sent parented to the cell that displayed the widget
    (its reply channel stays open until that cell runs again); nbclient, which listens
    to the running cell only, takes the first copy.
    """

    _handles: list  # (DisplayHandle, parent header of the cell that displayed it)

    def _snapshot(self) -> dict[str, Any] | None:
        return None

    def snapshot(self) -> dict[str, Any] | None:
        """The static outputs (HTML, PNG) a saved notebook shows for this view; None
        while there is nothing final to show."""
        return self._snapshot()

    def display_bundle(self) -> dict[str, Any]:
        """What displaying this view outputs: the widget, and its snapshot beside it."""
        return self._bundle()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        handle = display(self._bundle(), raw=True, display_id=True)
        if handle is not None:
            self._handles.append((handle, _display_parent()))

    def _bundle(self, with_snapshot: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text/plain": repr(self),
            WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.model_id},
        }
        snapshot = self._snapshot() if with_snapshot else None
        return {**data, **(snapshot or {})}

    def _update_displays(self, with_snapshot: bool = True) -> None:
        if not self._handles:
            return
        bundle = self._bundle(with_snapshot)
        for handle, parent in list(self._handles):
            with contextlib.suppress(Exception):  # a closed front end must not fail a run
                handle.update(bundle, raw=True)
                now = _display_parent()
                if parent and parent.get("msg_id") != (now or {}).get("msg_id"):
                    with _thread_parent(parent):
                        handle.update(bundle, raw=True)


def _display_pub() -> Any:
    from IPython import get_ipython

    return getattr(get_ipython(), "display_pub", None)


def _display_parent() -> dict[str, Any] | None:
    """The header display messages from this thread are parented to, if in a kernel."""
    header = getattr(_display_pub(), "parent_header", None)
    return dict(header) if isinstance(header, dict) and header.get("msg_id") else None


@contextlib.contextmanager
def _thread_parent(parent: dict[str, Any]):
    """Parent this thread's display messages to `parent` (ipykernel >= 6.27) for a while."""
    pub = _display_pub()
    if pub is None or not hasattr(pub, "set_thread_parent"):
        yield
        return
    token = pub.set_thread_parent(parent)
    try:
        yield
    finally:
        pub.reset_thread_parent(token)


class View(anywidget.AnyWidget):
    """Base of localllm_nb's custom views: each subclass sets its own front-end module,
    `_esm = esm("<view>.js")` (static/<view>.js joined with what it imports); all share
    one stylesheet."""

    _css = STATIC / "views.css"


class PromptBox(View):
    """A prompt text area: Enter sends, Shift+Enter adds a line. `on_send(callback)`
    registers `callback(text)`."""

    _esm = esm("prompt.js")
    placeholder = traitlets.Unicode("Ask the model…", help="Placeholder text.").tag(sync=True)
    disabled = traitlets.Bool(False, help="Refuse to send (e.g. while a run is live).").tag(
        sync=True
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._callbacks: list = []
        self.on_msg(self._on_msg)

    def on_send(self, callback) -> None:
        """Call `callback(text)` when the user sends a prompt."""
        self._callbacks.append(callback)

    def send_text(self, text: str) -> None:
        """Act as if the user typed `text` and pressed Enter."""
        for callback in list(self._callbacks):
            callback(text)

    def _on_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "send" and not self.disabled:
            self.send_text(str(content.get("text", "")))

    def __repr__(self) -> str:
        return "PromptBox()"


class CodeBox(View):
    """Read-only code with a Copy button."""

    _esm = esm("code.js")
    code = traitlets.Unicode("", help="The code shown.").tag(sync=True)

    def __repr__(self) -> str:
        return f"CodeBox({len(self.code.splitlines())} lines)"
