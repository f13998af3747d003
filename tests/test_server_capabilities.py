"""Structured output, tool calling and thinking on the embedded server, through the
unchanged ollama-python and langchain-ollama clients."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import httpx
import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from tests.models import CHAT, THINK

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


# --- capabilities ---------------------------------------------------------------------------


def test_capabilities_derive_from_templates(client):
    assert client.show(CHAT).capabilities == ["completion", "tools"]
    # Like qwen3: the thinking variant's template renders tools too.
    assert client.show(THINK).capabilities == ["completion", "tools", "thinking"]
    assert client.show(THINK).modelinfo["general.architecture"] == "llama"
    assert "<think>" in client.show(THINK).template


def test_tools_refused_by_a_model_without_the_capability(client):
    from localllm_nb.embedded.api.app import check_capabilities
    from localllm_nb.embedded.api.errors import ApiError
    from localllm_nb.embedded.models.registry import SMOLLM2

    # Every bundled chat model has tools, so the rule is shown on a template without them.
    plain = dataclasses.replace(SMOLLM2, template="{{ messages }}")
    with pytest.raises(ApiError) as err:
        check_capabilities(plain, "plain", "chat", None, [WEATHER])
    assert (err.value.status, err.value.message) == (400, "plain does not support tools")
    # An empty tools list means none, as langchain sends on every call.
    assert client.chat(
        model=CHAT,
        messages=[{"role": "user", "content": "Hi"}],
        tools=[],
        options={"num_predict": 3},
    ).done


# --- structured output ----------------------------------------------------------------------

PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def test_format_json_always_parses(client):
    for seed in (1, 2):
        reply = client.chat(
            model=CHAT,
            format="json",
            options={"seed": seed, "num_predict": 80},
            messages=[{"role": "user", "content": "Describe a cat."}],
        )
        assert isinstance(json.loads(reply.message.content), (dict, list))


def test_format_schema_output_validates(client):
    reply = client.generate(
        model=CHAT,
        prompt="Invent a person with a name and an age.",
        format=PERSON_SCHEMA,
        options={"temperature": 0.9, "seed": 5, "num_predict": 80},
    )
    assert reply.done_reason == "stop"
    data = json.loads(reply.response)
    assert set(data) == {"name", "age"}
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


class Person(BaseModel):
    """A person."""

    name: str = Field(description="The person's name")
    age: int = Field(description="The person's age in years")


class PersonDict(TypedDict):
    """A person."""

    name: Annotated[str, ..., "The person's name"]
    age: Annotated[int, ..., "The person's age in years"]


QUESTION = "Ada Lovelace is 36 years old. Return a JSON object with the keys name and age."


@pytest.mark.parametrize(
    "schema",
    [Person, PersonDict, Person.model_json_schema()],
    ids=["pydantic", "typeddict", "json-schema"],
)
@pytest.mark.parametrize("method", ["json_schema", "json_mode", "function_calling"])
def test_with_structured_output(server_url, schema, method):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=CHAT, base_url=server_url, temperature=0, num_predict=60)
    result = llm.with_structured_output(schema, method=method, include_raw=True).invoke(QUESTION)
    assert result["parsing_error"] is None
    parsed = result["parsed"]
    data = parsed.model_dump() if isinstance(parsed, BaseModel) else parsed
    assert isinstance(parsed, Person) if schema is Person else isinstance(parsed, dict)
    assert set(data) == {"name", "age"} and isinstance(data["age"], int)
    raw = result["raw"]
    if method == "function_calling":
        assert raw.tool_calls and raw.tool_calls[0]["args"] == data
    else:
        assert json.loads(raw.content) == data


def test_chat_ollama_json_mode(server_url):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=CHAT, base_url=server_url, format="json", num_predict=200, seed=2)
    reply = llm.invoke("Return a JSON object with one key, city, naming a city.")
    assert reply.response_metadata["done_reason"] == "stop"
    assert isinstance(json.loads(reply.content), dict)


# --- tool calling ---------------------------------------------------------------------------


def test_tool_call_arrives_whole_in_one_stream_line(server_url):
    body = {
        "model": CHAT,
        "tools": [WEATHER],
        "options": {"temperature": 0},
        "messages": [{"role": "user", "content": "What is the weather in Tokyo?"}],
    }
    with httpx.stream("POST", server_url + "/api/chat", json=body, timeout=120) as resp:
        lines = [json.loads(x) for x in resp.iter_lines() if x]
    with_calls = [x for x in lines if x["message"].get("tool_calls")]
    assert len(with_calls) == 1
    (call,) = with_calls[0]["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], dict)
    assert isinstance(call["function"]["arguments"]["city"], str)
    assert all(x["message"]["content"] == "" for x in lines)
    assert lines[-1]["done"]


def test_tool_round_trip_with_ollama_python(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat(model=CHAT, messages=messages, tools=[WEATHER], options={"temperature": 0})
    (call,) = first.message.tool_calls
    assert call.function.name == "get_weather"
    messages += [
        first.message,
        {"role": "tool", "content": "Sunny, 24 C", "tool_name": "get_weather"},
    ]
    final = client.chat(
        model=CHAT,
        messages=messages,
        tools=[WEATHER],
        options={"temperature": 0, "num_predict": 40},
    )
    assert not final.message.tool_calls
    assert final.message.content.strip()


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: First integer
        b: Second integer
    """
    return a * b


