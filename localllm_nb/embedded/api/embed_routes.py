"""Ollama's embedding routes: `POST /api/embed` and the legacy `POST /api/embeddings`."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..embedder.engines import InputTooLong, context_length
from ..engine.options import OptionError, parse_options
from ..models.registry import MissingModelFiles, ModelNotFound
from .errors import ApiError
from .go_json import keep_alive_seconds
from .limits import EMBED_CHUNK, MIN_NUM_CTX, check_embed_inputs, trained_context
from .protocol import field, parse_body, require_model
from .request_types import EMBED_REQUEST, EMBEDDING_REQUEST


def _inputs(value) -> list[str]:
    """Ollama's rule: a string (empty means none) or a list of strings.

    >>> _inputs("hi"), _inputs(""), _inputs(None), _inputs(["a", ""])
    (['hi'], [], [], ['a', ''])
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(400, "invalid input type")


def _settings(entry, body: dict) -> tuple[int, float]:
    """(context length to load the engine with, keep-alive seconds) for a request."""
    try:
        opts = parse_options(body.get("options"), entry.parameters)
    except OptionError as exc:
        raise ApiError(500, str(exc)) from None
    keep_alive = keep_alive_seconds(body.get("keep_alive"))
    num_ctx = max(opts.num_ctx, MIN_NUM_CTX)
    if entry.kind == "chat" and trained_context(entry):
        num_ctx = min(num_ctx, trained_context(entry))
    if entry.kind == "embedding":
        try:
            # Ollama caps num_ctx at what the model was trained for.
            num_ctx = min(num_ctx, context_length(entry))
        except MissingModelFiles as exc:
            raise ApiError(500, str(exc)) from None
    return num_ctx, keep_alive


def _wire(vectors: np.ndarray) -> list[list[float]]:
    # float32 needs 9 significant digits; rounding the float64 copy keeps the JSON short.
    return np.round(vectors.astype(np.float64), 9).tolist()


def _embed_chunks(engine, texts: list[str], truncate: bool, normalize: bool):
    """Embed EMBED_CHUNK texts at a time, so that tokenising many inputs stays small,
    into one array (joining the chunks at the end held every vector twice: 25 MB more
    for 16,384 inputs). `texts` is not empty."""
    out, counts = None, []
    for start in range(0, len(texts), EMBED_CHUNK):
        vectors, chunk_counts = engine.embed(
            texts[start : start + EMBED_CHUNK], truncate, normalize
        )
        if out is None:
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[start : start + len(vectors)] = vectors
        counts.extend(chunk_counts)
    return out, counts


# Rows of the reply encoded at once. Encoding holds the GIL for the whole call, and
# the event loop waits meanwhile: 512 rows of 384 floats took 105 ms, 32 rows 6 ms
# (an embed of 2,000 inputs stalled the loop 133 ms under load).
REPLY_ROWS = 32


def _embed_reply(head: dict, vectors: np.ndarray, tail: dict):
    """The /api/embed reply as JSON chunks of rows: one float list per row at a time,
    not millions of Python floats at once."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    yield (dumps(head)[:-1] + ',"embeddings":[').encode()
    for start in range(0, len(vectors), REPLY_ROWS):
        rows = dumps(_wire(vectors[start : start + REPLY_ROWS]))[1:-1]
        yield (("," if start else "") + rows).encode()
    yield ("]," + dumps(tail)[1:]).encode()


async def _embed_texts(
    server, entry, name: str, body: dict, texts: list[str], truncate: bool, normalize: bool
):
    """Load the model and embed `texts` off the event loop: (vectors, counts, load ns)."""
    num_ctx, keep_alive = _settings(entry, body)
    lease = await server.acquire(entry, num_ctx, name, keep_alive=keep_alive)
    try:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), [], lease.load_duration
        vectors, counts = await asyncio.to_thread(
            _embed_chunks, lease.engine, texts, truncate, normalize
        )
    except InputTooLong as exc:
        raise ApiError(400, str(exc)) from None
    finally:
        lease.release()
    return vectors, counts, lease.load_duration


async def embed(http: HttpRequest) -> Response:
    """`POST /api/embed`: L2-normalised vectors for one input or many."""
    started = time.perf_counter()
    server = http.app.state.server
    body = parse_body(await http.body(), EMBED_REQUEST)
    truncate = field(body, "truncate", (bool,), "bool", True)
    dimensions = field(body, "dimensions", (int,), "int", 0)
    texts = _inputs(body.get("input"))
    check_embed_inputs(len(texts))
    name = require_model(body)
    entry = server.resolve(name)
    vectors, counts, load_ns = await _embed_texts(server, entry, name, body, texts, truncate, True)
    if not texts:
        return JSONResponse({"model": name, "embeddings": []})
    if 0 < dimensions < vectors.shape[1]:
        vectors = vectors[:, :dimensions]
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    tail = {
        "total_duration": int((time.perf_counter() - started) * 1e9),
        "load_duration": load_ns,
        "prompt_eval_count": sum(counts),
    }
    # Starlette renders a sync iterator in its thread pool: off the event loop.
    return StreamingResponse(
        _embed_reply({"model": name}, vectors, tail), media_type="application/json"
    )


async def embeddings(http: HttpRequest) -> Response:
    """`POST /api/embeddings` (legacy): one prompt, the vector before normalisation."""
    server = http.app.state.server
    body = parse_body(await http.body(), EMBEDDING_REQUEST)
    name = require_model(body)
    prompt = field(body, "prompt", (str,), "string", "")
    try:
        entry = server.registry.resolve(name)
    except ModelNotFound:
        raise ApiError(404, f'model "{name}" not found, try pulling it first') from None
    texts = [prompt] if prompt else []
    vectors, _, _ = await _embed_texts(server, entry, name, body, texts, True, False)
    return JSONResponse({"embedding": _wire(vectors)[0] if texts else []})


EMBED_ROUTES = [
    Route("/api/embed", embed, methods=["POST"]),
    Route("/api/embeddings", embeddings, methods=["POST"]),
]
