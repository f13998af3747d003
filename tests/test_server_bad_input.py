"""Bad input gets Ollama's answer: a JSON `{"error": ...}` with Ollama's status and words
(from Ollama v0.12's handlers and Go's encoding/json), never a traceback; the server
stays healthy after each case. Limits refuse what would take gigabytes."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx
import psutil
import pytest

from tests.models import CHAT, EMBED

TINY = {"num_predict": 1, "temperature": 0, "seed": 1}
OK = "ok"  # Ollama answers these (the input is repaired or clamped): a normal reply


def chat(*messages, **extra) -> dict:
    return {"model": CHAT, "stream": False, "options": TINY, "messages": list(messages), **extra}


def user(content="Hi", **extra) -> dict:
    return {"role": "user", "content": content, **extra}


def gen(**extra) -> dict:
    return {"model": CHAT, "stream": False, "prompt": "Hi", "options": TINY, **extra}


def cannot(kind: str, where: str, go_type: str) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}"


CHAT_OK = json.dumps(chat(user()))
DEEP = 20_000  # past Go's limit of 10,000 levels


# (id, path, body, status, expected error, or OK; the same as Ollama's answer?)
CASES = [
    # JSON that Go's decoder rejects or repairs
    (
        "infinity",
        "/api/chat",
        CHAT_OK[:-1] + ',"top_k":Infinity}',
        400,
        "invalid character 'I' looking for beginning of value",
        True,
    ),
    (
        "nan-option",
        "/api/generate",
        b'{"model":"smollm2:135m","options":{"temperature":NaN}}',
        400,
        "invalid character 'N' looking for beginning of value",
        True,
    ),
    (
        "minus-infinity",
        "/api/generate",
        b'{"model":"smollm2:135m","options":{"seed":-Infinity}}',
        400,
        "invalid character 'I' in numeric literal",
        True,
    ),
    (
        "lone-surrogate-chat",
        "/api/chat",
        CHAT_OK.replace('"Hi"', '"Hi \\ud800 there"'),
        200,
        OK,
        True,
    ),
    (
        "lone-surrogate-embed",
        "/api/embed",
        b'{"model":"all-minilm","input":["a \\udc00 b","\\ud83d"]}',
        200,
        OK,
        True,
    ),
    ("invalid-utf8", "/api/chat", CHAT_OK.encode().replace(b"Hi", b"Hi \xff\xfe"), 200, OK, True),
    (
        "deep-nesting",
        "/api/generate",
        b'{"model":"smollm2:135m","options":{"x":' + b"[" * DEEP + b"]" * DEEP + b"}}",
        400,
        "invalid character '[' exceeded max depth",
        True,
    ),
    (
        "nesting-2000",  # Go decodes up to 10,000 levels; Python's parser stops near 1,000
        "/api/generate",
        b'{"model":"smollm2:135m","options":{"x":' + b"[" * 2000 + b"]" * 2000 + b"}}",
        400,
        "invalid character '[' exceeded max depth",
        False,
    ),
    (
        "trailing-data",
        "/api/chat",
        CHAT_OK + " x",
        400,
        "invalid character 'x' after top-level value",
        True,
    ),
    (
        "array-body",
        "/api/chat",
        "[]",
        400,
        "json: cannot unmarshal array into Go value of type api.ChatRequest",
        True,
    ),
    (
        "string-body",
        "/api/generate",
        '"hi"',
        400,
        "json: cannot unmarshal string into Go value of type api.GenerateRequest",
        True,
    ),
    # wrong types, named as Go names them
    (
        "model-number",
        "/api/chat",
        {"model": 5, "messages": []},
        400,
        cannot("number", "ChatRequest.model", "string"),
        True,
    ),
    (
        "messages-number",
        "/api/chat",
        {"model": CHAT, "messages": 5},
        400,
        cannot("number", "ChatRequest.messages", "[]api.Message"),
        True,
    ),
    (
        "message-number",
        "/api/chat",
        chat(5),
        400,
        cannot("number", "ChatRequest.messages", "api.Alias"),
        True,
    ),
    (
        "content-number",
        "/api/chat",
        chat(user(5)),
        400,
        cannot("number", "ChatRequest.messages.content", "string"),
        True,
    ),
    (
        "content-list",
        "/api/chat",
        chat(user([{"type": "text"}])),
        400,
        cannot("array", "ChatRequest.messages.content", "string"),
        True,
    ),
    (
        "role-list",
        "/api/chat",
        chat({"role": ["user"], "content": "x"}),
        400,
        cannot("array", "ChatRequest.messages.role", "string"),
        True,
    ),
    ("message-null", "/api/chat", chat(None, user()), 200, OK, True),
    ("role-upper", "/api/chat", chat({"role": "USER", "content": "Hi"}), 200, OK, True),
    (
        "images-string",
        "/api/chat",
        chat(user(images="abc")),
        400,
        cannot("string", "ChatRequest.messages.images", "[]api.ImageData"),
        True,
    ),
    (
        "images-number",
        "/api/chat",
        chat(user(images=[5])),
        400,
        cannot("number", "ChatRequest.messages.images", "api.ImageData"),
        True,
    ),
    (
        "images-not-base64",
        "/api/chat",
        chat(user(images=["@@@@"])),
        400,
        "illegal base64 data at input byte 0",
        True,
    ),
    (
        "generate-images",
        "/api/generate",
        gen(images={"a": 1}),
        400,
        cannot("object", "GenerateRequest.images", "[]api.ImageData"),
        True,
    ),
    (
        "tool-calls-string",
        "/api/chat",
        chat(user(), {"role": "assistant", "tool_calls": "x"}),
        400,
        cannot("string", "ChatRequest.messages.tool_calls", "[]api.ToolCall"),
        True,
    ),
    (
        "tool-call-number",
        "/api/chat",
        chat(user(), {"role": "assistant", "tool_calls": [5]}),
        400,
        cannot("number", "ChatRequest.messages.tool_calls", "api.ToolCall"),
        True,
    ),
    (
        "tool-call-function-string",
        "/api/chat",
        chat(user(), {"role": "assistant", "tool_calls": [{"function": "f"}]}),
        400,
        cannot("string", "ChatRequest.messages.tool_calls.function", "api.ToolCallFunction"),
        True,
    ),
    (
        "tool-call-name-number",
        "/api/chat",
        chat(user(), {"role": "assistant", "tool_calls": [{"function": {"name": 5}}]}),
        400,
        cannot("number", "ChatRequest.messages.tool_calls.function.name", "string"),
        True,
    ),
    (
        "tool-call-arguments-string",
        "/api/chat",
        chat(
            user(),
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
        ),
        400,
        cannot(
            "string",
            "ChatRequest.messages.tool_calls.function.arguments",
            "api.ToolCallFunctionArguments",
        ),
        True,
    ),
    (
        "tool-call-empty",
        "/api/chat",
        chat({"role": "assistant", "tool_calls": [{}]}, user()),
        200,
        OK,
        True,
    ),
    (
        "stream-string",
        "/api/chat",
        {**chat(user()), "stream": "no"},
        400,
        cannot("string", "ChatRequest.stream", "bool"),
        True,
    ),
    (
        "options-list",
        "/api/chat",
        {**chat(user()), "options": [1]},
        400,
        cannot("array", "ChatRequest.options", "map[string]interface {}"),
        True,
    ),
    (
        "tools-object",
        "/api/chat",
        {**chat(user()), "tools": {}},
        400,
        cannot("object", "ChatRequest.tools", "api.Tools"),
        True,
    ),
    (
        "prompt-number",
        "/api/generate",
        gen(prompt=5),
        400,
        cannot("number", "GenerateRequest.prompt", "string"),
        True,
    ),
    (
        "context-strings",
        "/api/generate",
        gen(context=["a"]),
        400,
        cannot("string", "GenerateRequest.context", "int"),
        True,
    ),
    (
        "context-float",
        "/api/generate",
        gen(context=[1.5]),
        400,
        cannot("number 1.5", "GenerateRequest.context", "int"),
        True,
    ),
    (
        "context-string",
        "/api/generate",
        gen(context="1,2"),
        400,
        cannot("string", "GenerateRequest.context", "[]int"),
        True,
    ),
    (
        "context-huge-int",
        "/api/generate",
        gen(context=[2**70]),
        400,
        cannot(f"number {2**70}", "GenerateRequest.context", "int"),
        True,
    ),
    (
        "raw-string",
        "/api/generate",
        gen(raw="yes"),
        400,
        cannot("string", "GenerateRequest.raw", "bool"),
        True,
    ),
    (
        "dimensions-bool",
        "/api/embed",
        {"model": EMBED, "input": "x", "dimensions": True},
        400,
        cannot("bool", "EmbedRequest.dimensions", "int"),
        True,
    ),
    (
        "dimensions-float",
        "/api/embed",
        {"model": EMBED, "input": "x", "dimensions": 1.5},
        400,
        cannot("number 1.5", "EmbedRequest.dimensions", "int"),
        True,
    ),
    (
        "dimensions-negative",
        "/api/embed",
        {"model": EMBED, "input": "x", "dimensions": -5},
        200,
        OK,
        True,
    ),
    (
        "truncate-string",
        "/api/embed",
        {"model": EMBED, "input": "x", "truncate": "no"},
        400,
        cannot("string", "EmbedRequest.truncate", "bool"),
        True,
    ),
    (
        "embed-input-numbers",
        "/api/embed",
        {"model": EMBED, "input": [1, 2]},
        400,
        "invalid input type",
        True,
    ),
    (
        "embeddings-prompt-number",
        "/api/embeddings",
        {"model": EMBED, "prompt": 5},
        400,
        cannot("number", "EmbeddingRequest.prompt", "string"),
        True,
    ),
    (
        "copy-source-number",
        "/api/copy",
        {"source": 5, "destination": "x"},
        400,
        cannot("number", "CopyRequest.source", "string"),
        True,
    ),
    # options: Ollama clamps num_ctx to at least 4; a wrong type is its scheduler's 500
    ("num-ctx-negative", "/api/generate", gen(options={**TINY, "num_ctx": -1}), 200, OK, True),
    # repeat_last_n -1 is the whole context (llama-server alone refuses a negative window)
    (
        "repeat-last-n-minus-one",
        "/api/chat",
        chat(user(), options={**TINY, "repeat_last_n": -1}),
        200,
        OK,
        True,
    ),
    (
        "num-ctx-string",
        "/api/generate",
        gen(options={**TINY, "num_ctx": "big"}),
        500,
        'option "num_ctx" must be of type integer',
        True,
    ),
    (
        "top-logprobs-99",
        "/api/chat",
        chat(user(), top_logprobs=99),
        400,
        "top_logprobs must be between 0 and 20",
        True,
    ),
    (
        "top-logprobs-negative",
        "/api/generate",
        gen(top_logprobs=-1),
        400,
        "top_logprobs must be between 0 and 20",
        True,
    ),
    # keep_alive is a Go duration
    (
        "keep-alive-overflow",
        "/api/generate",
        gen(keep_alive="1000000000h"),
        400,
        'time: invalid duration "1000000000h"',
        True,
    ),
    (
        "keep-alive-nan-string",
        "/api/generate",
        gen(keep_alive="NaN"),
        400,
        'time: invalid duration "NaN"',
        True,
    ),
    (
        "keep-alive-no-unit",
        "/api/generate",
        gen(keep_alive="300"),
        400,
        'time: missing unit in duration "300"',
        True,
    ),
    (
        "keep-alive-unknown-unit",
        "/api/generate",
        gen(keep_alive="2d"),
        400,
        'time: unknown unit "d" in duration "2d"',
        True,
    ),
    (
        "keep-alive-object",
        "/api/chat",
        chat(user(), keep_alive={}),
        400,
        "Unsupported type: 'map[string]interface {}'",
        True,
    ),
    (
        "keep-alive-bool",
        "/api/chat",
        chat(user(), keep_alive=True),
        400,
        "Unsupported type: 'bool'",
        True,
    ),
    (
        "keep-alive-nan",
        "/api/generate",
        b'{"model":"smollm2:135m","prompt":"Hi","keep_alive":NaN}',
        400,
        "invalid character 'N' looking for beginning of value",
        True,
    ),
    ("keep-alive-1e18", "/api/generate", gen(keep_alive=1e18), 200, OK, True),
    ("keep-alive-1e300", "/api/generate", gen(keep_alive=1e300), 200, OK, True),
    # model names are validated as Ollama's model.ParseName does
    (
        "copy-dotdot",
        "/api/copy",
        {"source": EMBED, "destination": "../../x"},
        400,
        'destination "../../x" is invalid',
        True,
    ),
    (
        "copy-absolute",
        "/api/copy",
        {"source": EMBED, "destination": "/etc/passwd"},
        400,
        'destination "/etc/passwd" is invalid',
        True,
    ),
    (
        "copy-nul",
        "/api/copy",
        {"source": EMBED, "destination": "a\x00b"},
        400,
        'destination "a\\x00b" is invalid',
        True,
    ),
    (
        "copy-200kb",
        "/api/copy",
        {"source": EMBED, "destination": "a" * 200_000},
        400,
        f'destination "{"a" * 200_000}" is invalid',
        True,
    ),
    (
        "copy-bad-source",
        "/api/copy",
        {"source": "a b", "destination": "x"},
        400,
        'source "a b" is invalid',
        True,
    ),
    ("copy-empty", "/api/copy", {}, 400, 'source "" is invalid', True),
    (
        "copy-missing-source",
        "/api/copy",
        {"source": "nope", "destination": "x"},
        404,
        'model "nope" not found',
        True,
    ),
    ("delete-bad-name", "/api/delete", {"model": "../x"}, 400, 'name "../x" is invalid', True),
    ("pull-bad-name", "/api/pull", {"model": "a/b/c/d"}, 400, "invalid model name", True),
    # a tool without a name cannot be turned into a grammar (Ollama would run it)
    (
        "tool-without-name",
        "/api/chat",
        {**chat(user()), "tools": [{"type": "function", "function": {}}]},
        400,
        "invalid tools: missing field 'name'",
        False,
    ),
    # out-of-vocabulary context tokens: llama.cpp's refusal, as a JSON 500
    ("context-out-of-vocab", "/api/generate", gen(context=[99_999_999]), 500, None, False),
]


def _server_process(url: str) -> psutil.Process:
    port = str(httpx.URL(url).port)
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "localllm_nb.embedded" in cmd and port in cmd:
            return child
    pytest.skip("the session server is not a child of this test run")


@pytest.fixture(scope="module")
def server(server_url):
    """The session server's process and a reader of its log from a mark onwards."""
    proc = _server_process(server_url)
    log_path = os.readlink(f"/proc/{proc.pid}/fd/2") if os.path.exists("/proc") else None
    return proc, log_path


