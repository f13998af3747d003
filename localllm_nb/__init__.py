"""localllm_nb: explore local LLMs from Jupyter notebooks.

Heavy modules (langchain, xllamacpp, mlx, matplotlib) load lazily, on first use.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "ensure_running": "localllm_nb.embedded",
    "start_server": "localllm_nb.embedded",
    "server_status": "localllm_nb._host",
    # Core library: specs, builders, discovery, runs, errors.
    "ModelSpec": "localllm_nb.spec",
    "build": "localllm_nb.backends",
    "build_chat": "localllm_nb.backends",
    "build_llm": "localllm_nb.backends",
    "build_embeddings": "localllm_nb.backends",
    "list_models": "localllm_nb.backends",
    "ModelInfo": "localllm_nb.backends",
    "thinking_model": "localllm_nb.backends",
    "spec_from_model": "localllm_nb.backends",
    "stream_run": "localllm_nb.run",
    "start_run": "localllm_nb.run",
    "astream_run": "localllm_nb.run",
    "Run": "localllm_nb.run",
    "RunEvent": "localllm_nb.run",
    "RunFrame": "localllm_nb.run",
    "RunStats": "localllm_nb.run",
    "RunHistory": "localllm_nb.run",
    "Receipt": "localllm_nb.run",
    "ContextUse": "localllm_nb.run",
    "ReplayResult": "localllm_nb.run",
    "replay": "localllm_nb.run",
    "load_receipts": "localllm_nb.run",
    "estimate_memory": "localllm_nb.memory",
    "MemoryEstimate": "localllm_nb.memory",
    "EmbeddingSet": "localllm_nb.vectors",
    "SpecField": "localllm_nb.fields",
    "LocalLLMError": "localllm_nb.errors",
    "SpecError": "localllm_nb.errors",
    "SpecProblem": "localllm_nb.errors",
    "ServerStartError": "localllm_nb.errors",
    "MissingModelFiles": "localllm_nb.errors",
    "ModelDownloadError": "localllm_nb.errors",
    "UnsupportedGGUF": "localllm_nb.errors",
    "ServerUnavailableError": "localllm_nb.errors",
    "ModelNotFoundError": "localllm_nb.errors",
    "NoThinkingModelError": "localllm_nb.errors",
    "ServerDiedError": "localllm_nb.errors",
    "ServerError": "localllm_nb.errors",
}

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_exports("localllm_nb", _LAZY, globals())
