"""Bounds on what one request may cost: body size, embedding inputs, context size and
threads (the rendered prompt's bound lives with the templates). Ollama has no body or
prompt limits; these keep a careless or hostile request from taking gigabytes of memory
(see the README)."""

from __future__ import annotations

import asyncio
import json
import logging

from ..engine.instance import EngineHost
from ..engine.memory import release_memory
from ..engine.threads import available_cpus
from .errors import ApiError
from .openai_shapes import error_body

MiB = 1024 * 1024
# Chat and generate bodies: a context of 8,192 tokens is ~32 KB of text, so 2 MiB
# leaves room for long histories (the oldest messages are dropped to fit).
MAX_BODY_BYTES = 2 * MiB
# Embedding bodies carry many documents at once (langchain sends them all together).
MAX_EMBED_BODY_BYTES = 16 * MiB
_EMBED_PATHS = ("/api/embed", "/api/embeddings", "/v1/embeddings")
# After these, memory freed by the request is handed back to the system.
_WORK_PATHS = (
    "/api/chat",
    "/api/generate",
    "/v1/chat/completions",
    "/v1/completions",
    *_EMBED_PATHS,
)
# Inputs per /api/embed request; they are embedded EMBED_CHUNK at a time.
MAX_EMBED_INPUTS = 16_384
EMBED_CHUNK = 512
# Ollama raises a smaller num_ctx to 4.
MIN_NUM_CTX = 4

log = logging.getLogger("localllm_nb.embedded")


def body_limit(path: str) -> int:
    return MAX_EMBED_BODY_BYTES if path in _EMBED_PATHS else MAX_BODY_BYTES


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body too large: the limit is {limit // MiB} MiB")


class BodyLimit:
    """ASGI middleware: a body over the path's limit is answered 413, from its
    Content-Length before reading it, or as soon as a chunked body passes the limit."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            error = too_large(limit)
            body = json.dumps(error_body(scope["path"], 413, error.message)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return None
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
            return message

        try:
            return await self.app(scope, counted, send)
        finally:
            if scope["path"] in _WORK_PATHS:
                await asyncio.to_thread(_release_memory)


def _release_memory() -> None:
    """Freed heap back to the system, here and in the engine host (llama.cpp's side of a
    request: its tokens, its batches). Off the event loop: the host's pipe may block."""
    release_memory()
    EngineHost.trim()


def check_embed_inputs(count: int) -> None:
    if count > MAX_EMBED_INPUTS:
        raise ApiError(
            400,
            f"too many inputs: {count:,} (the limit is {MAX_EMBED_INPUTS:,} per request; "
            "send them in batches)",
        )


def cap_options(opts, trained_ctx: int, name: str):
    """Ollama's rules: num_ctx at least 4 and at most what the model was trained for
    (a warning in the log, no error); num_thread at most the CPUs this process may use."""
    if opts.num_ctx < MIN_NUM_CTX:
        opts.num_ctx = MIN_NUM_CTX
    if trained_ctx > 0 and opts.num_ctx > trained_ctx:
        log.warning(
            "requested context size too large for model %s: num_ctx=%d n_ctx_train=%d",
            name,
            opts.num_ctx,
            trained_ctx,
        )
        opts.num_ctx = trained_ctx
    cpus = available_cpus()
    if opts.num_thread > cpus:
        log.warning("num_thread=%d capped at the %d CPUs available", opts.num_thread, cpus)
        opts.num_thread = cpus
    opts.num_thread = max(0, opts.num_thread)
    return opts


_TRAINED: dict[str, int] = {}


def trained_context(entry) -> int:
    """The context length a chat model was trained for (its GGUF header); 0 if unknown."""
    if entry.kind != "chat":
        return 0
    path = str(entry.path())
    if path not in _TRAINED:
        from ..engine.gguf import read_metadata

        meta = read_metadata(path)
        arch = meta.get("general.architecture", "")
        _TRAINED[path] = int(meta.get(f"{arch}.context_length", 0) or 0)
    return _TRAINED[path]