@pytest.mark.parametrize("streaming", [False, True])
def test_bind_tools_end_to_end(server_url, streaming):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_ollama import ChatOllama

    multiply_tool = tool(multiply)
    llm = ChatOllama(model=CHAT, base_url=server_url, temperature=0, num_predict=60)
    bound = llm.bind_tools([multiply_tool])

    def ask(messages):
        if not streaming:
            return bound.invoke(messages)
        chunks = list(bound.stream(messages))
        full = chunks[0]
        for chunk in chunks[1:]:
            full += chunk
        return full

    messages = [HumanMessage("What is 45 times 67?")]
    reply = ask(messages)
    (call,) = reply.tool_calls
    assert call["name"] == "multiply"
    assert set(call["args"]) == {"a", "b"}
    result = multiply_tool.invoke(call["args"])
    assert result == call["args"]["a"] * call["args"]["b"]
    messages += [reply, ToolMessage(str(result), tool_call_id=call["id"])]
    answer = ask(messages)
    assert not answer.tool_calls
    assert answer.content.strip()


# --- thinking -------------------------------------------------------------------------------


@pytest.mark.parametrize("think", [None, True, "low", "medium", "high"])
def test_thinking_streams_separately(server_url, think):
    body = {
        "model": THINK,
        "options": {"temperature": 0, "num_predict": 60, "think_budget": 12},
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
    }
    if think is not None:
        body["think"] = think
    with httpx.stream("POST", server_url + "/api/chat", json=body, timeout=120) as resp:
        lines = [json.loads(x) for x in resp.iter_lines() if x]
    thinking = "".join(x["message"].get("thinking", "") for x in lines)
    content = "".join(x["message"]["content"] for x in lines)
    assert thinking.strip() and content.strip()
    for text in (thinking, content):
        assert "<think>" not in text and "</think>" not in text
    # Thinking comes first, then the answer.
    first_content = next(i for i, x in enumerate(lines) if x["message"]["content"])
    assert all(not x["message"].get("thinking") for x in lines[first_content:])


def test_think_false_means_no_thinking(client):
    reply = client.chat(
        model=THINK,
        think=False,
        options={"temperature": 0, "num_predict": 20},
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )
    assert not reply.message.thinking
    assert reply.message.content and "<think>" not in reply.message.content


def test_generate_thinking_field(client):
    reply = client.generate(
        model=THINK,
        prompt="Why is the sky blue?",
        think=True,
        options={"temperature": 0, "num_predict": 60, "think_budget": 10},
    )
    assert reply.thinking and reply.response
    assert "</think>" not in reply.response


def test_thinking_budget_closes_the_block(client):
    def thinking(budget):
        return client.chat(
            model=THINK,
            messages=[{"role": "user", "content": "Plan a picnic."}],
            options={"temperature": 0, "num_predict": 80, "think_budget": budget},
        ).message.thinking

    short, longer = thinking(4), thinking(12)
    assert short and len(short) < len(longer)
    assert longer.startswith(short)


def test_levels_set_default_budgets(client):
    from localllm_nb.embedded.engine.steering import THINK_BUDGETS

    assert THINK_BUDGETS["low"] < THINK_BUDGETS["medium"] < THINK_BUDGETS["high"]
    reply = client.chat(
        model=THINK,
        think="low",
        options={"temperature": 0, "num_predict": 200},
        messages=[{"role": "user", "content": "Plan a picnic."}],
    )
    # The low budget bounds thinking; the rest of the 200 tokens can go to the answer.
    assert reply.eval_count <= 200
    assert len(reply.message.thinking.split()) <= THINK_BUDGETS["low"] + 2


@pytest.mark.parametrize("reasoning", [True, "low", False, None])
def test_langchain_reasoning(server_url, reasoning):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=THINK, base_url=server_url, reasoning=reasoning)
    # Options given at call time replace the model's; think_budget is our server's extension.
    reply = llm.invoke(
        "Why is the sky blue?", options={"temperature": 0, "num_predict": 60, "think_budget": 10}
    )
    assert "<think>" not in reply.content and "</think>" not in reply.content
    assert reply.content.strip()
    has_reasoning = bool(reply.additional_kwargs.get("reasoning_content"))
    assert has_reasoning == (reasoning not in (False, None))
