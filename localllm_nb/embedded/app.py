"""The HTTP routes: Ollama's API on Starlette."""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from . import generation as gen
from .api_types import CHAT_REQUEST, GENERATE_REQUEST, go_message
from .embed_routes import EMBED_ROUTES
from .go_json import keep_alive_seconds
from .json_close import close_json
from .limits import BodyLimit, cap_options, trained_context
from .llama_server import reclaim_signals
from .manager import ModelManager
from .model_routes import MODEL_ROUTES
from .options import OptionError, parse_options
from .origins import OriginGuard
from .protocol import (
    OLLAMA_VERSION,
    ApiError,
    check_format,
    check_think,
    field,
    ndjson,
    not_found,
    parse_body,
    require_model,
)
from .registry import MissingModelFiles, ModelNotFound, Registry
from .templates import TemplateError, render_go_template


class Server:
    """State shared by the routes: the model names and the loaded engines."""

    def __init__(self, registry: Registry | None = None, threads: int = 0, num_parallel: int = 1):
        self.registry = registry or Registry()
        self.models = ModelManager(threads=threads, num_parallel=num_parallel)

    def resolve(self, name: str):
        try:
            return self.registry.resolve(name)
        except ModelNotFound:
            raise not_found(name) from None

    async def engine(self, entry, num_ctx: int, name: str, num_thread: int = 0):
        """The engine for a model, loaded off the event loop; returns (engine, load ns)."""
        started = time.perf_counter()
        try:
            engine = await asyncio.to_thread(self.models.engine, entry, num_ctx, name, num_thread)
        except MissingModelFiles as exc:
            raise ApiError(500, str(exc)) from None
        reclaim_signals()  # back on the event loop's thread after loading llama.cpp
        return engine, int((time.perf_counter() - started) * 1e9)


def _options(entry, body) -> object:
    try:
        opts = parse_options(body.get("options"), entry.parameters)
    except OptionError as exc:
        # Ollama reports option errors from its scheduler, as internal errors.
        raise ApiError(500, str(exc)) from None
    return cap_options(opts, trained_context(entry), entry.name)


def _keep_alive(body) -> float:
    return keep_alive_seconds(body.get("keep_alive"))


def _check_top_logprobs(body) -> None:
    if not 0 <= (body.get("top_logprobs") or 0) <= 20:
        raise ApiError(400, "top_logprobs must be between 0 and 20")


def _check_capabilities(entry, name: str, endpoint: str, think, tools) -> None:
    caps = entry.capabilities
    if "completion" not in caps:
        raise ApiError(400, f'"{name}" does not support {endpoint}')
    if think and "thinking" not in caps:
        raise ApiError(400, f'"{name}" does not support thinking')
    if tools and "tools" not in caps:
        raise ApiError(400, f"{name} does not support tools")


def _load_reply(entry, name: str, kind: str, keep_alive: float) -> dict:
    reply = gen.line(gen.Request(name=name, entry=entry, options=None, kind=kind))
    reply["done"] = True
    reply["done_reason"] = "unload" if keep_alive == 0 else "load"
    return reply


async def _respond(
    server: Server,
    http: HttpRequest,
    req: gen.Request,
    engine,
    tokens,
    stream: bool,
    keep_alive: float,
) -> Response:
    """Run the job and answer as NDJSON lines or as one merged object."""

    async def lines():
        answer: list[str] = []  # content so far, for closing a JSON answer cut short
        try:
            async for event in gen.run_job(engine, tokens, req):
                if event["type"] == "error":
                    yield {"error": event["error"]}
                    return
                done = event["type"] == "done"
                delta = req.parser.finish() if done else req.parser.feed(event["text"])
                if delta:
                    answer.append(delta.content)
                    yield gen.line(req, delta.content, delta.thinking, delta.tool_calls)
                if done:
                    if req.json_answer and event.get("done_reason") == "length":
                        tail = close_json("".join(answer))
                        if tail:
                            yield gen.line(req, tail)
                    yield gen.final_line(req, event)
        finally:
            server.models.touch(req.entry, keep_alive)

    if stream:

        async def body():
            async for item in lines():
                yield ndjson(item)

        return StreamingResponse(body(), media_type="application/x-ndjson")

    collected: list[dict] = []
    consumer = asyncio.ensure_future(_collect(lines(), collected))
    while not consumer.done():
        done, _ = await asyncio.wait({consumer}, timeout=0.1)
        if not done and await http.is_disconnected():
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            return Response(status_code=499)
    if collected and "error" in collected[-1]:
        return JSONResponse(collected[-1], status_code=500)
    return JSONResponse(gen.merge(collected))


async def _collect(lines, out: list) -> None:
    async for item in lines:
        out.append(item)


# --- routes -------------------------------------------------------------------------------


async def root(_: HttpRequest) -> Response:
    return PlainTextResponse("Ollama is running")


async def version(_: HttpRequest) -> Response:
    # `server` is an extension (clients ignore unknown keys): it lets a client tell the
    # embedded backend from a real Ollama.
    return JSONResponse({"version": OLLAMA_VERSION, "server": "localllm_nb embedded"})


