"""ControlPanel: a form over `ModelSpec`, built from `ModelSpec.fields(...)`.

Every parameter of the chosen backend and kind is a control in its group, empty (the
server decides) until set, with a reset; problems from `SpecError.problems` show beside
their control while the last valid spec stays in `panel.spec`. A model picker fed by
`list_models()`, the server's status, backend/kind switches (`spec.retarget`) and the
spec as code with a Copy button complete it. For OpenAI-compatible servers the URL box
takes the `/v1` URL and a password box the key, which moves into the spec's SecretStr
and leaves the box (so no widget state, saved or synced, keeps it).
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as W
import traitlets

from .._host import base_url, server_status
from ..errors import LocalLLMError, SpecError
from ..fields import GROUPS, SpecField
from ..spec import ModelSpec
from . import _form
from ._base import CodeBox

_BACKENDS = [("Ollama", "ollama"), ("MLX", "mlx"), ("OpenAI-compatible", "openai")]
_KINDS = {"ollama": [("Chat", "chat"), ("LLM", "llm"), ("Embeddings", "embeddings")]}
_KINDS["mlx"] = _KINDS["ollama"][:2]
_KINDS["openai"] = [_KINDS["ollama"][0], _KINDS["ollama"][2]]
# Edited by the boxes above the form, not by rows in it.
_ABOVE_FORM = ("base_url", "api_key")
_KEY_SET = "key set (hidden); type to replace"
_BADGE = "display:inline-block;padding:0 6px;margin-right:4px;border-radius:8px;background:#e8eef7"


def model_label(info: Any) -> str:
    """A picker entry: 'smollm2:135m · 98 MB · Q4_1'."""
    size = f"{info.size / 1e6:.0f} MB" if info.size else ""
    return " · ".join(p for p in (info.name, size, info.quantization) if p)


class _FieldRow:
    """One parameter: its control, a reset button and the message beside it."""

    def __init__(self, field: SpecField, kind: str, on_change):
        self.field = field
        self.message = W.HTML(layout=W.Layout(min_width="0"))
        self.control = self._make_control(field, kind)
        self.control.description_allow_html = False
        tip = f"{field.help}. Allowed: {field.allowed}"
        self.control.tooltip = tip
        self.reset = W.Button(
            icon="undo", tooltip=f"Reset {field.name} to the server default", layout=_SMALL
        )
        self.reset.on_click(lambda _: self.set(None) or on_change(self))
        self.control.observe(lambda _: on_change(self), names="value")
        # A format row takes a JSON schema in a text box shown when "JSON schema…" is picked.
        self.schema = W.Textarea(
            placeholder='{"type": "object", "properties": {...}}',
            layout=W.Layout(width="260px", display="none"),
            rows=3,
            continuous_update=False,
        )
        self.schema.observe(lambda _: on_change(self), names="value")
        label = W.HTML(
            f"<span title='{html.escape(tip, quote=True)}'>{html.escape(field.name)}</span>",
            layout=W.Layout(width="170px"),
        )
        self.box = W.HBox([label, W.VBox([self.control, self.schema]), self.reset, self.message])

    @staticmethod
    def _make_control(field: SpecField, kind: str) -> W.Widget:
        layout = W.Layout(width="260px")
        if field.type in ("choice", "bool", "reasoning", "format", "effort"):
            choices = [(_form.UNSET, None)]
            if field.type == "bool":
                choices += [("True", True), ("False", False)]
            else:
                options = field.choices
                if field.type == "reasoning" and kind == "llm":
                    options = (True, False)
                choices += [(repr(c) if isinstance(c, str) else str(c), c) for c in options]
            if field.type == "format" and kind == "chat":
                choices.append(("JSON schema…", "schema"))
            return W.Dropdown(options=choices, value=None, layout=layout)
        if field.type in ("kwargs",) or field.name == "system_message":
            return W.Textarea(placeholder=_form.placeholder(field), layout=layout, rows=2)
        return W.Text(placeholder=_form.placeholder(field), layout=layout, continuous_update=False)

    def read(self) -> Any:
        value = self.control.value
        self.schema.layout.display = None if value == "schema" else "none"
        if value == "schema":
            if not self.schema.value.strip():
                raise ValueError("type the JSON schema in the box below")
            return _form.parse(self.field, self.schema.value)
        if isinstance(self.control, W.Dropdown):
            return value
        return _form.parse(self.field, value)

    def set(self, value: Any) -> None:
        if isinstance(value, dict) and self.field.type == "format":
            self.schema.value = _form.render(self.field, value)
            self.schema.layout.display = None
            self.control.value = "schema"
        elif isinstance(self.control, W.Dropdown):
            options = [v for _, v in self.control.options]
            self.control.value = value if value in options else None
        else:
            self.control.value = _form.render(self.field, value)

    def show(self, message: str) -> None:
        self.message.value = (
            f"<span role='alert' style='color:#b71c1c'>{html.escape(message)}</span>"
            if message
            else ""
        )


_SMALL = W.Layout(width="34px")


class ControlPanel(W.VBox):
    """Pick a model and set its parameters; `panel.spec` is the last valid ModelSpec.

    `panel.observe(handler, names="spec")` follows changes; `panel.spec = spec` loads a
    spec into the form. `base_url` (default OLLAMA_HOST) is where models are listed.
    """

    spec = traitlets.Instance(ModelSpec, help="The last valid spec the form describes.")

    @property
    def rows(self) -> dict[str, Any]:
        """The form's rows by field name; each has `control`, `message` and `reset`."""
        return dict(self._rows)

    def __init__(
        self,
        spec: ModelSpec | str | None = None,
        *,
        base_url: str | None = None,
        memory_limit: int | None = None,
    ):
        """`memory_limit`: bytes the model may take, when less than this machine has free
        (a budget on a shared machine); the estimate beside num_ctx warns above it."""
        if isinstance(spec, str) or spec is None:
            spec = ModelSpec(model=spec or "smollm2:135m")
        self._rows: dict[str, _FieldRow] = {}
        self._models: list[Any] = []
        self._server_kind = ""
        self.memory_limit = memory_limit
        self.memory_estimate: Any = None
        """The `MemoryEstimate` shown beside num_ctx (None when there is none)."""
        self.memory = W.HTML(layout=W.Layout(min_width="0"))
        self.memory.add_class("llnb-memory")
        # The num_ctx row may sit in a folded group: a load that will not fit is also
        # said under the model picker, which is always in view.
        self.memory_alert = W.HTML()
        self._loading = False
        self.url = W.Text(
            value=base_url or "",
            placeholder=_base_url_label(),
            description="Server",
            layout=W.Layout(width="360px"),
            continuous_update=False,
        )
        self.key = W.Password(
            description="API key",
            placeholder="OPENAI_API_KEY or api_key_env",
            continuous_update=False,
            layout=W.Layout(width="360px"),
        )
        self.status = W.HTML()
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.start_button = W.Button(description="Start embedded server", icon="play")
        self.backend = W.ToggleButtons(options=_BACKENDS, value=spec.backend)
        self.kind = W.ToggleButtons(options=_KINDS[spec.backend], value=spec.kind)
        self.model = W.Combobox(
            value=spec.model,
            description="Model",
            ensure_option=False,
            continuous_update=False,
            layout=W.Layout(width="360px"),
        )
        self.badges = W.HTML()
        self.notice = W.HTML()
        self.groups = W.Accordion()
        self.code = CodeBox()
        super().__init__(
            [
                W.HBox([self.url, self.refresh_button, self.start_button]),
                self.key,
                self.status,
                W.HBox([self.backend, self.kind]),
                W.HBox([self.model, self.badges]),
                self.memory_alert,
                self.notice,
                self.groups,
                W.HTML("<b>As code</b>"),
                self.code,
            ]
        )
        self.add_class("llnb-controls")
        self.spec = spec
        self._build_rows()
        self.refresh_button.on_click(lambda _: self.refresh())
        self.start_button.on_click(lambda _: self.start_embedded())
        self.url.observe(self._on_url, names="value")
        self.key.observe(self._on_key, names="value")
        self.backend.observe(self._on_target, names="value")
        self.kind.observe(self._on_target, names="value")
        self.model.observe(self._on_model, names="value")
        self.refresh()

    # --- public -------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        """The server the panel lists models from (the URL box, else OLLAMA_HOST; for an
        OpenAI-compatible server the URL as given, '' when none is)."""
        given = self.url.value.strip() or self.spec.base_url or None
        if self.spec.backend == "openai":
            return given or ""
        return base_url(given)

    def refresh(self) -> None:
        """Ask the server again for its status and models."""
        if self.spec.backend == "openai":
            self._refresh_openai()
            return
        from ..backends import list_models

        status = server_status(self.server_url)
        self.start_button.layout.display = None if not status.answering else "none"
        self._server_kind = status.kind
        if not status.answering:
            self._models = []
            self.status.value = (
                f"<span role='status' style='color:#b71c1c'>● {html.escape(status.describe())}. "
                "Start the embedded backend, run <code>ollama serve</code>, or enter another "
                "URL.</span>"
            )
            self._show_badges()
            return
        try:
            self._models = list_models(self.server_url, refresh=True, client_kwargs={"timeout": 5})
        except LocalLLMError as exc:
            self._models = []
            self.status.value = f"<span style='color:#b71c1c'>● {html.escape(str(exc))}</span>"
            return
        self.status.value = (
            f"<span role='status' style='color:#2e7d32'>● {html.escape(status.describe())}"
            f" · {_models_count(len(self._models))}</span>"
        )
        self.model.options = [m.name for m in self._models]
        self._show_badges()
        self._build_rows()  # server defaults may have changed

    def _refresh_openai(self) -> None:
        from .._api_key import resolve_api_key
        from ..backends import list_models

        self.start_button.layout.display = "none"
        url = self.server_url
        if not url:
            self._models = []
            self.status.value = (
                "<span role='status'>Enter the server's OpenAI-compatible URL, e.g. "
                "<code>http://127.0.0.1:8080/v1</code>.</span>"
            )
            self._show_badges()
            return
        try:
            key = resolve_api_key(self.spec)
            self._models = list_models(url, backend="openai", api_key=key, refresh=True)
        except LocalLLMError as exc:
            self._models = []
            self.status.value = (
                f"<span role='status' style='color:#b71c1c'>● {html.escape(str(exc))}</span>"
            )
            self._show_badges()
            return
        self.status.value = (
            f"<span role='status' style='color:#2e7d32'>● OpenAI-compatible server at "
            f"{html.escape(url)} · {_models_count(len(self._models))}</span>"
        )
        self.model.options = [m.name for m in self._models]
        self._show_badges()
        self._build_rows()

    def start_embedded(self) -> None:
        """Start the embedded backend (when nothing answers) and point the panel at it."""
        from ..embedded import ensure_running

        self.start_button.disabled = True
        self.status.value = "Starting the embedded backend…"

        def start() -> None:
            try:
                url = ensure_running()
            except LocalLLMError as exc:
                self.status.value = f"<span style='color:#b71c1c'>{html.escape(str(exc))}</span>"
            else:
                self.url.value = url  # observed: refreshes
            finally:
                self.start_button.disabled = False

        threading.Thread(target=start, daemon=True).start()

    def model_info(self) -> Any:
        """The `ModelInfo` of the chosen model, if the server listed it."""
        name = self.spec.model
        for info in self._models:
            if info.name == name or info.name == f"{name}:latest":
                return info
        return None

    # --- form -----------------------------------------------------------------------

    @traitlets.observe("spec")
    def _spec_changed(self, change: dict) -> None:
        spec = change["new"]
        if not self._rows or self._loading:
            return
        self._load(spec)

    def _load(self, spec: ModelSpec) -> None:
        self._loading = True
        try:
            if self.backend.value != spec.backend or self.kind.value != spec.kind:
                self.kind.options = _KINDS[spec.backend]
                self.backend.value, self.kind.value = spec.backend, spec.kind
                self._build_rows()
            self.model.value = spec.model
            openai = spec.backend == "openai"
            if spec.backend != "mlx":
                self.url.value = spec.base_url or ""
            self.url.placeholder = "http://host:port/v1" if openai else _base_url_label()
            self.key.layout.display = None if openai else "none"
            self.key.placeholder = (
                _KEY_SET if spec.api_key is not None else "OPENAI_API_KEY or api_key_env"
            )
            for name, row in self._rows.items():
                row.set(spec.get(name))
                row.show("")
            self.code.code = spec.to_code(redact=True)
        finally:
            self._loading = False
        self._show_memory()

    def _build_rows(self) -> None:
        info = self.model_info()
        defaults = info.parameters if info is not None else None
        fields = ModelSpec.fields(self.spec.backend, self.spec.kind, server_defaults=defaults)
        # The server URL and key boxes above edit base_url and api_key.
        fields = [f for f in fields[1:] if f.name not in _ABOVE_FORM]
        self._rows = {f.name: _FieldRow(f, self.spec.kind, self._on_field) for f in fields}
        if "num_ctx" in self._rows:  # the memory estimate sits beside num_ctx
            row = self._rows["num_ctx"]
            row.box.children = (*row.box.children, self.memory)
        by_group = {g: [r.box for r in self._rows.values() if r.field.group == g] for g in GROUPS}
        groups = [(g, rows) for g, rows in by_group.items() if rows]
        self.groups.children = [W.VBox(rows) for _, rows in groups]
        for i, (group, _) in enumerate(groups):
            self.groups.set_title(i, group.capitalize())
        # The settings people change most stay open.
        names = [g for g, _ in groups]
        self.groups.selected_index = names.index("sampling") if "sampling" in names else 0
        self._load(self.spec)

    def _on_field(self, row: _FieldRow) -> None:
        if self._loading:
            return
        try:
            value = row.read()
        except ValueError as exc:
            row.show(str(exc))
            return
        self._apply({row.field.name: value}, row)

    def _apply(self, changes: dict[str, Any], row: _FieldRow | None = None) -> None:
        try:
            spec = self.spec.replace(**changes)
        except SpecError as exc:
            shown = False
            for problem in exc.problems:
                target = self._rows.get(problem.field) or row
                if target is not None:
                    target.show(problem.message)
                    shown = True
            if not shown:
                self.notice.value = f"<span style='color:#b71c1c'>{html.escape(str(exc))}</span>"
            return
        if row is not None:
            row.show("")
        self._loading = True
        try:
            self.spec = spec
        finally:
            self._loading = False
        self.code.code = spec.to_code(redact=True)
        self._show_memory()

    def _show_memory(self) -> None:
        """The estimate beside num_ctx for the chosen model and context, from the cached
        listing's architecture fields (no request); a warning when it will not fit."""
        from ..memory import available_memory, estimate_from_info

        info = self.model_info()
        self.memory_estimate = None
        self.memory.value = self.memory_alert.value = ""
        if info is None or not info.can_chat or self.spec.backend != "ollama":
            return
        free = available_memory()
        if self.memory_limit is not None:
            free = self.memory_limit if free is None else min(free, self.memory_limit)
        try:
            estimate = estimate_from_info(
                info.model_info,
                info.size,
                self.spec.num_ctx or info.parameters.get("num_ctx"),
                all_logits=self._server_kind == "embedded",
                model=info.name,
                source=f"{self._server_kind or 'ollama'} /api/show",
                available=free,
            )
        except (ValueError, TypeError):  # no usable architecture fields (e.g. all-minilm)
            return
        self.memory_estimate = estimate
        text = html.escape(f"memory: {estimate.message()}")
        if estimate.fits is False:
            self.memory.value = f"<span role='alert' style='color:#b71c1c'>⚠ {text}</span>"
            self.memory_alert.value = (
                f"<span role='alert' style='color:#b71c1c'>⚠ {html.escape(estimate.model)} "
                f"will not fit at num_ctx {estimate.num_ctx}: needs ~{estimate.total / 1e9:.2f}"
                f" GB, {estimate.available / 1e9:.2f} GB free. Lower num_ctx or pick a "
                "smaller model.</span>"
            )
        else:
            self.memory.value = f"<span style='color:#555'>{text}</span>"

    def _on_url(self, change: dict) -> None:
        if self._loading:
            return
        url = change["new"].strip() or None
        if self.spec.backend != "mlx" and url != self.spec.base_url:
            self._apply({"base_url": url})
            if self.spec.base_url != url:  # refused: say so where it was typed
                self.status.value = (
                    f"<span role='alert' style='color:#b71c1c'>{html.escape(str(url))} is not "
                    "a server URL: type http://host:port or host:port.</span>"
                )
                return
        self.refresh()

    def _on_key(self, change: dict) -> None:
        text = change["new"].strip()
        if self._loading or not text:
            return
        self._apply({"api_key": text})
        # The key lives in the spec's SecretStr only: a box keeping it would sync it to
        # the browser and into saved widget state.
        self._loading = True
        try:
            self.key.value = ""
            self.key.placeholder = _KEY_SET
        finally:
            self._loading = False
        self.refresh()

    def _on_model(self, change: dict) -> None:
        name = (change["new"] or "").strip()
        if self._loading or not name or name == self.spec.model:
            return
        self._show_badges(name)
        self._apply({"model": name})

    def _on_target(self, _change: dict) -> None:
        if self._loading:
            return
        backend = self.backend.value
        if self.kind.options != tuple(_KINDS[backend]):
            kind = self.kind.value if self.kind.value in dict(_KINDS[backend]).values() else "chat"
            self._loading = True
            self.kind.options = _KINDS[backend]
            self.kind.value = kind
            self._loading = False
        protocol_changed = (self.spec.backend == "openai") != (backend == "openai")
        new, dropped = self.spec.retarget(backend=backend, kind=self.kind.value)
        self.notice.value = (
            "<span style='color:#8a6d3b'>Not carried over to "
            f"{html.escape(new.target_class)}: {html.escape(', '.join(dropped))}</span>"
            if dropped
            else ""
        )
        self._loading = True
        try:
            self.spec = new
        finally:
            self._loading = False
        self._build_rows()
        if protocol_changed:  # another server, another listing
            self.refresh()

    def _show_badges(self, name: str | None = None) -> None:
        name = name or self.spec.model
        info = next((m for m in self._models if m.name in (name, f"{name}:latest")), None)
        if info is None:
            self.badges.value = "<i>not listed by this server</i>" if self._models and name else ""
            return
        caps = "".join(f"<span style='{_BADGE}'>{html.escape(c)}</span>" for c in info.capabilities)
        self.badges.value = f"{html.escape(model_label(info))} {caps}"

    def __repr__(self) -> str:
        return f"ControlPanel(spec={self.spec.to_kwargs()!r})"


def _base_url_label() -> str:
    return f"OLLAMA_HOST ({base_url()})"


def _models_count(n: int) -> str:
    """How many models a server lists, in words.

    >>> _models_count(1), _models_count(3)
    ('1 model', '3 models')
    """
    return f"{n} model" if n == 1 else f"{n} models"
