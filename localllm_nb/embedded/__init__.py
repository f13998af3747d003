"""The embedded backend: an Ollama-compatible HTTP server on llama.cpp with bundled models.

It is a separate program (`localllm-nb serve`, `python -m localllm_nb.embedded`); this
package's functions start it as a child process and find it.
"""

from .process import ServerProcess, ServerStartError, ensure_running, start_server

__all__ = ["ServerProcess", "ServerStartError", "ensure_running", "start_server"]