def log_size(log_path) -> int:
    return os.path.getsize(log_path) if log_path else 0


def log_since(log_path, mark: int) -> str:
    if not log_path:
        return ""
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        fh.seek(mark)
        return fh.read()


def healthy(url: str) -> None:
    resp = httpx.get(url + "/api/version", timeout=30)
    assert resp.status_code == 200 and "version" in resp.json()


def post(url: str, path: str, body) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    method = "DELETE" if path == "/api/delete" else "POST"
    return httpx.request(method, url + path, content=content, timeout=120)


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "like_ollama"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gets_ollamas_answer(server_url, server, path, body, status, error, like_ollama):
    _, log_path = server
    mark = log_size(log_path)
    resp = post(server_url, path, body)
    assert resp.status_code == status, resp.text[:300]
    payload = resp.json()
    if error == OK:
        assert "error" not in payload
    else:
        assert set(payload) == {"error"}
        if error is not None:
            assert payload["error"] == error
        for leak in ("NoneType", "Traceback", "AttributeError", "<class"):
            assert leak not in payload["error"]
    healthy(server_url)
    assert "Traceback" not in log_since(log_path, mark)


def test_bad_input_counts():
    matching = sum(1 for case in CASES if case[5])
    print(f"\nbad inputs tried: {len(CASES)}, answered as Ollama answers: {matching}")
    assert matching >= len(CASES) - 3


