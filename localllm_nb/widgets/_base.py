"""The one front-end module every view shares, and the widget base class that loads it."""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

STATIC = Path(__file__).parent / "static"


class View(anywidget.AnyWidget):
    """Base of localllm_nb's custom views: `_kind` picks the renderer in views.js."""

    _esm = STATIC / "views.js"
    _css = STATIC / "views.css"
    _kind = traitlets.Unicode("", help="Which renderer of views.js draws this view.").tag(sync=True)


class PromptBox(View):
    """A prompt text area: Enter sends, Shift+Enter adds a line. `on_send(callback)`
    registers `callback(text)`."""

    _kind = traitlets.Unicode("prompt").tag(sync=True)
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

    _kind = traitlets.Unicode("code").tag(sync=True)
    code = traitlets.Unicode("", help="The code shown.").tag(sync=True)

    def __repr__(self) -> str:
        return f"CodeBox({len(self.code.splitlines())} lines)"
