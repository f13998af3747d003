"""Run the embedded server in this process (the `serve` command)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger("localllm_nb.embedded")


def num_parallel_from_env() -> int:
    """Requests one model serves at once: Ollama's `OLLAMA_NUM_PARALLEL`, 1 by default so
    that one request's timings are not shared with another's."""
    try:
        return max(1, int(os.environ.get("OLLAMA_NUM_PARALLEL", "1")))
    except ValueError:
        return 1


def serve(
    host: str = "127.0.0.1",
    port: int = 11434,
    threads: int = 0,
    log_level: str = "warning",
    num_parallel: int = 0,
) -> None:
    """Serve Ollama's API until interrupted. Binds loopback unless told otherwise.
    `num_parallel` 0 reads `OLLAMA_NUM_PARALLEL`."""
    import uvicorn

    from .api.app import ServerState, create_app
    from .engine.memory import limit_malloc_arenas

    limit_malloc_arenas()
    _exit_with_parent()
    _log_to_stderr(log_level)
    state = ServerState(threads=threads, num_parallel=num_parallel or num_parallel_from_env())
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )

    class _Uvicorn(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            # Streams end now with an error line rather than after their last token.
            # Another thread: this signal handler may have interrupted one holding the lock.
            threading.Thread(target=_stop_requests, args=(state,), name="stop", daemon=True).start()
            super().handle_exit(sig, frame)

    _Uvicorn(config).run()
    # llama.cpp threads may still be finishing a prompt: end without waiting for them
    # (the interpreter's own teardown would free models under them).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _stop_requests(state) -> None:
    ended = state.models.stop()
    if ended:
        log.warning("shutting down: %d running request(s) ended with an error", ended)


def _log_to_stderr(log_level: str) -> None:
    """The server's own lines as uvicorn prints its own, down to INFO (a client that
    left mid-answer, as Ollama logs it) whatever uvicorn's level."""
    from uvicorn.logging import DefaultFormatter

    if log.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    log.addHandler(handler)
    level = logging.getLevelName(log_level.upper())
    log.setLevel(min(logging.INFO, level) if isinstance(level, int) else logging.INFO)
    log.propagate = False


def _exit_with_parent() -> None:
    """A server started by `start_server` ends when the process that started it ends,
    even if that process was killed and never ran its exit handlers."""
    parent = os.environ.get("LOCALLLM_NB_PARENT_PID")
    if not parent:
        return

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != int(parent):
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