def test_ps_answers_after_huge_keep_alive(server_url):
    for keep_alive in (1e18, 1e300, "-1s"):
        assert post(server_url, "/api/generate", gen(keep_alive=keep_alive)).status_code == 200
        resp = httpx.get(server_url + "/api/ps", timeout=30)
        assert resp.status_code == 200
        row = next(m for m in resp.json()["models"] if m["model"] == CHAT)
        assert row["expires_at"].startswith("2318")  # Ollama's "forever"
    post(server_url, "/api/generate", gen(keep_alive="5m"))


def test_copy_over_a_bundled_model_and_pull_restores_it(server_url):
    assert post(server_url, "/api/copy", {"source": EMBED, "destination": CHAT}).status_code == 200
    try:
        caps = post(server_url, "/api/show", {"model": CHAT}).json()["capabilities"]
        assert caps == ["embedding"]  # Ollama lets a copy overwrite a name ...
    finally:
        resp = post(server_url, "/api/pull", {"model": CHAT, "stream": False})
    assert resp.status_code == 200 and resp.json() == {"status": "success"}
    caps = post(server_url, "/api/show", {"model": CHAT}).json()["capabilities"]
    assert "completion" in caps  # ... and pulling the bundled name brings it back
    assert post(server_url, "/api/generate", gen()).json()["done"]


