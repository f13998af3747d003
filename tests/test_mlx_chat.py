"""ChatMLX's plumbing without a model: message dicts, chunk assembly, async bridge."""

from __future__ import annotations

import asyncio
import threading

import pytest
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from localllm_nb.backends._mlx_chat import chat_chunks, iterate_in_thread, to_chat_dict
from localllm_nb.backends._mlx_text import GenerationFigures, Piece, ToolCallSplitter

FIGURES = GenerationFigures(
    prompt_tokens=10,
    prompt_cached_tokens=4,
    prompt_tps=50.0,
    generation_tokens=20,
    generation_tps=8.0,
    peak_memory=0.1,
    finish_reason="stop",
    model_name="m",
)


def test_message_dicts():
    assert to_chat_dict(SystemMessage("s")) == {"role": "system", "content": "s"}
    assert to_chat_dict(HumanMessage([{"type": "text", "text": "a"}, "b"])) == {
        "role": "user",
        "content": "ab",
    }
    call = {"name": "f", "args": {"x": 1}, "id": "c1"}
    assert to_chat_dict(AIMessage("", tool_calls=[call]))["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    ]
    assert to_chat_dict(ToolMessage("42", tool_call_id="c1", name="f")) == {
        "role": "tool",
        "content": "42",
        "tool_call_id": "c1",
        "name": "f",
    }
    assert to_chat_dict(ChatMessage(role="developer", content="d"))["role"] == "developer"


def test_chunks_carry_tool_calls_usage_and_figures():
    pieces = [
        Piece("Let me check. <tool"),
        Piece('_call>{"name": "get_weather", '),
        Piece('"arguments": {"city": "Paris"}}</tool_call>'),
        Piece("", FIGURES),
    ]
    chunks = list(chat_chunks(pieces, ToolCallSplitter()))
    message = generate_from_stream(iter(chunks)).generations[0].message
    assert message.content == "Let me check. "
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert message.tool_calls[0]["id"].startswith("call_")
    assert message.usage_metadata == {
        "input_tokens": 10,
        "output_tokens": 20,
        "total_tokens": 30,
        "input_token_details": {"cache_read": 4},
    }
    assert chunks[-1].generation_info == {
        "prompt_tokens": 10,
        "prompt_cached_tokens": 4,
        "prompt_tps": 50.0,
        "generation_tokens": 20,
        "generation_tps": 8.0,
        "peak_memory": 0.1,
        "finish_reason": "stop",
        "model_name": "m",
    }


def test_chunks_without_tools_pass_text_through():
    chunks = list(chat_chunks([Piece("a"), Piece(""), Piece("b", FIGURES)]))
    assert [c.text for c in chunks] == ["a", "b"]  # empty pieces are not sent


def test_thread_bridge_yields_in_order_and_raises():
    def items():
        yield from range(3)
        raise KeyError("boom")

    async def main():
        got = []
        with pytest.raises(KeyError, match="boom"):
            async for item in iterate_in_thread(items):
                got.append(item)
        return got

    assert asyncio.run(main()) == [0, 1, 2]


def test_thread_bridge_stops_the_worker_when_left_early():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    async def main():
        stream = iterate_in_thread(endless)
        async for _ in stream:
            break
        await stream.aclose()

    asyncio.run(main())
    assert closed.wait(5)


def test_tracing_parameters_like_other_chat_models():
    """LangChain's `_get_ls_params`, which its standard unit tests check."""
    from localllm_nb.backends.mlx import ChatMLX, MLXPipeline

    llm = MLXPipeline(model_id="smollm2:135m", pipeline_kwargs={"temp": 0.2, "max_tokens": 5})
    assert llm._get_ls_params(stop=["x"]) == {
        "ls_provider": "mlx",
        "ls_model_name": "smollm2:135m",
        "ls_model_type": "llm",
        "ls_temperature": 0.2,
        "ls_max_tokens": 5,
        "ls_stop": ["x"],
    }
    params = ChatMLX(llm=llm)._get_ls_params(temp=0.7)
    assert params["ls_model_type"] == "chat" and params["ls_temperature"] == 0.7
    assert params["ls_model_name"] == "smollm2:135m" and "ls_stop" not in params
    # A per-call model override is what the trace names (LangChain's standard unit test).
    assert ChatMLX(llm=llm)._get_ls_params(model="other")["ls_model_name"] == "other"
    own = ChatMLX(llm=llm, temperature=0.3, max_tokens=7, stop=["y"])._get_ls_params()
    assert (own["ls_temperature"], own["ls_max_tokens"], own["ls_stop"]) == (0.3, 7, ["y"])


def test_chunks_carry_logprobs_where_chat_ollama_does():
    entry = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}
    held = {"token": "<", "logprob": -2.0, "bytes": [60], "top_logprobs": []}
    pieces = [Piece("Hi", logprobs=(entry,)), Piece("", logprobs=(held,)), Piece("", FIGURES)]
    chunks = list(chat_chunks(pieces))
    # A piece whose text is held back still sends its entries, on a chunk of its own.
    assert [c.generation_info for c in chunks[:2]] == [{"logprobs": [entry]}, {"logprobs": [held]}]
    assert "logprobs" not in chunks[2].generation_info
    # Merged as LangChain merges chunks (BaseChatModel copies this to response_metadata).
    info = generate_from_stream(iter(chunks)).generations[0].generation_info
    assert info["logprobs"] == [entry, held] and info["finish_reason"] == "stop"
