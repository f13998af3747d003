"""Structured output within num_predict on the embedded server, over HTTP with
langchain-ollama: a schema answer validates whenever num_predict holds the smallest valid
object (the 135M model would repeat "A cat is a cat" in `setup` until the budget ran
out), and a smaller num_predict is refused with the number of tokens the schema needs,
as Ollama's error JSON and as OpenAI's error object on /v1."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel

from tests.models import CHAT

PROMPT = "Tell me a joke about cats."


class Joke(BaseModel):
    """A joke."""

    setup: str
    punchline: str


@pytest.fixture(scope="module")
def needs(server_url) -> int:
    """Tokens of the smallest Joke answer, by the model's tokenizer: what the 400 says."""
    reply = httpx.post(
        f"{server_url}/api/chat",
        json={
            "model": CHAT,
            "messages": [{"role": "user", "content": PROMPT}],
            "format": Joke.model_json_schema(),
            "stream": False,
            "options": {"num_predict": 1},
        },
        timeout=120,
    )
    assert reply.status_code == 400
    message = reply.json()["error"]
    assert "num_predict is 1" in message
    return int(message.split("needs at least ")[1].split()[0])


def _joke(server_url, num_predict: int):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=CHAT, base_url=server_url, temperature=0, num_predict=num_predict)
    structured = llm.with_structured_output(Joke, method="json_schema", include_raw=True)
    return structured.invoke(PROMPT)


@pytest.mark.parametrize("extra", [0, 8, 30], ids=["smallest", "a-bit-more", "plenty"])
def test_schema_answer_validates_within_num_predict(server_url, needs, extra):
    result = _joke(server_url, needs + extra)
    assert result["parsing_error"] is None, result["raw"].content
    assert isinstance(result["parsed"], Joke)
    assert result["raw"].usage_metadata["output_tokens"] <= needs + extra
    if extra >= 8:  # room beyond the smallest answer is the model's own text
        assert result["parsed"].setup


def test_too_small_a_budget_says_how_many_tokens_the_schema_needs(server_url, needs):
    from ollama import ResponseError

    with pytest.raises(ResponseError, match=f"needs at least {needs} tokens") as error:
        _joke(server_url, needs - 1)
    assert error.value.status_code == 400


def test_v1_refuses_too_small_a_budget_with_openais_error_object(server_url, needs):
    schema = {"name": "Joke", "schema": Joke.model_json_schema()}
    reply = httpx.post(
        f"{server_url}/v1/chat/completions",
        json={
            "model": CHAT,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": needs - 1,
            "response_format": {"type": "json_schema", "json_schema": schema},
        },
        timeout=120,
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert f"needs at least {needs} tokens" in error["message"]
    assert error["type"] == "invalid_request_error"
