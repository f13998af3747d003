"""Ollama's request structs (api/types.go, v0.12) as `go_json` types: what each route's
body may hold, so a wrong type gets Go's error text."""

from __future__ import annotations

from .go_json import Any, Basic, Bytes, Custom, Int, Map, Slice, Struct, keep_alive_seconds
from .protocol import check_think

STRING = Basic("string", (str,))
BOOL = Basic("bool", (bool,))
INT = Int()
OPTIONS = Map()
IMAGES = Slice(Bytes(), "[]api.ImageData")
KEEP_ALIVE = Custom(keep_alive_seconds)
THINK = Custom(check_think)

TOOL_CALL = Struct(
    "ToolCall",
    {
        "id": STRING,
        "function": Struct(
            "ToolCallFunction",
            {"index": INT, "name": STRING, "arguments": Map("api.ToolCallFunctionArguments")},
        ),
    },
)
MESSAGE = Struct(
    "Message",
    {
        "role": STRING,
        "content": STRING,
        "thinking": STRING,
        "images": IMAGES,
        "tool_calls": Slice(TOOL_CALL, "[]api.ToolCall"),
        "tool_name": STRING,
        "tool_call_id": STRING,
    },
    own_decoder=True,
)
TOOL = Struct(
    "Tool",
    {"type": STRING, "items": Any(), "function": Struct("ToolFunction", {"name": STRING})},
)
_SHARED = {
    "model": STRING,
    "stream": BOOL,
    "format": Any(),
    "keep_alive": KEEP_ALIVE,
    "options": OPTIONS,
    "think": THINK,
    "truncate": BOOL,
    "shift": BOOL,
    "logprobs": BOOL,
    "top_logprobs": INT,
}
CHAT_REQUEST = Struct(
    "ChatRequest",
    {**_SHARED, "messages": Slice(MESSAGE, "[]api.Message"), "tools": Slice(TOOL, "api.Tools")},
)
GENERATE_REQUEST = Struct(
    "GenerateRequest",
    {
        **_SHARED,
        "prompt": STRING,
        "suffix": STRING,
        "system": STRING,
        "template": STRING,
        "context": Slice(INT, "[]int"),
        "raw": BOOL,
        "images": IMAGES,
    },
)
EMBED_REQUEST = Struct(
    "EmbedRequest",
    {
        "model": STRING,
        "input": Any(),
        "keep_alive": KEEP_ALIVE,
        "truncate": BOOL,
        "dimensions": INT,
        "options": OPTIONS,
    },
)
EMBEDDING_REQUEST = Struct(
    "EmbeddingRequest",
    {"model": STRING, "prompt": STRING, "keep_alive": KEEP_ALIVE, "options": OPTIONS},
)
SHOW_REQUEST = Struct(
    "ShowRequest",
    {
        "model": STRING,
        "name": STRING,
        "system": STRING,
        "template": STRING,
        "verbose": BOOL,
        "options": OPTIONS,
    },
)
PULL_REQUEST = Struct(
    "PullRequest",
    {"model": STRING, "name": STRING, "insecure": BOOL, "stream": BOOL},
)
COPY_REQUEST = Struct("CopyRequest", {"source": STRING, "destination": STRING})
DELETE_REQUEST = Struct("DeleteRequest", {"model": STRING, "name": STRING})


def go_message(message: dict) -> dict:
    """A checked message as Go holds it: missing or null fields are zero values, and the
    role lower-cased (api.Message.UnmarshalJSON)."""
    out = {k: v for k, v in message.items() if v is not None}
    out["role"] = (out.get("role") or "").lower()
    out["content"] = out.get("content") or ""
    if "tool_calls" in out:
        calls = []
        for call in out["tool_calls"]:
            function = {
                k: v for k, v in ((call or {}).get("function") or {}).items() if v is not None
            }
            calls.append({**(call or {}), "function": {"name": "", "arguments": {}, **function}})
        out["tool_calls"] = calls
    return out
