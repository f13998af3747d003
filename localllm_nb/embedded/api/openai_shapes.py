"""Native results (the `/api/chat`, `/api/generate` and `/api/embed` lines and replies)
-> OpenAI's response, chunk, embedding, model and error objects, as Ollama's `openai`
package shapes them. Pure functions and one small stream translator.

Per-token `logprobs` are not served yet; every choice carries `"logprobs": null`, the
one place where they will go (`_choice`)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime

import numpy as np

FINGERPRINT = "fp_ollama"
_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def error_object(status: int, message: str, param=None, code=None) -> dict:
    """OpenAI's error body; the type follows the status as Ollama's `NewError`.

    >>> error_object(404, "model 'x' not found", code="model_not_found")["error"]["type"]
    'not_found_error'
    """
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_body(path: str, status: int, message: str) -> dict:
    """The error body for a request refused before its route runs (a foreign origin, a
    body too large): OpenAI's object under `/v1/`, Ollama's everywhere else.

    >>> error_body("/api/chat", 403, "no"), error_body("/v1/models", 403, "no")["error"]["type"]
    ({'error': 'no'}, 'api_error')
    """
    return error_object(status, message) if path.startswith("/v1/") else {"error": message}


def new_id(prefix: str) -> str:
    """`chatcmpl-…` / `cmpl-…`: one id shared by every chunk of an answer."""
    return f"{prefix}-{secrets.randbelow(1000)}{secrets.token_hex(6)}"


def unix_time(iso: str) -> int:
    """An RFC 3339 time (`created_at`, `modified_at`) as Unix seconds.

    >>> unix_time("2025-10-26T17:15:24.097767Z")
    1761498924
    """
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except (AttributeError, ValueError):
        return int(time.time())


def usage(line: dict) -> dict:
    """Token counts of a final native line.

    >>> usage({"prompt_eval_count": 9, "eval_count": 3})
    {'prompt_tokens': 9, 'completion_tokens': 3, 'total_tokens': 12}
    """
    prompt, completion = line.get("prompt_eval_count", 0), line.get("eval_count", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def tool_calls(calls: list[dict]) -> list[dict]:
    """Native tool calls (arguments an object) as OpenAI's (arguments a JSON string).

    >>> tool_calls([{"id": "call_1", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}])
    [{'id': 'call_1', 'index': 0, 'type': 'function', 'function': {'name': 'f', 'arguments': '{"a":1}'}}]
    """
    return [
        {
            "id": call.get("id") or f"call_{secrets.token_hex(4)}",
            "index": call["function"].get("index", i),
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": json.dumps(
                    call["function"].get("arguments", {}), separators=(",", ":")
                ),
            },
        }
        for i, call in enumerate(calls)
    ]


def _message(holder: dict) -> dict:
    """The OpenAI message (or delta) of a native `message`: `reasoning` carries the
    thinking, where Ollama puts it."""
    out = {"role": "assistant", "content": holder.get("content", "")}
    if holder.get("thinking"):
        out["reasoning"] = holder["thinking"]
    if holder.get("tool_calls"):
        out["tool_calls"] = tool_calls(holder["tool_calls"])
    return out


def _finish(line: dict, called: bool):
    """The finish reason of a native line: None until the last one."""
    if not line.get("done"):
        return None
    return "tool_calls" if called else line.get("done_reason") or "stop"


def _choice(body_key: str, body, finish, logprobs=None) -> dict:
    return {"index": 0, body_key: body, "logprobs": logprobs, "finish_reason": finish}


def _envelope(cid: str, kind: str, model: str, choices: list, created: int | None = None) -> dict:
    return {
        "id": cid,
        "object": kind,
        "created": int(time.time()) if created is None else created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }


def chat_completion(cid: str, merged: dict) -> dict:
    """A non-streamed native chat reply as a `chat.completion`."""
    message = _message(merged["message"])
    finish = _finish(merged, bool(message.get("tool_calls")))
    out = _envelope(
        cid,
        "chat.completion",
        merged["model"],
        [_choice("message", message, finish)],
        unix_time(merged.get("created_at", "")),
    )
    out["usage"] = usage(merged)
    return out


def text_completion(cid: str, merged: dict) -> dict:
    """A non-streamed native generate reply as a `text_completion`."""
    choice = {"text": merged.get("response", ""), "index": 0, "logprobs": None}
    choice["finish_reason"] = _finish(merged, False)
    out = _envelope(
        cid, "text_completion", merged["model"], [choice], unix_time(merged.get("created_at", ""))
    )
    out["usage"] = usage(merged)
    return out


class StreamShape:
    """Turns native stream lines into OpenAI chunks for one answer: `chunks(line)` for
    each line, then `end()` for what follows the last one (the usage chunk)."""

    def __init__(self, kind: str, cid: str, include_usage: bool = False):
        self.kind = kind  # "chat" or "completion"
        self.cid = cid
        self.include_usage = include_usage
        self.called = False  # a tool call was sent: the finish reason is "tool_calls"
        self.final: dict | None = None
        self.model = ""

    def chunks(self, line: dict) -> list[dict]:
        if "error" in line:
            message = line["error"]
            return [error_object(500, message if isinstance(message, str) else json.dumps(message))]
        self.model = line.get("model", self.model)
        if line.get("done"):
            self.final = line
        if self.kind == "chat":
            delta = _message(line.get("message", {}))
            self.called = self.called or bool(delta.get("tool_calls"))
            choice = _choice("delta", delta, _finish(line, self.called))
            kind = "chat.completion.chunk"
        else:
            choice = {"text": line.get("response", ""), "index": 0, "logprobs": None}
            choice["finish_reason"] = _finish(line, False)
            kind = "text_completion"
        return [_envelope(self.cid, kind, self.model, [choice])]

    def end(self) -> list[dict]:
        """The usage chunk (`choices: []`) when asked for and the answer finished."""
        if not (self.include_usage and self.final is not None):
            return []
        kind = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        out = _envelope(self.cid, kind, self.model, [])
        out["usage"] = usage(self.final)
        return [out]


def sse(obj) -> bytes:
    """One server-sent event: `data: {...}` and a blank line."""
    text = (
        obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {text}\n\n".encode()


DONE = sse("[DONE]")


def _base64(vector: list[float]) -> str:
    """Little-endian float32 bytes in base64, as OpenAI sends them.

    >>> _base64([1.0])
    'AACAPw=='
    """
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def embedding_list(model: str, native: dict, encoding: str = "float") -> dict:
    """A native `/api/embed` reply as OpenAI's embedding list."""
    data = [
        {
            "object": "embedding",
            "embedding": _base64(vector) if encoding == "base64" else vector,
            "index": i,
        }
        for i, vector in enumerate(native.get("embeddings", []))
    ]
    count = native.get("prompt_eval_count", 0)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": count, "total_tokens": count},
    }


def model_object(name: str, modified_at: str) -> dict:
    """One `/v1/models` entry; `owned_by` is the name's namespace (`library` when it
    has none), as Ollama reports it.

    >>> model_object("me/m:1", "2025-01-01T00:00:00Z")
    {'id': 'me/m:1', 'object': 'model', 'created': 1735689600, 'owned_by': 'me'}
    """
    parts = name.split(":", 1)[0].split("/")
    owner = parts[-2] if len(parts) > 1 else "library"
    return {"id": name, "object": "model", "created": unix_time(modified_at), "owned_by": owner}
