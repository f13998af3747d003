"""langchain-openai's `ChatOpenAI` and `OpenAIEmbeddings` against the embedded server's
`/v1`, unchanged, over real HTTP (as tutorials point them at Ollama)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

CHAT = "smollm2:135m"


@pytest.fixture(scope="module")
def base_url(server_url):
    return server_url + "/v1"


def chat(base_url, **extra) -> ChatOpenAI:
    settings = {"temperature": 0, "seed": 3, "max_tokens": 12, "max_retries": 0, **extra}
    return ChatOpenAI(model=CHAT, base_url=base_url, api_key="unused", **settings)


def test_invoke_and_stream_with_usage(base_url):
    llm = chat(base_url, stream_usage=True)
    whole = llm.invoke("What is 2 + 2?")
    assert whole.content and whole.usage_metadata["output_tokens"] > 0
    assert whole.response_metadata["model_name"] == CHAT
    assert whole.response_metadata["finish_reason"] in ("stop", "length")

    total = None
    for chunk in llm.stream("What is 2 + 2?"):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total.content == whole.content
    # The usage chunk arrives once: summed over chunks it is the whole answer's.
    assert total.usage_metadata == whole.usage_metadata


def test_bind_tools_then_answer_the_tool_result(base_url):
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}"

    llm = chat(base_url, max_tokens=32).bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris?")
    first = llm.invoke([question])
    (call,) = first.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    result = ToolMessage(get_weather(**call["args"]), tool_call_id=call["id"])
    final = llm.invoke([question, first, result])
    assert final.content and not final.tool_calls


def test_with_structured_output_json_schema(base_url):
    class Person(BaseModel):
        """A person."""

        name: str
        age: int

    llm = chat(base_url, max_tokens=32).with_structured_output(Person, method="json_schema")
    person = llm.invoke("Invent a person.")
    assert isinstance(person, Person) and person.name


def test_openai_embeddings(base_url):
    embeddings = OpenAIEmbeddings(
        model="all-minilm",
        base_url=base_url,
        api_key="unused",
        check_embedding_ctx_length=False,  # it would send token ids, which Ollama refuses
        max_retries=0,
    )
    docs = embeddings.embed_documents(["a cat sat", "a dog ran", "stock prices fell"])
    query = embeddings.embed_query("a kitten sat")
    assert len(docs) == 3 and all(len(v) == 384 for v in docs)
    scores = np.array(docs) @ np.array(query)
    assert scores.argmax() == 0  # the nearest document is the one about a cat