def test_aborted_upload_leaves_no_traceback(server_url, server):
    _, log_path = server
    mark = log_size(log_path)
    url = httpx.URL(server_url)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n" + CHAT_OK.encode()[:40]
        )
    time.sleep(0.5)
    healthy(server_url)
    assert "Traceback" not in log_since(log_path, mark)


# --- limits ---------------------------------------------------------------------------------


def rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


def test_large_requests_are_refused_and_memory_stays_bounded(server_url, server):
    proc, _ = server
    before = rss_mb(proc)
    # a 100 MB body, declared: refused from its Content-Length, before it is read
    big = b'{"model":"smollm2:135m","prompt":"' + b"x" * (100 * 2**20) + b'"}'
    try:
        resp = httpx.post(server_url + "/api/generate", content=big, timeout=60)
        assert resp.status_code == 413
        assert "too large" in resp.json()["error"]
    except httpx.TransportError:
        pass  # the server may close the connection while the client still sends
    healthy(server_url)

    # the same without a Content-Length (chunked): refused as soon as it passes the limit
    def chunks():
        for _ in range(100):
            yield b"x" * 2**20

    resp = httpx.post(server_url + "/api/chat", content=chunks(), timeout=60)
    assert resp.status_code == 413 and "too large" in resp.json()["error"]
    healthy(server_url)

    # a template that repeats {{ .Prompt }} 10,000 times over a 1 KB prompt (10 MB)
    body = gen(prompt="y" * 1000, template="{{ .Prompt }}" * 10_000)
    resp = post(server_url, "/api/generate", body)
    assert resp.status_code == 400 and resp.json()["error"].startswith("prompt too long")

    # too many embedding inputs in one request
    resp = post(server_url, "/api/embed", {"model": EMBED, "input": ["a"] * 20_000})
    assert resp.status_code == 400 and resp.json()["error"].startswith("too many inputs")

    # many inputs within the limit: embedded in chunks, answered in chunks
    reply = post(
        server_url, "/api/embed", {"model": EMBED, "input": [f"t {i}" for i in range(2000)]}
    )
    assert reply.status_code == 200
    vectors = reply.json()["embeddings"]
    assert len(vectors) == 2000 and len(vectors[0]) == 384
    healthy(server_url)
    time.sleep(0.5)  # memory is handed back just after the reply
    after = rss_mb(proc)
    print(f"\nserver RSS before the large requests {before:.0f} MB, after {after:.0f} MB")
    assert after < 1536
    healthy(server_url)


