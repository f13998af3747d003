"""The unchanged clients, ollama-python and langchain-ollama, against the embedded server."""

from __future__ import annotations

import asyncio

import ollama
import pytest
from langchain_core.messages import AIMessageChunk

from tests.models import CHAT

FAST = {"temperature": 0, "num_predict": 12, "seed": 3}


def test_client_chat_streaming_and_not(client):
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    whole = client.chat(model=CHAT, messages=messages, options=FAST)
    assert whole.done and whole.message.role == "assistant" and whole.message.content
    parts = list(client.chat(model=CHAT, messages=messages, options=FAST, stream=True))
    assert "".join(p.message.content for p in parts) == whole.message.content
    assert parts[-1].done and parts[-1].eval_count == whole.eval_count


def test_client_generate_streaming_and_not(client):
    whole = client.generate(model=CHAT, prompt="Name a colour.", options=FAST)
    parts = list(client.generate(model=CHAT, prompt="Name a colour.", options=FAST, stream=True))
    assert "".join(p.response for p in parts) == whole.response
    assert whole.context and parts[-1].context == whole.context


def test_client_model_management(client):
    names = [m.model for m in client.list().models]
    assert CHAT in names
    shown = client.show(CHAT)
    assert "completion" in shown.capabilities and shown.modelinfo["general.architecture"] == "llama"
    client.generate(model=CHAT, prompt="", keep_alive="10m")
    running = client.ps().models
    assert any(m.model == CHAT for m in running)
    assert [p.status for p in client.pull("smollm2:latest", stream=True)][-1] == "success"
    assert client.pull("smollm2:latest").status == "success"
    client.copy(CHAT, "copied:tag")
    assert "copied:tag" in [m.model for m in client.list().models]
    client.delete("copied:tag")
    with pytest.raises(ollama.ResponseError) as err:
        client.delete("copied:tag")
    assert err.value.status_code == 404


def test_client_errors_are_response_errors(client):
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="missing-model", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 404
    assert err.value.error == "model 'missing-model' not found"
    with pytest.raises(ollama.ResponseError) as err:
        list(
            client.chat(
                model=CHAT, messages=[{"role": "user", "content": "x"}], think=True, stream=True
            )
        )
    assert err.value.status_code == 400
    assert "does not support thinking" in err.value.error


def test_async_client(server_url):
    async def go():
        client = ollama.AsyncClient(host=server_url)
        whole = await client.chat(
            model=CHAT, messages=[{"role": "user", "content": "Hi"}], options=FAST
        )
        parts = [
            p
            async for p in await client.generate(model=CHAT, prompt="Hi", options=FAST, stream=True)
        ]
        listed = await client.list()
        shown = await client.show(CHAT)
        running = await client.ps()
        return whole, parts, listed, shown, running

    whole, parts, listed, shown, running = asyncio.run(go())
    assert whole.done and whole.message.content
    assert parts[-1].done and "".join(p.response for p in parts)
    assert CHAT in [m.model for m in listed.models]
    assert "completion" in shown.capabilities
    assert any(m.model == CHAT for m in running.models)


# --- langchain-ollama --------------------------------------------------------------------


@pytest.fixture
def chat(server_url):
    from langchain_ollama import ChatOllama

    return ChatOllama(model=CHAT, base_url=server_url, temperature=0, num_predict=12, seed=3)


def test_chat_ollama_invoke_fills_metadata(chat):
    reply = chat.invoke([("system", "You are terse."), ("human", "Name a planet.")])
    assert reply.content
    meta = reply.response_metadata
    assert (
        meta["model"] == CHAT and meta["done"] is True and meta["done_reason"] in ("stop", "length")
    )
    assert meta["eval_count"] > 0 and meta["total_duration"] > 0 and meta["eval_duration"] > 0
    usage = reply.usage_metadata
    assert usage["input_tokens"] == meta["prompt_eval_count"]
    assert usage["output_tokens"] == meta["eval_count"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_chat_ollama_stream_matches_invoke(chat):
    chunks = list(chat.stream("Name a planet."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    assert full.content == chat.invoke("Name a planet.").content
    assert full.response_metadata["done_reason"] in ("stop", "length")
    assert full.usage_metadata["output_tokens"] > 0


def test_chat_ollama_astream_and_batch(chat):
    async def go():
        return [c async for c in chat.astream("Name a planet.")]

    chunks = asyncio.run(go())
    assert "".join(c.content for c in chunks) == chat.invoke("Name a planet.").content
    replies = chat.batch(["Name a planet.", "Name a colour."])
    assert len(replies) == 2 and all(r.content for r in replies)
    assert replies[0].content == "".join(c.content for c in chunks)


def test_validate_model_on_init(server_url):
    from langchain_ollama import ChatOllama

    ChatOllama(model=CHAT, base_url=server_url, validate_model_on_init=True)
    with pytest.raises(ValueError, match="not found"):
        ChatOllama(model="absent-model", base_url=server_url, validate_model_on_init=True)


def test_ollama_llm(server_url):
    from langchain_ollama import OllamaLLM

    llm = OllamaLLM(model=CHAT, base_url=server_url, temperature=0, num_predict=10, seed=1)
    text = llm.invoke("The capital of France is")
    assert text
    assert "".join(llm.stream("The capital of France is")) == text


def test_async_client_model_management(server_url):
    async def go():
        client = ollama.AsyncClient(host=server_url)
        pulled = [p.status async for p in await client.pull("smollm2", stream=True)]
        await client.copy(CHAT, "async-copy:1")
        listed = [m.model for m in (await client.list()).models]
        await client.delete("async-copy:1")
        after = [m.model for m in (await client.list()).models]
        return pulled, listed, after

    pulled, listed, after = asyncio.run(go())
    assert pulled[-1] == "success"
    assert "async-copy:1" in listed and "async-copy:1" not in after