async def chat(http: HttpRequest) -> Response:
    server: Server = http.app.state.server
    body = parse_body(await http.body(), CHAT_REQUEST)
    _check_top_logprobs(body)
    name = require_model(body)
    messages = field(body, "messages", (list,), "[]api.Message", [])
    entry = server.resolve(name)
    fmt = check_format(body.get("format"))
    think = check_think(body.get("think"))
    tools = field(body, "tools", (list,), "[]api.Tool", [])
    stream = field(body, "stream", (bool,), "bool", True)
    keep_alive = _keep_alive(body)
    _check_capabilities(entry, name, "chat", think, tools)
    messages = [go_message(m or {}) for m in messages]  # types were checked by parse_body
    opts = _options(entry, body)
    req = gen.Request(name=name, entry=entry, options=opts, kind="chat")
    engine, req.load_duration = await server.engine(entry, opts.num_ctx, name, opts.num_thread)
    if not messages:
        server.models.touch(entry, keep_alive)
        return JSONResponse(_load_reply(entry, name, "chat", keep_alive))
    if entry.system and not any(m.get("role") == "system" for m in messages):
        messages = [{"role": "system", "content": entry.system}, *messages]
    gen.steer(req, fmt, think, tools, last_role=messages[-1].get("role", "user"))
    try:
        tokens = gen.fit_messages(
            engine, entry, messages, opts, tools=tools or None, thinking=req.thinking
        )
    except TemplateError as exc:
        raise ApiError(500, str(exc)) from None
    return await _respond(server, http, req, engine, tokens, stream, keep_alive)


async def generate(http: HttpRequest) -> Response:
    server: Server = http.app.state.server
    body = parse_body(await http.body(), GENERATE_REQUEST)
    _check_top_logprobs(body)
    name = require_model(body)
    entry = server.resolve(name)
    prompt = field(body, "prompt", (str,), "string", "")
    system = field(body, "system", (str,), "string", "")
    template = field(body, "template", (str,), "string", "")
    suffix = field(body, "suffix", (str,), "string", "")
    context = field(body, "context", (list,), "[]int", [])
    raw = field(body, "raw", (bool,), "bool", False)
    stream = field(body, "stream", (bool,), "bool", True)
    fmt = check_format(body.get("format"))
    think = check_think(body.get("think"))
    keep_alive = _keep_alive(body)
    if raw and (template or system or context):
        raise ApiError(400, "raw mode does not support template, system, or context")
    _check_capabilities(entry, name, "generate", think, [])
    if suffix and "insert" not in entry.capabilities:
        raise ApiError(400, f'"{name}" does not support insert')
    opts = _options(entry, body)
    req = gen.Request(
        name=name, entry=entry, options=opts, kind="generate", include_context=not raw
    )
    gen.steer(req, fmt, think, raw=raw or bool(template))
    engine, req.load_duration = await server.engine(entry, opts.num_ctx, name, opts.num_thread)
    if not prompt and not suffix:
        server.models.touch(entry, keep_alive)
        return JSONResponse(_load_reply(entry, name, "generate", keep_alive))
    try:
        if raw:
            text = prompt
        elif template:
            text = render_go_template(
                template, {"System": system or entry.system, "Prompt": prompt, "Suffix": suffix}
            )
        else:
            msgs = (
                [{"role": "system", "content": system or entry.system}]
                if (system or entry.system)
                else []
            )
            text = gen.render_chat(
                entry.template, [*msgs, {"role": "user", "content": prompt}], thinking=req.thinking
            )
    except TemplateError as exc:
        raise ApiError(400, str(exc)) from None
    tokens = [int(t) for t in context] + engine.tokenize(text, add_bos=not context)
    tokens = gen.keep_recent(tokens, opts)
    return await _respond(server, http, req, engine, tokens, stream, keep_alive)


async def _api_error(_: HttpRequest, exc: ApiError) -> Response:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _client_gone(_: HttpRequest, exc: ClientDisconnect) -> Response:
    # The client closed the connection before sending its whole body: nobody reads this.
    return JSONResponse({"error": "unexpected EOF"}, status_code=400)


async def _internal_error(_: HttpRequest, exc: Exception) -> Response:
    # Never a plain-text 500: the message, without Python's type name (the log has it).
    return JSONResponse({"error": str(exc) or "internal error"}, status_code=500)


async def _not_found(_: HttpRequest, exc) -> Response:
    return PlainTextResponse("404 page not found", status_code=404)


async def _method_not_allowed(_: HttpRequest, exc) -> Response:
    return PlainTextResponse("405 method not allowed", status_code=405)


ROUTES = [
    Route("/", root, methods=["GET", "HEAD"]),
    Route("/api/version", version, methods=["GET"]),
    Route("/api/chat", chat, methods=["POST"]),
    Route("/api/generate", generate, methods=["POST"]),
    *MODEL_ROUTES,
    *EMBED_ROUTES,
]


def create_app(server: Server | None = None) -> Starlette:
    """The ASGI application; `server` holds the registry and the loaded models."""
    server = server or Server()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def reaper():
            while True:
                await asyncio.sleep(5)
                await asyncio.to_thread(server.models.expire)

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(server.models.close)

    app = Starlette(
        routes=list(ROUTES),
        middleware=[Middleware(OriginGuard), Middleware(BodyLimit)],
        exception_handlers={
            ApiError: _api_error,
            ClientDisconnect: _client_gone,
            Exception: _internal_error,
            404: _not_found,
            405: _method_not_allowed,
        },
        lifespan=lifespan,
    )
    app.state.server = server
    return app


__all__ = ["ROUTES", "Server", "create_app"]