def test_num_ctx_is_capped_at_the_trained_context(server_url):
    trained = post(server_url, "/api/show", {"model": CHAT}).json()["model_info"]
    trained = trained["llama.context_length"]
    reply = post(server_url, "/api/generate", gen(options={**TINY, "num_ctx": 65536}))
    assert reply.status_code == 200
    rows = httpx.get(server_url + "/api/ps", timeout=30).json()["models"]
    assert next(m for m in rows if m["model"] == CHAT)["context_length"] == trained
    post(server_url, "/api/generate", gen())  # back to the default context


def test_num_thread_is_capped_at_the_cpus(server_url, server):
    proc, _ = server
    reply = post(server_url, "/api/generate", gen(options={**TINY, "num_thread": 600}))
    assert reply.status_code == 200
    threads = proc.num_threads()
    print(f"\nserver threads with num_thread=600: {threads}")
    assert threads < 300  # 600 llama.cpp threads before the cap
    post(server_url, "/api/generate", gen())


def test_a_tiny_generation_still_works(server_url):
    healthy(server_url)
    reply = post(server_url, "/api/generate", gen()).json()
    assert reply["done"] and reply["eval_count"] >= 1


# --- the OpenAI-compatible /v1: OpenAI's error object, with the offending `param` ---

V1_CHAT = {"model": CHAT, "max_tokens": 1, "messages": [user()]}
# (id, path, body, status, words the message contains, param)
V1_CASES = [
    ("v1-bad-json", "/v1/chat/completions", b"{bad", 400, "invalid character 'b'", None),
    ("v1-empty-body", "/v1/chat/completions", b"", 400, "missing request body", None),
    ("v1-array-body", "/v1/chat/completions", b"[1]", 400, "expected an object", None),
    ("v1-no-messages", "/v1/chat/completions", {"model": CHAT}, 400, "too short", "messages"),
    (
        "v1-messages-string",
        "/v1/chat/completions",
        {**V1_CHAT, "messages": "hi"},
        400,
        "Invalid type for 'messages'",
        "messages",
    ),
    (
        "v1-max-tokens-string",
        "/v1/chat/completions",
        {**V1_CHAT, "max_tokens": "8"},
        400,
        "Invalid type for 'max_tokens'",
        "max_tokens",
    ),
    (
        "v1-temperature-bool",
        "/v1/chat/completions",
        {**V1_CHAT, "temperature": True},
        400,
        "Invalid type for 'temperature'",
        "temperature",
    ),
    ("v1-stop-numbers", "/v1/chat/completions", {**V1_CHAT, "stop": [1]}, 400, "stop", "stop"),
    ("v1-n-2", "/v1/chat/completions", {**V1_CHAT, "n": 2}, 400, "n=1", "n"),
    (
        "v1-content-number",
        "/v1/chat/completions",
        {**V1_CHAT, "messages": [{"role": "user", "content": 5}]},
        400,
        "invalid message content type",
        "messages",
    ),
    (
        "v1-bad-tool-arguments",
        "/v1/chat/completions",
        {
            **V1_CHAT,
            "messages": [
                user(),
                {
                    "role": "assistant",
                    "tool_calls": [{"function": {"name": "f", "arguments": "{"}}],
                },
            ],
        },
        400,
        "invalid tool call arguments",
        "messages",
    ),
    (
        "v1-bad-effort",
        "/v1/chat/completions",
        {**V1_CHAT, "reasoning_effort": "max"},
        400,
        "invalid reasoning value",
        "reasoning_effort",
    ),
    (
        "v1-bad-response-format",
        "/v1/chat/completions",
        {**V1_CHAT, "response_format": {"type": "yaml"}},
        400,
        "response_format.type",
        "response_format.type",
    ),
    (
        "v1-tools-strings",
        "/v1/chat/completions",
        {**V1_CHAT, "tools": ["f"]},
        400,
        "tools",
        "tools",
    ),
    (
        "v1-tool-without-name",
        "/v1/chat/completions",
        {**V1_CHAT, "tools": [{"type": "function", "function": {}}]},
        400,
        "invalid tools",
        None,
    ),
    (
        "v1-tool-choice-unknown",
        "/v1/chat/completions",
        {**V1_CHAT, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        400,
        "no tool named 'nope'",
        "tool_choice",
    ),
    (
        "v1-missing-model",
        "/v1/chat/completions",
        {**V1_CHAT, "model": ""},
        400,
        "model is required",
        None,
    ),
    (
        "v1-unknown-model",
        "/v1/chat/completions",
        {**V1_CHAT, "model": "nope"},
        404,
        "'nope' not found",
        None,
    ),
    (
        "v1-completion-prompts",
        "/v1/completions",
        {"model": CHAT, "prompt": ["a", "b"]},
        400,
        "one prompt",
        "prompt",
    ),
    (
        "v1-completion-prompt-number",
        "/v1/completions",
        {"model": CHAT, "prompt": 5},
        400,
        "prompt",
        "prompt",
    ),
    ("v1-embed-no-input", "/v1/embeddings", {"model": EMBED}, 400, "invalid input", "input"),
    (
        "v1-embed-tokens",
        "/v1/embeddings",
        {"model": EMBED, "input": [[1, 2]]},
        400,
        "invalid input type",
        "input",
    ),
    (
        "v1-embed-encoding",
        "/v1/embeddings",
        {"model": EMBED, "input": "x", "encoding_format": "hex"},
        400,
        "encoding_format",
        "encoding_format",
    ),
    (
        "v1-embed-dimensions",
        "/v1/embeddings",
        {"model": EMBED, "input": "x", "dimensions": 0},
        400,
        "dimensions",
        "dimensions",
    ),
    (
        "v1-embed-unknown-model",
        "/v1/embeddings",
        {"model": "nope", "input": "x"},
        404,
        "not found",
        None,
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "words", "param"),
    [pytest.param(*case[1:], id=case[0]) for case in V1_CASES],
)
def test_v1_bad_input_gets_openais_error_object(
    server_url, server, path, body, status, words, param
):
    _, log_path = server
    mark = log_size(log_path)
    resp = httpx.post(
        server_url + path,
        content=body if isinstance(body, bytes) else json.dumps(body),
        timeout=120,
    )
    assert resp.status_code == status, resp.text[:300]
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"] and error["param"] == param
    kind = {400: "invalid_request_error", 404: "not_found_error"}[status]
    assert error["type"] == kind
    assert error["code"] == ("model_not_found" if status == 404 else None)
    healthy(server_url)
    assert "Traceback" not in log_since(log_path, mark)
