"""The official `openai` client against the embedded server's `/v1`, over real HTTP:
chat completions streamed and not, usage, stop, token limits, tools and tool_choice,
response_format, reasoning, legacy completions, embeddings and models."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import openai
import pytest

CHAT = "smollm2:135m"
THINK = "smollm2:135m-think"
EMBED = "all-minilm"
FAST = {"temperature": 0, "seed": 3, "max_tokens": 12}
HELLO = [{"role": "user", "content": "What is 2 + 2?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def client(server_url):
    return openai.OpenAI(base_url=server_url + "/v1", api_key="unused", max_retries=0)


def test_chat_completion_streamed_and_not(client):
    whole = client.chat.completions.create(model=CHAT, messages=HELLO, **FAST)
    assert whole.object == "chat.completion" and whole.id.startswith("chatcmpl-")
    assert whole.model == CHAT and whole.system_fingerprint == "fp_ollama"
    choice = whole.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length") and choice.logprobs is None
    usage = whole.usage
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    chunks = list(
        client.chat.completions.create(
            model=CHAT, messages=HELLO, stream=True, stream_options={"include_usage": True}, **FAST
        )
    )
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == choice.message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == choice.finish_reason and not any(finishes[:-1])
    # The last chunk carries the usage and no choices (stream_options.include_usage).
    assert chunks[-1].choices == [] and chunks[-1].usage == usage
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model=CHAT, messages=HELLO, stream=True, **FAST))
    assert chunks[-1].choices[0].finish_reason and all(c.usage is None for c in chunks)


def test_max_completion_tokens_and_max_tokens_cap_the_answer(client):
    long = [{"role": "user", "content": "Write a long story about a dragon."}]
    for limit in ({"max_tokens": 5}, {"max_completion_tokens": 3, "max_tokens": 30}):
        reply = client.chat.completions.create(
            model=CHAT, messages=long, temperature=0, seed=1, **limit
        )
        cap = limit.get("max_completion_tokens", limit.get("max_tokens"))
        assert reply.usage.completion_tokens == cap
        assert reply.choices[0].finish_reason == "length"


def test_stop_ends_the_answer_before_the_stop_text(client):
    free = client.chat.completions.create(model=CHAT, messages=HELLO, **FAST)
    text = free.choices[0].message.content
    words = text.split()
    assert len(words) >= 2, text
    stop = words[1]
    stopped = client.chat.completions.create(model=CHAT, messages=HELLO, stop=[stop], **FAST)
    content = stopped.choices[0].message.content
    assert stop not in content and text.startswith(content)
    assert stopped.choices[0].finish_reason == "stop"


def test_seed_makes_sampling_repeatable(client):
    def sample():
        reply = client.chat.completions.create(
            model=CHAT, messages=HELLO, temperature=1.5, top_p=0.95, seed=42, max_tokens=10
        )
        return reply.choices[0].message.content

    assert sample() == sample()


def test_tools_give_a_tool_call(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    reply = client.chat.completions.create(
        model=CHAT, messages=messages, tools=[WEATHER], temperature=0, max_tokens=32
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str) and call.id

    # The tool's result goes back by tool_call_id; the model then answers in text.
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"},
    ]
    final = client.chat.completions.create(
        model=CHAT, messages=messages, tools=[WEATHER], temperature=0, max_tokens=16
    )
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls


def test_tool_choice_names_the_function_or_none(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    named = client.chat.completions.create(
        model=CHAT,
        messages=messages,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        temperature=0,
        max_tokens=32,
    )
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["get_time"]
    none = client.chat.completions.create(
        model=CHAT, messages=messages, tools=[WEATHER], tool_choice="none", **FAST
    )
    assert none.choices[0].message.content and not none.choices[0].message.tool_calls


def test_streamed_tool_call(client):
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    chunks = list(
        client.chat.completions.create(
            model=CHAT,
            messages=messages,
            tools=[WEATHER],
            stream=True,
            temperature=0,
            max_tokens=32,
        )
    )
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert [t.function.name for t in calls] == ["get_weather"]
    assert "city" in json.loads(calls[0].function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_response_format_json_schema_and_json_object(client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    reply = client.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        temperature=0,
        max_tokens=32,
    )
    person = json.loads(reply.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)
    obj = client.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "Give a JSON object."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=16,
    )
    assert isinstance(json.loads(obj.choices[0].message.content), dict)


def test_reasoning_effort_and_the_reasoning_field(client):
    thought = client.chat.completions.create(
        model=THINK, messages=HELLO, reasoning_effort="low", temperature=0, max_tokens=16
    )
    message = thought.choices[0].message
    reasoning = (message.model_extra or {}).get("reasoning")
    assert reasoning and "<think>" not in reasoning
    assert "<think>" not in (message.content or "")
    chunks = list(
        client.chat.completions.create(
            model=THINK, messages=HELLO, reasoning_effort="low", stream=True, **FAST
        )
    )
    streamed = "".join((c.choices[0].delta.model_extra or {}).get("reasoning", "") for c in chunks)
    assert streamed
    off = client.chat.completions.create(
        model=THINK, messages=HELLO, reasoning_effort="none", **FAST
    )
    assert not (off.choices[0].message.model_extra or {}).get("reasoning")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=CHAT, messages=HELLO, reasoning_effort="low", **FAST)
    assert "does not support thinking" in err.value.message


def test_legacy_completions(client):
    whole = client.completions.create(model=CHAT, prompt="The sky is", **FAST)
    assert whole.object == "text_completion" and whole.id.startswith("cmpl-")
    assert whole.choices[0].text and whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage.completion_tokens > 0
    chunks = list(
        client.completions.create(
            model=CHAT,
            prompt="The sky is",
            stream=True,
            stream_options={"include_usage": True},
            **FAST,
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    # The bundled model's template has no suffix: Ollama's answer for such a model.
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=CHAT, prompt="def f(", suffix="return x", **FAST)
    assert "does not support insert" in err.value.message


def test_embeddings_float_base64_and_dimensions(client):
    texts = ["a cat sat", "a dog ran"]
    floats = client.embeddings.create(model=EMBED, input=texts)
    assert [d.index for d in floats.data] == [0, 1] and floats.model == EMBED
    vectors = np.array([d.embedding for d in floats.data])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0

    raw = client.embeddings.with_raw_response.create(
        model=EMBED, input=texts, encoding_format="base64"
    ).http_response.json()
    decoded = np.array(
        [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in raw["data"]]
    )
    assert np.allclose(decoded, vectors, atol=1e-6)
    # The client asks for base64 by default and decodes it itself.
    assert np.allclose(
        client.embeddings.create(model=EMBED, input=texts).data[0].embedding, vectors[0], atol=1e-6
    )

    short = client.embeddings.create(model=EMBED, input="a cat sat", dimensions=8)
    cut = np.array(short.data[0].embedding)
    assert cut.shape == (8,) and np.isclose(np.linalg.norm(cut), 1, atol=1e-5)
    assert np.allclose(cut, vectors[0][:8] / np.linalg.norm(vectors[0][:8]), atol=1e-5)


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert CHAT in ids and THINK in ids
    model = client.models.retrieve(CHAT)
    assert model.id == CHAT and model.object == "model" and model.owned_by == "library"
    assert model.created > 1_600_000_000
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("missing-model")
    assert err.value.code == "model_not_found"


def test_unknown_model_is_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="missing-model", messages=HELLO, **FAST)
    assert err.value.code == "model_not_found" and "missing-model" in err.value.message
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="missing-model", input="x")


def test_body_over_the_limit_is_refused_in_openais_shape(server_url):
    big = json.dumps({"model": CHAT, "messages": [{"role": "user", "content": "x" * (3 << 20)}]})
    resp = httpx.post(server_url + "/v1/chat/completions", content=big, timeout=60)
    assert resp.status_code == 413
    assert "too large" in resp.json()["error"]["message"]


def test_leaving_a_stream_stops_its_generation(client, server_url):
    # Left running, this answer would hold the model for thousands of tokens: minutes here.
    long = [{"role": "user", "content": "Write a very long story about a dragon."}]
    stream = client.chat.completions.create(
        model=CHAT, messages=long, stream=True, max_tokens=4000, temperature=1.0
    )
    for i, _ in enumerate(stream):
        if i == 5:
            break
    stream.close()
    # The next request queues behind it unless the server stopped it when the client left;
    # its total_duration counts the wait.
    body = {"model": CHAT, "stream": False, "messages": HELLO, "options": {"num_predict": 3}}
    final = httpx.post(server_url + "/api/chat", json=body, timeout=300).json()
    assert final["done"]
    assert final["total_duration"] / 1e9 < 20, "the abandoned generation kept the model busy"
