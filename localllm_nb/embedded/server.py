"""Run the embedded server in this process (the `serve` command)."""

from __future__ import annotations

import logging


def serve(host: str = "127.0.0.1", port: int = 11434, threads: int = 0, log_level: str = "warning") -> None:
    """Serve Ollama's API until interrupted. Binds loopback unless told otherwise."""
    import uvicorn

    from .app import Server, create_app

    logging.getLogger("llama_cpp").setLevel(logging.ERROR)
    app = create_app(Server(threads=threads))
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=2)
