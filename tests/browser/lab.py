"""A JupyterLab server for browser tests: started once per session, isolated from the user.

The server runs in its own process group on a free loopback port, without a token, with
its own config, settings, workspaces and runtime dirs under a temporary directory, so a
test run never reads or writes the user's Jupyter state. Kernels inherit this process's
environment, hence OLLAMA_HOST pointing at the test session's embedded server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

START_TIMEOUT = 60.0
"""Seconds to wait for /api/status; a cold start on two busy cores takes about 5-15 s."""

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
"""Without a kernelspec in its metadata, JupyterLab asks which kernel to start (a dialog)."""

SETTINGS_OVERRIDES = {
    # The news/update toast appears over the notebook's lower right corner and can cover buttons.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # Windowed notebooks leave off-screen cells unrendered (or unlaid-out), so a selector for a
    # widget in a long notebook would time out; tests render every cell.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterLab:
    """A running JupyterLab: its base `url`, the `root` dir it serves, and its process."""

    url: str
    root: Path
    process: subprocess.Popen
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    def add_notebook(self, source: Path | nbformat.NotebookNode, name: str | None = None) -> str:
        """Copy a notebook file (or write a NotebookNode) into root; returns its name there.

        A notebook without a kernelspec gets python3's, so opening it starts the kernel
        instead of showing JupyterLab's kernel picker.
        """
        if isinstance(source, (str, Path)):
            source = Path(source)
            nb = nbformat.read(source, as_version=4)
            name = name or source.name
        else:
            nb = source
            if name is None:
                raise ValueError("name is required when adding a NotebookNode")
        nb.metadata.setdefault("kernelspec", dict(KERNELSPEC))
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        return name

    def add_files(self, source: Path) -> None:
        """Copy a directory's contents (data a notebook reads, say) into root."""
        shutil.copytree(source, self.root, dirs_exist_ok=True)

    def read_notebook(self, name: str) -> nbformat.NotebookNode:
        """The notebook as saved on disk (save it through the page first)."""
        return nbformat.read(self.root / name, as_version=4)

    def nbconvert_html(self, name: str, output_dir: Path | None = None) -> Path:
        """Run `jupyter nbconvert --to html` on a saved notebook; returns the HTML file."""
        source = self.root / name
        output_dir = Path(output_dir or source.parent)
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html"]
        command += ["--output-dir", str(output_dir), str(source)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"nbconvert failed on {name}:\n{done.stderr[-2000:]}")
        return output_dir / (source.stem + ".html")

    def api(self, path: str, method: str = "GET") -> object:
        """Call the server's REST API; returns the decoded JSON (None for an empty body)."""
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel, so one test's kernel does not use memory during the next."""
        for kernel in self.api("/api/kernels"):
            try:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
            except urllib.error.HTTPError as error:
                if error.code != 404:  # 404: it was already gone
                    raise

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Shut kernels down, then end the server's process group (SIGTERM, then SIGKILL)."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            # Errors don't matter here: the server and its kernels are going away anyway.
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.shutdown_kernels()
        _end_group(self.process, timeout)


def _end_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it if it outlives `timeout`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def start_jupyterlab(base: Path, timeout: float = START_TIMEOUT) -> JupyterLab:
    """Start JupyterLab with its state under `base` (root dir: `base/root`) and wait until ready."""
    root, settings, home = base / "root", base / "app-settings", base / "jupyter"
    for path in (root, settings, home):
        path.mkdir(parents=True, exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES, indent=2))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        # Kernels run `python`; make it this environment's.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    args = [sys.executable, "-m", "jupyter", "lab", "--no-browser"]
    args += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    args += ["--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password="]
    args += [f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={settings}"]
    # window.jupyterapp lets tests call JupyterLab's commands instead of clicking menus.
    args += ["--LabApp.expose_app_in_browser=True", "--ServerApp.terminals_enabled=False"]
    # The same server also serves Notebook 7 (`/notebooks/<path>`, the `notebook` package's
    # server extension); expose its app too.
    args += ["--JupyterNotebookApp.expose_app_in_browser=True"]
    # Without a token, the REST calls this module makes (DELETE a kernel) need no XSRF cookie.
    args += ["--ServerApp.disable_check_xsrf=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    log_path = base / "jupyterlab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = JupyterLab(url=url, root=root, process=process, log_path=log_path)
    try:
        _wait_ready(lab, timeout)
    except BaseException:
        lab.stop()
        raise
    return lab


def _wait_ready(lab: JupyterLab, timeout: float) -> None:
    """Poll /api/status until it answers; fail early, with the log, if the server exits."""
    deadline = time.monotonic() + timeout
    while True:
        if lab.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with {lab.process.returncode}:\n{lab.log_tail()}"
            )
        try:
            lab.api("/api/status")
            return
        except (OSError, urllib.error.URLError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"JupyterLab not ready after {timeout:.0f} s:\n{lab.log_tail()}")
        time.sleep(0.2)
