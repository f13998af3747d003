"""Drive a notebook in a JupyterLab page: open it, run cells, wait, save, count kernel traffic.

JupyterLab runs with `expose_app_in_browser`, so these helpers call its commands and read
its models through `window.jupyterapp` rather than clicking menus: command ids and the
document context are stabler across JupyterLab releases than menu labels or CSS classes.
The widgets under test are found with ordinary selectors on the state they expose
(`[data-state="done"]`, ...).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Locator, Page, WebSocket

KERNEL_TIMEOUT = 60_000
"""Milliseconds for a kernel to start and go idle (cold imports on two busy cores)."""

# Finds the notebook panel showing `path` among the main area's widgets.
_PANEL_JS = """
const panelFor = (path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
"""


@dataclass
class KernelTraffic:
    """Websocket frames and bytes between the page and its kernels (`/api/kernels/`).

    Counts grow as Playwright delivers events, that is during any Playwright call: read them
    after a wait. `since(earlier)` gives the traffic of one step.
    """

    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def frames(self) -> int:
        """Frames both ways."""
        return self.frames_sent + self.frames_received

    @property
    def bytes(self) -> int:
        """Payload bytes both ways."""
        return self.bytes_sent + self.bytes_received

    def snapshot(self) -> KernelTraffic:
        """A frozen copy of the counts so far."""
        return dataclasses.replace(self)

    def since(self, earlier: KernelTraffic) -> KernelTraffic:
        """The traffic after `earlier` (a snapshot) up to now."""
        return KernelTraffic(
            *(getattr(self, f.name) - getattr(earlier, f.name) for f in dataclasses.fields(self))
        )

    def attach(self, ws: WebSocket) -> None:
        """Count `ws` if it is a kernel channel (JupyterLab has other sockets, e.g. events)."""
        if "/api/kernels/" not in ws.url:
            return
        ws.on("framesent", self._on_sent)
        ws.on("framereceived", self._on_received)

    def _on_sent(self, payload: str | bytes) -> None:
        self.frames_sent += 1
        self.bytes_sent += _size(payload)

    def _on_received(self, payload: str | bytes) -> None:
        self.frames_received += 1
        self.bytes_received += _size(payload)


def _size(payload: str | bytes) -> int:
    # JupyterLab 4 speaks the binary v1 kernel protocol, but text frames are possible.
    return len(payload.encode()) if isinstance(payload, str) else len(payload)


class LabPage:
    """One Playwright page on a JupyterLab, with the notebook it opened.

    `traffic` counts kernel websocket frames from the moment the page is created.
    """

    def __init__(self, page: Page, lab_url: str) -> None:
        self.page = page
        self.lab_url = lab_url
        self.path: str | None = None
        self.traffic = KernelTraffic()
        page.on("websocket", self.traffic.attach)

    def open(self, name: str, timeout: float = KERNEL_TIMEOUT) -> None:
        """Open notebook `name` (relative to the served root) and wait until its kernel is idle.

        Each call uses a fresh workspace, so notebooks opened by earlier tests do not reopen
        (and start their kernels) too.
        """
        workspace = f"test-{uuid.uuid4().hex[:8]}"
        self._open_at(f"/lab/workspaces/{workspace}/tree/{quote(name)}", name, timeout)

    def open_notebook7(self, name: str, timeout: float = KERNEL_TIMEOUT) -> None:
        """Open notebook `name` in Jupyter Notebook 7 (`/notebooks/...`, one document per
        page, same commands and models as JupyterLab) and wait until its kernel is idle."""
        self._open_at(f"/notebooks/{quote(name)}", name, timeout)

    def _open_at(self, route: str, name: str, timeout: float) -> None:
        """Go to `route` and wait until notebook `name` is ready and its kernel idle."""
        self.page.goto(self.lab_url + route)
        self.path = name
        self.page.wait_for_function(
            f"(path) => {{ {_PANEL_JS} const w = panelFor(path); return !!w && w.context.isReady; }}",
            arg=name,
            timeout=timeout,
        )
        self.wait_kernel_idle(timeout)

    def wait_kernel_idle(self, timeout: float = KERNEL_TIMEOUT) -> None:
        """Wait until the notebook's kernel is connected and idle."""
        self.page.wait_for_function(
            f"""(path) => {{ {_PANEL_JS}
              const w = panelFor(path);
              const kernel = w && w.sessionContext.session && w.sessionContext.session.kernel;
              return !!kernel && w.sessionContext.isReady && kernel.status === 'idle'
                && kernel.connectionStatus === 'connected';
            }}""",
            arg=self._path(),
            timeout=timeout,
        )

    def run_all(self) -> None:
        """Start Run > Run All Cells and return at once; `wait_run_done()` waits for the end.

        The command's promise resolves only when the last cell finishes, so it is never
        awaited here: a test can interact with a widget while its cell still runs.
        """
        self._execute("notebook:run-all-cells")

    def run_cell(self, index: int) -> None:
        """Start running code cell `index` (0-based, among all cells) and return at once."""
        self._execute("notebook:run-cell", index)

    def wait_run_done(self, timeout: float = KERNEL_TIMEOUT) -> bool:
        """Wait for the last `run_all`/`run_cell` to finish; False if a cell raised."""
        self.page.wait_for_function(
            "() => window.__llnbRun && window.__llnbRun.done", timeout=timeout
        )
        outcome = self.page.evaluate("() => window.__llnbRun")
        if outcome["error"]:
            raise RuntimeError(f"JupyterLab command failed: {outcome['error']}")
        return bool(outcome["ok"])

    def wait_for(self, selector: str, timeout: float = 30_000, state: str = "visible") -> Locator:
        """Wait until `selector` matches (visible by default); returns the first match."""
        locator = self.page.locator(selector).first
        locator.wait_for(state=state, timeout=timeout)
        return locator

    def wait_done(self, selector: str, timeout: float = 180_000) -> Locator:
        """Wait until the first view matching `selector` says its work is done
        (`data-state="done"`: a StreamView's run, a Compare's columns, a branch);
        returns it."""
        self.page.wait_for_function(
            "(s) => { const v = document.querySelector(s); return v && v.dataset.state === 'done'; }",
            arg=selector,
            timeout=timeout,
        )
        return self.page.locator(selector).first

    def save(self) -> None:
        """Save the notebook through JupyterLab (what Ctrl+S does) and wait until written."""
        dirty = self.page.evaluate(
            f"""async (path) => {{ {_PANEL_JS}
              const w = panelFor(path);
              await w.context.save();
              return w.context.model.dirty;
            }}""",
            self._path(),
        )
        if dirty:
            raise RuntimeError(f"{self.path} is still marked modified after saving")

    def screenshot(self, path: Path | str) -> Path:
        """Save a PNG of the page for a human to look at; returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path

    def _execute(self, command: str, cell: int | None = None) -> None:
        # Records the command's outcome in window.__llnbRun for wait_run_done().
        self.page.evaluate(
            f"""([path, command, cell]) => {{ {_PANEL_JS}
              const app = window.jupyterapp;
              const w = panelFor(path);
              app.shell.activateById(w.id);
              if (cell !== null) w.content.activeCellIndex = cell;
              const run = window.__llnbRun = {{ done: false, ok: null, error: null }};
              app.commands.execute(command).then(
                (ok) => {{ run.ok = ok !== false; run.done = true; }},
                (err) => {{ run.error = String(err); run.done = true; }},
              );
            }}""",
            [self._path(), command, cell],
        )

    def _path(self) -> str:
        if self.path is None:
            raise RuntimeError("open a notebook first")
        return self.path
