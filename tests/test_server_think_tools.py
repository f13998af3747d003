"""A model with thinking and tools together, as qwen3 or gpt-oss: the bundled thinking
variant thinks, then answers with one constrained tool call, and after the tool's result
answers in text. Through the unchanged ollama-python and langchain-ollama clients."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.models import THINK

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}

# A small thinking budget keeps each request short; num_predict leaves room for the call.
FAST = {"temperature": 0, "num_predict": 60, "think_budget": 12}


def test_template_renders_tools_calls_and_results(client):
    from localllm_nb.embedded.engine.templates import render_chat
    from localllm_nb.embedded.models.registry import SMOLLM2_THINK

    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "Sunny, 24 C"},
    ]
    prompt = render_chat(SMOLLM2_THINK.template, messages, tools=[WEATHER], thinking=True)
    assert json.dumps(WEATHER) in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in (
        prompt
    )
    assert "<tool_response>\nSunny, 24 C\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert client.show(THINK).template == SMOLLM2_THINK.template


def test_think_then_one_call_then_text(client):
    think = True
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat(model=THINK, messages=messages, tools=[WEATHER], think=think, options=FAST)
    # The model thinks first (what it writes there is its own), then makes one call.
    assert first.message.thinking and "<think>" not in first.message.thinking
    assert "</think>" not in first.message.thinking
    (call,) = first.message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments["city"], str)
    assert first.message.content == ""
    assert first.done_reason == "stop"

    messages += [
        first.message,
        {"role": "tool", "content": "Sunny, 24 C", "tool_name": "get_weather"},
    ]
    final = client.chat(model=THINK, messages=messages, tools=[WEATHER], think=think, options=FAST)
    assert not final.message.tool_calls
    assert final.message.thinking
    assert final.message.content.strip()
    assert "<think>" not in final.message.content and "</think>" not in final.message.content


def test_think_false_with_tools_calls_at_once(client):
    reply = client.chat(
        model=THINK,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        think=False,
        options=FAST,
    )
    assert not reply.message.thinking
    (call,) = reply.message.tool_calls
    assert call.function.name == "get_weather"


def test_streamed_thinking_comes_before_the_call(server_url):
    body = {
        "model": THINK,
        "think": True,
        "tools": [WEATHER],
        "options": FAST,
        "messages": [{"role": "user", "content": "What is the weather in Tokyo?"}],
    }
    with httpx.stream("POST", server_url + "/api/chat", json=body, timeout=120) as resp:
        lines = [json.loads(x) for x in resp.iter_lines() if x]
    kinds = [
        "call" if x["message"].get("tool_calls") else "think"
        for x in lines
        if x["message"].get("tool_calls") or x["message"].get("thinking")
    ]
    assert kinds[-1] == "call" and kinds.count("call") == 1 and kinds[0] == "think"
    assert all(x["message"]["content"] == "" for x in lines)


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: First integer
        b: Second integer
    """
    return a * b


@pytest.mark.parametrize("streaming", [False, True])
def test_langchain_agent_round_trip_with_reasoning(server_url, streaming):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_ollama import ChatOllama

    multiply_tool = tool(multiply)
    llm = ChatOllama(model=THINK, base_url=server_url, reasoning=True)
    bound = llm.bind_tools([multiply_tool])
    # Options given at call time replace the model's; think_budget is our extension.
    options = FAST

    def ask(messages):
        if not streaming:
            return bound.invoke(messages, options=options)
        chunks = list(bound.stream(messages, options=options))
        full = chunks[0]
        for chunk in chunks[1:]:
            full += chunk
        return full

    messages = [HumanMessage("What is 45 times 67?")]
    reply = ask(messages)
    assert reply.additional_kwargs.get("reasoning_content")
    (call,) = reply.tool_calls
    assert call["name"] == "multiply" and set(call["args"]) == {"a", "b"}
    result = multiply_tool.invoke(call["args"])
    messages += [reply, ToolMessage(str(result), tool_call_id=call["id"])]
    answer = ask(messages)
    assert not answer.tool_calls
    assert answer.content.strip()
    assert "<think>" not in answer.content and "</think>" not in answer.content
