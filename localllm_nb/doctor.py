"""`localllm-nb doctor`: what is installed, which server answers, which models are here,
whether the widgets' front end can load in this Jupyter, and what to do about each gap."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from ._host import server_status


@dataclass(frozen=True)
class Check:
    """One finding: `ok` False with `fix` saying what to do; `required` False for extras."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "ok " if self.ok else ("!! " if self.required else "-- ")
        text = f"{mark} {self.name}: {self.detail}"
        return f"{text}\n      -> {self.fix}" if self.fix and not self.ok else text


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_package() -> Check:
    where = Path(__file__).resolve().parent
    return Check(
        "localllm_nb",
        True,
        f"{__version__} at {where} (Python {platform.python_version()}, {sys.executable})",
    )


def check_extras() -> list[Check]:
    from .embedded.process import EXTRA_MODULES

    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    embedded = Check(
        "embedded backend",
        not missing,
        f"xllamacpp {_version('xllamacpp')}" if not missing else f"missing {', '.join(missing)}",
        'pip install "localllm-nb[embedded]" (or %pip install in a notebook), or use an Ollama',
        required=False,
    )
    mlx = _version("mlx-lm")
    return [
        embedded,
        Check(
            "MLX backend",
            mlx is not None,
            f"mlx-lm {mlx}" if mlx else "not installed (optional; Apple silicon, or Linux CPU)",
            'pip install "localllm-nb[mlx]"',
            required=False,
        ),
    ]


def check_server(host: str | None = None, can_start: bool = False) -> Check:
    """Nothing answering is a gap only when the embedded backend cannot be started."""
    status = server_status(host)
    return Check(
        "server",
        status.answering,
        status.describe() + ("" if status.answering else " (OLLAMA_HOST)"),
        "call localllm_nb.ensure_running() in the notebook (it starts the embedded backend), "
        "run `localllm-nb serve`, or start Ollama and set OLLAMA_HOST to its URL",
        required=not can_start,
    )


def check_models() -> list[Check]:
    if importlib.util.find_spec("jinja2") is None:
        return []  # without the embedded extra there are no bundled models to look for
    from .embedded.models.registry import BUNDLED
    from .errors import MissingModelFiles

    checks = []
    for entry in BUNDLED:
        try:
            detail, ok = str(entry.path()), True
        except MissingModelFiles:
            detail, ok = "files not downloaded yet (ensure_running() fetches them)", False
        checks.append(Check(f"model {entry.name}", ok, detail, "localllm-nb pull", required=False))
    return checks


def check_front_end() -> list[Check]:
    """The widgets need anywidget's and ipywidgets' JupyterLab extensions where the
    Jupyter server runs (usually this environment)."""
    try:
        from jupyter_core.paths import jupyter_path

        dirs = [Path(p) for p in jupyter_path("labextensions")]
    except ImportError:  # no Jupyter here at all
        dirs = [Path(sys.prefix) / "share" / "jupyter" / "labextensions"]
    found = {name: any((d / name).is_dir() for d in dirs) for name in EXTENSIONS}
    return [
        Check(
            f"front end {name}",
            ok,
            "installed" if ok else f"not in {', '.join(map(str, dirs[:3]))}",
            f"pip install {EXTENSIONS[name]} in the environment JupyterLab runs from, then "
            "reload the page",
        )
        for name, ok in found.items()
    ]


# The front-end extensions JupyterLab needs, and the package that installs each.
EXTENSIONS = {
    "anywidget": "anywidget",
    "@jupyter-widgets/jupyterlab-manager": "jupyterlab_widgets",
}


def checks(host: str | None = None) -> list[Check]:
    extras = check_extras()
    return [
        check_package(),
        *extras,
        check_server(host, can_start=extras[0].ok),
        *check_models(),
        *check_front_end(),
    ]


def report(host: str | None = None) -> tuple[str, bool]:
    """The report's text, and whether every required piece is there."""
    found = checks(host)
    return "\n".join(c.line() for c in found), all(c.ok or not c.required for c in found)
