"""Ollama's OpenAI compatibility surface, `/v1/...`: each route translates the OpenAI
request into the native one, runs the native handler (the same generation path,
limits, queueing and model manager as `/api/chat`), and translates its answer back,
as Ollama's `openai` middleware wraps its own handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine.manager import Abandoned
from .embed_routes import embed
from .errors import ApiError
from .go_json import loads
from .openai_requests import chat_body, completion_body, embed_body
from .openai_shapes import (
    DONE,
    StreamShape,
    chat_completion,
    embedding_list,
    error_object,
    model_object,
    new_id,
    sse,
    text_completion,
)

Handler = Callable[[HttpRequest], Awaitable[Response]]
log = logging.getLogger("localllm_nb.embedded")


def openai_error(exc: ApiError) -> JSONResponse:
    """An ApiError as OpenAI's error object; an unknown model is `model_not_found`."""
    code = "model_not_found" if exc.status == 404 else None
    param = getattr(exc, "param", None)
    return JSONResponse(error_object(exc.status, exc.message, param, code), status_code=exc.status)


def _openai_errors(handler: Handler) -> Handler:
    """Answer every failure of a /v1 route in OpenAI's error shape."""

    async def route(http: HttpRequest) -> Response:
        try:
            return await handler(http)
        except ApiError as exc:
            return openai_error(exc)
        except ClientDisconnect:
            return openai_error(ApiError(400, "unexpected EOF"))
        except Abandoned:
            return Response(status_code=499)  # nobody reads it: the client has gone
        except Exception as exc:
            log.exception("%s failed", http.url.path)  # the log keeps the traceback
            return openai_error(ApiError(500, str(exc) or "internal error"))

    route.__name__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


async def _json_body(http: HttpRequest):
    raw = await http.body()
    if not raw.strip():
        raise ApiError(400, "missing request body")
    return loads(raw)


def _native_request(http: HttpRequest, body: dict) -> HttpRequest:
    """The same HTTP request carrying the translated body: the native handler reads it,
    and still sees the client leave (the original `receive` after the body)."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await http.receive()

    return HttpRequest(http.scope, receive)


def _native_json(response: Response) -> dict:
    return json.loads(bytes(response.body))


def _refused(response: Response) -> Response | None:
    """A native non-200 answer in OpenAI's shape (None when it succeeded)."""
    if response.status_code == 200:
        return None
    if response.status_code == 499:
        return response
    message = _native_json(response).get("error", "internal error")
    return openai_error(ApiError(response.status_code, message))


class _EventStream(Response):
    """Relays a native NDJSON stream as server-sent events: each line becomes its OpenAI
    chunks, then the usage chunk and `data: [DONE]`. The native response still runs
    the stream, so its lease is given back however the stream ends."""

    media_type = "text/event-stream"

    def __init__(self, native: Response, shape: StreamShape):
        self.native, self.shape = native, shape
        self.status_code = 200
        self.background = None

    async def __call__(self, scope, receive, send) -> None:
        pending = b""
        failed = False

        async def relay(message):
            nonlocal pending, failed
            if message["type"] == "http.response.start":
                skip = (b"content-type", b"content-length")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in skip]
                headers += [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                ]
                return await send({**message, "headers": headers})
            if message["type"] != "http.response.body":
                return await send(message)
            pending += message.get("body", b"")
            more = message.get("more_body", False)
            *lines, pending = pending.split(b"\n")
            if not more:  # a single JSON reply (a load) has no newline
                lines, pending = [*lines, pending], b""
            out = []
            for text in lines:
                if text.strip():
                    line = json.loads(text)
                    failed = failed or "error" in line
                    out += [sse(chunk) for chunk in self.shape.chunks(line)]
            if not more and not failed:
                out += [*(sse(chunk) for chunk in self.shape.end()), DONE]
            await send({"type": "http.response.body", "body": b"".join(out), "more_body": more})

        await self.native(scope, receive, relay)


async def _generate(http: HttpRequest, native: Handler, body: dict, kind: str, usage: bool):
    """Run a native chat or generate handler on a translated body and shape its answer."""
    cid = new_id("chatcmpl" if kind == "chat" else "cmpl")
    response = await native(_native_request(http, body))
    if body.get("stream"):
        return _EventStream(response, StreamShape(kind, cid, usage))
    refused = _refused(response)
    if refused is not None:
        return refused
    shape = chat_completion if kind == "chat" else text_completion
    return JSONResponse(shape(cid, _native_json(response)))


def openai_routes(chat: Handler, generate: Handler) -> list[Route]:
    """The /v1 routes over the native `chat` and `generate` handlers."""

    async def chat_completions(http: HttpRequest) -> Response:
        """`POST /v1/chat/completions`."""
        body, usage = chat_body(await _json_body(http))
        return await _generate(http, chat, body, "chat", usage)

    async def completions(http: HttpRequest) -> Response:
        """`POST /v1/completions` (the legacy text completion)."""
        body, usage = completion_body(await _json_body(http))
        return await _generate(http, generate, body, "completion", usage)

    return [
        Route("/v1/chat/completions", _openai_errors(chat_completions), methods=["POST"]),
        Route("/v1/completions", _openai_errors(completions), methods=["POST"]),
        Route("/v1/embeddings", _openai_errors(embeddings), methods=["POST"]),
        Route("/v1/models", _openai_errors(list_models), methods=["GET"]),
        Route("/v1/models/{model:path}", _openai_errors(show_model), methods=["GET"]),
    ]


async def embeddings(http: HttpRequest) -> Response:
    """`POST /v1/embeddings`: the native `/api/embed` vectors (L2-normalised), as floats
    or base64."""
    body, encoding = embed_body(await _json_body(http))
    response = await embed(_native_request(http, body))
    if getattr(response, "body_iterator", None) is not None:
        parts = [part async for part in response.body_iterator]
        native = json.loads(b"".join(p if isinstance(p, bytes) else p.encode() for p in parts))
    else:
        native = _native_json(response)
    return JSONResponse(embedding_list(body["model"], native, encoding))


async def list_models(http: HttpRequest) -> Response:
    """`GET /v1/models`."""
    registry = http.app.state.server.registry
    data = [model_object(name, entry.modified_at()) for name, entry in registry.names()]
    return JSONResponse({"object": "list", "data": data})


async def show_model(http: HttpRequest) -> Response:
    """`GET /v1/models/{model}`."""
    name = http.path_params["model"]
    entry = http.app.state.server.resolve(name)
    return JSONResponse(model_object(name, entry.modified_at()))


__all__ = ["openai_error", "openai_routes"]
