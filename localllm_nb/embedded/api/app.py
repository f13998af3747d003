"""The HTTP routes: Ollama's API on Starlette."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..engine.events import DoneEvent, ErrorEvent
from ..engine.instance import LlamaServerError
from ..engine.json_close import close_json
from ..engine.manager import SHUTTING_DOWN, Abandoned, Lease, ModelManager, ShuttingDown
from ..engine.options import OptionError, parse_options
from ..engine.templates import (
    PromptTooLong,
    TemplateError,
    continued_turn,
    render_go_template,
)
from ..models.registry import MissingModelFiles, ModelNotFound, Registry
from . import generation as gen
from .embed_routes import EMBED_ROUTES
from .errors import ApiError, not_found
from .go_json import keep_alive_seconds
from .limits import BodyLimit, cap_options, trained_context
from .model_routes import MODEL_ROUTES
from .openai_routes import openai_routes
from .origins import OriginGuard
from .protocol import (
    OLLAMA_VERSION,
    check_format,
    check_think,
    field,
    ndjson,
    parse_body,
    require_model,
)
from .request_types import CHAT_REQUEST, GENERATE_REQUEST, go_message

T = TypeVar("T")


class ServerState:
    """State shared by the routes: the model names and the loaded engines."""

    def __init__(self, registry: Registry | None = None, threads: int = 0, num_parallel: int = 1):
        self.registry = registry or Registry()
        self.models = ModelManager(threads=threads, num_parallel=num_parallel)

    def resolve(self, name: str):
        try:
            return self.registry.resolve(name)
        except ModelNotFound:
            raise not_found(name) from None

    async def acquire(
        self,
        entry,
        num_ctx: int,
        name: str,
        num_thread: int = 0,
        keep_alive: float = 300.0,
        http: HttpRequest | None = None,
    ) -> Lease:
        """A lease on the model's engine, waited for and loaded off the event loop. The
        caller gives it back (`release()`) however its request ends. With `http`, a
        client that leaves while waiting gives up its turn."""
        abandoned = threading.Event()
        task = asyncio.ensure_future(
            asyncio.to_thread(
                self.models.acquire, entry, num_ctx, name, num_thread, keep_alive, abandoned
            )
        )
        try:
            while http is not None and not task.done():
                await asyncio.wait({task}, timeout=0.2)
                if not task.done() and self.models.stopping:
                    raise ShuttingDown(SHUTTING_DOWN)  # not after the load: shutdown waits 2 s
                if not task.done() and await http.is_disconnected():
                    abandoned.set()
            lease = await asyncio.shield(task)
        except (asyncio.CancelledError, ShuttingDown) as exc:
            # The request went away, or the server is stopping, while it waited: the
            # lease, when it comes, goes back.
            abandoned.set()
            task.add_done_callback(_release_result)
            if isinstance(exc, ShuttingDown):
                raise ApiError(500, str(exc)) from None
            raise
        except MissingModelFiles as exc:
            raise ApiError(500, str(exc)) from None
        return lease


def _release_result(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().release()


@contextlib.contextmanager
def _released_on_error(lease: Lease):
    """Gives the lease back if the request fails before an answer takes it over."""
    try:
        yield
    except BaseException:
        lease.release()
        raise


class _LeasedStream(StreamingResponse):
    """A streamed answer that gives its request's lease back however it ends, including
    a client that leaves before the first byte (the body generator then never starts,
    so a `finally` inside it would never run)."""

    def __init__(self, content, lease: Lease, **kwargs):
        super().__init__(content, **kwargs)
        self.lease = lease

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.lease.release()


async def _prepared(http: HttpRequest, lease: Lease, prepare: Callable[[], T]) -> T:
    """`prepare()` run off the event loop (rendering and tokenising a long history
    takes seconds), given up as soon as the client leaves or the server stops: shutdown
    waits 2 s for requests, and a request cut by that wait sends no error line."""
    task = asyncio.ensure_future(asyncio.to_thread(prepare))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if task.done():
                break
            if lease.interrupted is not None:
                raise ApiError(500, lease.interrupted)
            if await http.is_disconnected():
                raise Abandoned("the client went away while its prompt was prepared")
    except BaseException:
        # The thread finishes on its own; its result is nobody's.
        task.add_done_callback(_ignore_result)
        raise
    try:
        return task.result()
    except LlamaServerError as exc:  # the engine's own words: no traceback to log
        raise ApiError(500, str(exc)) from None


def _ignore_result(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # read, so asyncio does not log it as never retrieved


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


def _top_logprobs(body) -> int | None:
    """How many alternatives per token, or None without `logprobs` (Ollama checks the
    range either way)."""
    _check_top_logprobs(body)
    return (body.get("top_logprobs") or 0) if body.get("logprobs") else None


def check_capabilities(entry, name: str, endpoint: str, think, tools) -> None:
    """Refuse (HTTP 400, Ollama's words) a request the model's capabilities cannot serve."""
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


async def _load_only(server: ServerState, entry, name: str, kind: str, opts, keep_alive: float):
    """A request without a prompt loads the model, or with `keep_alive: 0` unloads it
    (without loading it first, as Ollama does)."""
    if keep_alive == 0:
        server.models.unload(entry)
    else:
        lease = await server.acquire(entry, opts.num_ctx, name, opts.num_thread, keep_alive)
        lease.release()
    return JSONResponse(_load_reply(entry, name, kind, keep_alive))


async def _respond(
    http: HttpRequest,
    req: gen.Request,
    lease: Lease,
    tokens,
    stream: bool,
) -> Response:
    """Run the job and answer as NDJSON lines or as one merged object. The answer owns
    the lease from here and gives it back when it ends."""

    gen.keep_within_budget(req, lease.engine)

    async def lines():
        answer: list[str] = []  # content so far, for closing a JSON answer cut short
        async for event in gen.run_job(lease.engine, tokens, req, lease):
            if isinstance(event, ErrorEvent):
                yield {"error": event.error}
                return
            done = isinstance(event, DoneEvent)
            delta = req.parser.finish() if done else req.parser.feed(event.text)
            # A token's logprobs go out with it even while the parser holds its text
            # back (a tag, a tool call), as Ollama sends them.
            logprobs = () if done else event.logprobs
            if delta or logprobs:
                answer.append(delta.content)
                yield gen.line(req, delta.content, delta.thinking, delta.tool_calls, logprobs)
            if done:
                if req.json_answer and event.done_reason == "length":
                    tail = close_json("".join(answer))
                    if tail:
                        yield gen.line(req, tail)
                yield gen.final_line(req, event)

    if stream:

        async def body():
            async for item in lines():
                yield ndjson(item)

        headers = req.fit.headers(req.options.num_ctx) if req.fit is not None else None
        return _LeasedStream(body(), lease, media_type="application/x-ndjson", headers=headers)

    collected: list[dict] = []
    consumer = asyncio.ensure_future(_collect(lines(), collected))
    try:
        while not consumer.done():
            done, _ = await asyncio.wait({consumer}, timeout=0.1)
            if not done and await http.is_disconnected():
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
                return Response(status_code=499)
    finally:
        consumer.cancel()
        lease.release()
    if collected and "error" in collected[-1]:
        return JSONResponse(collected[-1], status_code=500)
    headers = req.fit.headers(req.options.num_ctx) if req.fit is not None else None
    return JSONResponse(gen.merge(collected), headers=headers)


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
    server: ServerState = http.app.state.server
    body = parse_body(await http.body(), CHAT_REQUEST)
    top_logprobs = _top_logprobs(body)
    name = require_model(body)
    messages = field(body, "messages", (list,), "[]api.Message", [])
    entry = server.resolve(name)
    fmt = check_format(body.get("format"))
    think = check_think(body.get("think"))
    tools = field(body, "tools", (list,), "[]api.Tool", [])
    stream = field(body, "stream", (bool,), "bool", True)
    keep_alive = _keep_alive(body)
    check_capabilities(entry, name, "chat", think, tools)
    messages = [go_message(m or {}) for m in messages]  # types were checked by parse_body
    opts = _options(entry, body)
    req = gen.Request(name=name, entry=entry, options=opts, kind="chat", top_logprobs=top_logprobs)
    if not messages:
        return await _load_only(server, entry, name, "chat", opts, keep_alive)
    if entry.system and not any(m.get("role") == "system" for m in messages):
        messages = [{"role": "system", "content": entry.system}, *messages]
    gen.steer(
        req,
        fmt,
        think,
        tools,
        last_role=messages[-1].get("role", "user"),
        prefill=continued_turn(messages),
    )
    lease = await server.acquire(entry, opts.num_ctx, name, opts.num_thread, keep_alive, http)
    req.load_duration = lease.load_duration
    with _released_on_error(lease):
        fit = functools.partial(
            gen.fit_chat,
            lease.engine,
            entry,
            messages,
            opts,
            tools=tools or None,
            thinking=req.thinking,
        )
        try:
            req.fit = await _prepared(http, lease, fit)
        except PromptTooLong as exc:
            raise ApiError(400, str(exc)) from None
        except TemplateError as exc:
            raise ApiError(500, str(exc)) from None
        return await _respond(http, req, lease, req.fit.tokens, stream)


async def generate(http: HttpRequest) -> Response:
    server: ServerState = http.app.state.server
    body = parse_body(await http.body(), GENERATE_REQUEST)
    top_logprobs = _top_logprobs(body)
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
    check_capabilities(entry, name, "generate", think, [])
    if suffix and "insert" not in entry.capabilities:
        raise ApiError(400, f'"{name}" does not support insert')
    opts = _options(entry, body)
    req = gen.Request(
        name=name,
        entry=entry,
        options=opts,
        kind="generate",
        include_context=not raw,
        top_logprobs=top_logprobs,
    )
    gen.steer(req, fmt, think, raw=raw or bool(template))
    if not prompt and not suffix:
        return await _load_only(server, entry, name, "generate", opts, keep_alive)

    def prompt_tokens(engine) -> gen.PromptFit:
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
        tokens = [int(t) for t in context] + engine.tokenize(text, add_bos=not context)
        return gen.fit_prompt(tokens, opts)

    lease = await server.acquire(entry, opts.num_ctx, name, opts.num_thread, keep_alive, http)
    req.load_duration = lease.load_duration
    with _released_on_error(lease):
        try:
            req.fit = await _prepared(http, lease, functools.partial(prompt_tokens, lease.engine))
        except TemplateError as exc:
            raise ApiError(400, str(exc)) from None
        return await _respond(http, req, lease, req.fit.tokens, stream)


async def _api_error(_: HttpRequest, exc: ApiError) -> Response:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _abandoned(_: HttpRequest, exc: Abandoned) -> Response:
    return Response(status_code=499)  # nobody reads it: the client has gone


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
    *openai_routes(chat, generate),
]


def create_app(server: ServerState | None = None) -> Starlette:
    """The ASGI application; `server` holds the registry and the loaded models."""
    server = server or ServerState()

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
            server.models.stop()
            # A worker inside a long prompt cannot stop before it ends: do not wait long.
            closing = asyncio.ensure_future(asyncio.to_thread(server.models.close))
            await asyncio.wait({closing}, timeout=5)

    app = Starlette(
        routes=list(ROUTES),
        middleware=[Middleware(OriginGuard), Middleware(BodyLimit)],
        exception_handlers={
            ApiError: _api_error,
            ClientDisconnect: _client_gone,
            Abandoned: _abandoned,
            Exception: _internal_error,
            404: _not_found,
            405: _method_not_allowed,
        },
        lifespan=lifespan,
    )
    app.state.server = server
    return app


__all__ = ["ROUTES", "ServerState", "create_app"]
