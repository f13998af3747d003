"""Non-ASCII text (Japanese, emoji) through constrained output: the grammar admits it, the
engine's token accounting keeps characters split over several tokens whole, and the JSON
that arrives is valid UTF-8, not escaped. Over real HTTP, through ollama-python and
langchain-ollama."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.models import CHAT

NAME = "株式会社トヨタ 🚗"  # each kana/kanji is 2 tokens, the emoji 3: split UTF-8

REGISTER = {
    "type": "function",
    "function": {
        "name": "register_company",
        "description": "Register a company by its name",
        "parameters": {
            "type": "object",
            "properties": {"name": {"type": "string", "description": "The company name"}},
            "required": ["name"],
        },
    },
}


def _stream(server_url: str, path: str, body: dict) -> tuple[bytes, list[dict]]:
    with httpx.stream("POST", server_url + path, json=body, timeout=120) as resp:
        raw = b"".join(resp.iter_bytes())
    return raw, [json.loads(x) for x in raw.splitlines() if x]


def test_a_tool_call_keeps_a_japanese_name(client):
    reply = client.chat(
        model=CHAT,
        messages=[{"role": "user", "content": f'Call register_company with name "{NAME}".'}],
        tools=[REGISTER],
        options={"temperature": 0, "num_predict": 60},
    )
    (call,) = reply.message.tool_calls
    # The model copies the Japanese (it leaves out the emoji by itself).
    assert call.function.arguments["name"].startswith("株式会社トヨタ")


def test_forced_japanese_and_emoji_arrive_byte_exact_in_a_tool_call(server_url):
    # An enum makes the grammar force the exact bytes, whichever the model picks.
    names = [NAME, "ソニー 🎮"]
    tool = json.loads(json.dumps(REGISTER))
    tool["function"]["parameters"]["properties"]["name"]["enum"] = names
    body = {
        "model": CHAT,
        "tools": [tool],
        "options": {"temperature": 0, "num_predict": 60},
        "messages": [{"role": "user", "content": f"Register {NAME}."}],
    }
    raw, lines = _stream(server_url, "/api/chat", body)
    (call,) = [c for x in lines for c in x["message"].get("tool_calls", [])]
    assert call["function"]["arguments"]["name"] in names
    assert lines[-1]["done_reason"] == "stop"
    # UTF-8 on the wire, as Go's encoder writes it, not \\u escapes.
    assert call["function"]["arguments"]["name"].encode() in raw and b"\\u" not in raw


@pytest.mark.parametrize("num_predict", [60, 21, 19, 8])
def test_a_forced_japanese_answer_is_whole_or_refused(server_url, num_predict):
    # 21 tokens in all; 8 and 19 end inside a character (会, 🚗). llama-server streams a
    # token that ends inside a character only with the next one, naming only that one:
    # the engine must still count (and keep) every token, or it starts a second pass
    # whose grammar writes the object again ('{"name": "株式{"'). A const answer has no
    # shorter valid form, so a num_predict below its 21 tokens is refused up front
    # (structured output within the budget) rather than cut.
    fmt = {"type": "object", "properties": {"name": {"const": NAME}}, "required": ["name"]}
    body = {
        "model": CHAT,
        "prompt": "What is the company's name?",
        "format": fmt,
        "options": {"temperature": 0, "num_predict": num_predict},
    }
    if num_predict < 21:
        reply = httpx.post(f"{server_url}/api/generate", json=body, timeout=300)
        assert reply.status_code == 400
        assert "needs at least 21 tokens" in reply.json()["error"]
        return
    raw, lines = _stream(server_url, "/api/generate", body)
    final = lines[-1]
    text = "".join(x["response"] for x in lines)
    whole = json.dumps({"name": NAME}, ensure_ascii=False)
    assert text == whole and final["eval_count"] == 21
    assert len(final["context"]) == final["prompt_eval_count"] + 21
    # With room to spare the model ends the answer; with exactly 21 the budget does.
    assert final["done_reason"] == ("stop" if num_predict == 60 else "length")
    assert b"\\u" not in raw  # UTF-8 on the wire, as Go's encoder writes it


def test_format_json_with_japanese_content(client):
    reply = client.chat(
        model=CHAT,
        format="json",
        messages=[{"role": "user", "content": f'Repeat this JSON: {{"company": "{NAME}"}}'}],
        options={"temperature": 0, "num_predict": 40},
    )
    assert json.loads(reply.message.content) == {"company": NAME}


def test_langchain_json_schema_with_japanese(server_url):
    from langchain_ollama import ChatOllama

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["東京", "大阪"]}},
        "required": ["city"],
    }
    llm = ChatOllama(model=CHAT, base_url=server_url, temperature=0, num_predict=30)
    result = llm.with_structured_output(schema, method="json_schema").invoke(
        "日本の首都はどこですか？"  # noqa: RUF001 (Japanese punctuation)
    )
    assert result["city"] in ("東京", "大阪")
