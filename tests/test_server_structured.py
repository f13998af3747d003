"""JSON answers that always parse, as a new user asks for them: langchain-ollama's
documented calls at temperature 0 and without num_predict (so the server's 512-token cap
applies). Before strings were bounded, the 135M model stayed inside one string until the
cap: the answer was cut (or closed without its later keys) and a function call came back
as text. Each answer must parse, schema answers validate, and done_reason is reported."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from tests.models import CHAT

QUESTION = "Tell me a joke about cats. Answer in JSON with the keys setup and punchline."
JOKE_SCHEMA = {
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}


class Joke(BaseModel):
    """A joke to tell the user."""

    setup: str = Field(description="The setup of the joke")
    punchline: str = Field(description="The punchline to the joke")


@pytest.fixture
def llm(server_url):
    from langchain_ollama import ChatOllama

    return ChatOllama(model=CHAT, base_url=server_url, temperature=0)


def _json_reply(message) -> dict:
    assert message.response_metadata["done_reason"] in ("stop", "length")
    data = json.loads(message.content)
    assert isinstance(data, dict)
    return data


def test_format_json(server_url):
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=CHAT, base_url=server_url, temperature=0, format="json")
    _json_reply(llm.invoke(QUESTION))


def test_response_format_json_object(llm):
    _json_reply(llm.invoke(QUESTION, response_format={"type": "json_object"}))


def test_response_format_json_schema(llm):
    # langchain-ollama 1.1 passes the envelope's `schema` on as Ollama's `format`.
    reply = llm.invoke(
        QUESTION,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "joke", "schema": JOKE_SCHEMA},
        },
    )
    Joke.model_validate(_json_reply(reply))
    assert reply.response_metadata["done_reason"] == "stop"  # it ends by itself


@pytest.mark.parametrize("question", [QUESTION, "Tell me a joke about cats."])
@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output_validates(llm, method, question):
    result = llm.with_structured_output(Joke, method=method, include_raw=True).invoke(question)
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], Joke)
    assert result["raw"].response_metadata["done_reason"] == "stop"
    if method == "function_calling":
        assert result["raw"].tool_calls[0]["args"] == result["parsed"].model_dump()


def test_structured_output_json_mode_parses(llm):
    # JSON mode sends only `format: "json"`: the answer is JSON, its keys are the model's.
    result = llm.with_structured_output(Joke, method="json_mode", include_raw=True).invoke(QUESTION)
    _json_reply(result["raw"])


def test_free_json_strings_end(server_url):
    import ollama

    # A string that would run to the cap now ends at 256 characters.
    from localllm_nb._grammar import STRING_BOUND

    reply = ollama.Client(host=server_url).chat(
        model=CHAT,
        format="json",
        messages=[{"role": "user", "content": QUESTION}],
        options={"temperature": 0},
    )
    data = json.loads(reply.message.content)
    assert reply.done_reason == "stop"
    assert all(len(v) <= STRING_BOUND for v in data.values() if isinstance(v, str))
