"""The pure /v1 translation: OpenAI requests -> native bodies, native lines -> OpenAI
chunks (the HTTP behaviour is in test_server_openai*.py)."""

from __future__ import annotations

import pytest

from localllm_nb.embedded.api.errors import ApiError
from localllm_nb.embedded.api.openai_requests import chat_body, completion_body
from localllm_nb.embedded.api.openai_shapes import DONE, StreamShape, chat_completion, sse


def native_line(content="", done=False, **extra) -> dict:
    """A native chat line; `thinking` and `tool_calls` go in its message."""
    inner = {k: extra.pop(k) for k in ("thinking", "tool_calls") if k in extra}
    line = {"model": "m", "created_at": "2025-01-01T00:00:00Z", "done": done, **extra}
    line["message"] = {"role": "assistant", "content": content, **inner}
    return line


def test_chat_body_translates_history_tools_and_settings():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    body, usage = chat_body(
        {
            "model": "m",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Look: "},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                },
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "reasoning_effort": "high",
            "max_completion_tokens": 7,
            "temperature": 0.2,
        }
    )
    assert usage is True and body["stream"] is True
    user, assistant, tool = body["messages"][1:]
    assert user == {"role": "user", "content": "Look: ", "images": ["AAAA"]}
    assert assistant["tool_calls"] == [
        {"id": "call_1", "function": {"name": "f", "arguments": {"a": 1}}}
    ]
    assert tool["tool_name"] == "f"
    assert body["format"] == "json" and body["think"] == "high"
    assert body["options"]["num_predict"] == 7 and body["options"]["temperature"] == 0.2
    assert body["options"]["top_p"] == 1.0 and body["options"]["tool_choice"] == "auto"


def test_include_usage_needs_a_stream():
    _, usage = chat_body(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "stream_options": {"include_usage": True},
        }
    )
    assert usage is False


def test_completion_body_takes_one_prompt():
    body, _ = completion_body({"model": "m", "prompt": ["Hi"], "suffix": "!", "max_tokens": 3})
    assert body["prompt"] == "Hi" and body["suffix"] == "!" and body["options"]["num_predict"] == 3
    with pytest.raises(ApiError):
        completion_body({"model": "m", "prompt": [[1, 2]]})


def test_stream_shape_tool_call_then_usage():
    shape = StreamShape("chat", "chatcmpl-1", include_usage=True)
    call = {"id": "call_9", "function": {"index": 0, "name": "f", "arguments": {"x": "y"}}}
    first = shape.chunks(native_line(thinking="hmm"))[0]
    assert first["choices"][0]["delta"]["reasoning"] == "hmm"
    second = shape.chunks(native_line(tool_calls=[call]))[0]
    delta = second["choices"][0]["delta"]
    assert delta["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":"y"}'}
    final = native_line(done=True, done_reason="stop", prompt_eval_count=5, eval_count=2)
    last = shape.chunks(final)[0]
    # A stream that sent a tool call finishes with "tool_calls", as Ollama's.
    assert last["choices"][0]["finish_reason"] == "tool_calls"
    (usage,) = shape.end()
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 7


def test_stream_shape_error_and_no_usage_without_a_final_line():
    shape = StreamShape("chat", "chatcmpl-2", include_usage=True)
    (error,) = shape.chunks({"error": "server is shutting down"})
    assert error["error"]["message"] == "server is shutting down"
    assert shape.end() == []
    assert sse({"a": 1}) == b'data: {"a":1}\n\n' and DONE == b"data: [DONE]\n\n"


def test_chat_completion_from_a_merged_reply():
    merged = native_line(
        "4", done=True, done_reason="length", thinking="t", prompt_eval_count=3, eval_count=1
    )
    out = chat_completion("chatcmpl-3", merged)
    assert out["created"] == 1735689600 and out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "4", "reasoning": "t"}
    assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
