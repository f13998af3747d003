"""`logprobs` / `top_logprobs` on /api/chat and /api/generate (issue 24, item 1), over real
HTTP through ollama-python, langchain-ollama and raw NDJSON: Ollama's shape, values from
the model's raw distribution (checked against a second llama.cpp instance on the same
GGUF), bytes that rebuild the text exactly (split UTF-8 included), thinking and
constrained output included, and Ollama's 400 for an out-of-range `top_logprobs`."""

from __future__ import annotations

import json
import math

import httpx
import ollama
import pytest
from langchain_core.messages import HumanMessage
from langchain_ollama import ChatOllama

from tests.models import CHAT, THINK

GREEDY = {"temperature": 0, "num_predict": 12}
TOL = 1e-3  # logprob difference allowed between two llama.cpp runs of the same prefix


@pytest.fixture
def client(server_url):
    return ollama.Client(host=server_url)


def _lines(server_url: str, path: str, body: dict) -> list[dict]:
    with httpx.stream("POST", server_url + path, json=body, timeout=300) as resp:
        assert resp.status_code == 200, resp.read()
        return [json.loads(x) for x in resp.iter_lines() if x]


def _text(entries) -> str:
    """The UTF-8 text the entries' bytes spell (strict: a split character must be whole)."""
    return b"".join(bytes(e["bytes"]) for e in entries).decode("utf-8")


def _check_shape(entry: dict, top: int, fields=("token", "logprob", "bytes")) -> None:
    assert set(entry) == {*fields, "top_logprobs"}
    assert isinstance(entry["token"], str) and entry["logprob"] <= 0
    alternatives = entry["top_logprobs"]
    assert len(alternatives) == top
    for alt in alternatives:
        assert set(alt) <= set(fields) and alt["logprob"] <= 0
    assert [a["logprob"] for a in alternatives] == sorted(
        (a["logprob"] for a in alternatives), reverse=True
    )
    assert sum(math.exp(a["logprob"]) for a in alternatives) <= 1 + 1e-6


def test_chat_with_ollama_python_greedy_token_is_the_top_alternative(client):
    reply = client.chat(
        model=CHAT,
        messages=[{"role": "user", "content": "Name three colours."}],
        options=GREEDY,
        logprobs=True,
        top_logprobs=3,
    )
    # ollama-python's Logprob type has no `bytes` (the raw-HTTP tests check them).
    entries = [e.model_dump(exclude_none=True) for e in reply.logprobs]
    assert len(entries) == reply.eval_count  # an ASCII answer: one entry per token
    for entry in entries:
        _check_shape(entry, 3, fields=("token", "logprob"))
        best = entry["top_logprobs"][0]
        assert best["token"] == entry["token"] and best["logprob"] == entry["logprob"]
    assert "".join(e["token"] for e in entries) == reply.message.content


def test_streamed_chunks_carry_their_tokens_and_logprobs_false_sends_none(server_url):
    body = {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Say hello."}],
        "options": GREEDY,
        "logprobs": True,
    }
    lines = _lines(server_url, "/api/chat", body)
    text = "".join(x["message"]["content"] for x in lines)
    entries = [e for x in lines for e in x.get("logprobs", [])]
    assert entries and all("top_logprobs" not in e for e in entries)  # top_logprobs: 0
    assert _text(entries) == text
    for x in lines[:-1]:  # a chunk's entries spell its own text
        assert _text(x.get("logprobs", [])) == x["message"]["content"]
    plain = _lines(server_url, "/api/chat", {**body, "logprobs": False, "top_logprobs": 5})
    assert not any("logprobs" in x for x in plain)
    assert "".join(x["message"]["content"] for x in plain) == text


@pytest.mark.parametrize("stream", [True, False])
def test_emoji_and_japanese_split_over_tokens_rebuild_exactly(server_url, stream):
    body = {
        "model": CHAT,
        "prompt": "Repeat exactly: 🚗 株式会社 🚗 株式会社",
        "options": {"temperature": 0, "num_predict": 16},
        "logprobs": True,
        "top_logprobs": 2,
        "stream": stream,
    }
    if stream:
        lines = _lines(server_url, "/api/generate", body)
        text = "".join(x["response"] for x in lines)
        entries = [e for x in lines for e in x.get("logprobs", [])]
    else:
        reply = httpx.post(server_url + "/api/generate", json=body, timeout=300).json()
        text, entries = reply["response"], reply["logprobs"]
    assert not text.isascii()  # the model did write characters that span tokens
    assert _text(entries) == text
    for entry in entries:
        _check_shape(entry, 2)


def test_thinking_tokens_have_logprobs(server_url):
    body = {
        "model": THINK,
        "messages": [{"role": "user", "content": "What is 3 times 4?"}],
        "think": True,
        "options": {"temperature": 0, "num_predict": 16},
        "logprobs": True,
        "top_logprobs": 1,
        "stream": False,
    }
    reply = httpx.post(server_url + "/api/chat", json=body, timeout=300).json()
    thinking = reply["message"]["thinking"]
    assert thinking
    assert thinking.strip() in _text(reply["logprobs"])  # the think block's tokens are there


def test_constrained_output_has_logprobs(server_url):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = {
        "model": CHAT,
        "prompt": "Give a JSON object with a number n.",
        "format": schema,
        "options": {"temperature": 0, "num_predict": 16},
        "logprobs": True,
        "top_logprobs": 2,
        "stream": False,
    }
    reply = httpx.post(server_url + "/api/generate", json=body, timeout=300).json()
    spelled = _text(reply["logprobs"])
    # An answer cut by num_predict is closed by text the model did not write.
    assert spelled and reply["response"].startswith(spelled)
    assert spelled.lstrip().startswith("{")


@pytest.fixture(scope="module")
def direct():
    """A second llama.cpp instance on the server's GGUF, not streaming, one thread."""
    from localllm_nb.embedded.engine.instance import LlamaInstance
    from localllm_nb.embedded.models.registry import SMOLLM2

    instance = LlamaInstance(str(SMOLLM2.path()), 512, 1)
    yield instance
    instance.close()


@pytest.mark.parametrize(
    "prompt", ["The capital of France is", "def fibonacci(n):", "日本の首都は"]
)
def test_values_match_llama_cpp_run_directly_on_the_same_gguf(server_url, direct, prompt):
    body = {
        "model": CHAT,
        "prompt": prompt,
        "raw": True,
        "stream": False,
        "options": {"temperature": 0, "num_predict": 8},
        "logprobs": True,
        "top_logprobs": 5,
    }
    got = httpx.post(server_url + "/api/generate", json=body, timeout=300).json()["logprobs"]
    ref = direct.completion(
        {
            "prompt": direct.tokenize(prompt),
            "n_predict": 8,
            "temperature": 0,
            "n_probs": 5,
            "cache_prompt": False,
        }
    )
    expected = [p for p in ref["choices"][0]["logprobs"]["content"] if p["bytes"]]
    assert [(e["token"], e["bytes"]) for e in got] == [(e["token"], e["bytes"]) for e in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert abs(mine["logprob"] - theirs["logprob"]) < TOL
        assert [a["token"] for a in mine["top_logprobs"]] == [
            a["token"] for a in theirs["top_logprobs"]
        ]
        for a, b in zip(mine["top_logprobs"], theirs["top_logprobs"], strict=True):
            assert abs(a["logprob"] - b["logprob"]) < TOL


def test_probabilities_come_before_the_sampler_chain(server_url):
    """The first token's distribution depends on the prompt only: temperature and
    top-k change which token is drawn, not the logprobs reported (raw logits' softmax)."""
    body = {
        "model": CHAT,
        "prompt": "Once upon a",
        "raw": True,
        "stream": False,
        "logprobs": True,
        "top_logprobs": 5,
    }
    firsts = []
    for options in ({"temperature": 0}, {"temperature": 1.8, "top_k": 3, "seed": 7}):
        reply = httpx.post(
            server_url + "/api/generate",
            json={**body, "options": {**options, "num_predict": 1}},
            timeout=300,
        ).json()
        firsts.append(reply["logprobs"][0]["top_logprobs"])
    cold, hot = firsts
    assert [a["token"] for a in cold] == [a["token"] for a in hot]
    for a, b in zip(cold, hot, strict=True):
        assert abs(a["logprob"] - b["logprob"]) < TOL


@pytest.mark.parametrize("top", [-1, 21])
@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
def test_top_logprobs_out_of_range_is_400(client, server_url, path, top):
    body = {"model": CHAT, "logprobs": True, "top_logprobs": top, "stream": False}
    body |= (
        {"messages": [{"role": "user", "content": "hi"}]}
        if path == "/api/chat"
        else {"prompt": "hi"}
    )
    resp = httpx.post(server_url + path, json=body, timeout=60)
    assert resp.status_code == 400
    assert resp.json() == {"error": "top_logprobs must be between 0 and 20"}
    if path == "/api/chat":
        with pytest.raises(ollama.ResponseError) as err:
            client.chat(
                model=CHAT,
                messages=[{"role": "user", "content": "hi"}],
                logprobs=True,
                top_logprobs=top,
            )
        assert err.value.status_code == 400


def test_langchain_chunks_carry_logprobs(server_url):
    llm = ChatOllama(
        model=CHAT,
        base_url=server_url,
        temperature=0,
        num_predict=10,
        logprobs=True,
        top_logprobs=2,
    )
    chunks = list(llm.stream([HumanMessage("Say hello.")]))
    entries = [e for c in chunks for e in c.response_metadata.get("logprobs") or []]
    text = "".join(c.content for c in chunks)
    # langchain passes ollama-python's Logprob objects on (which have no `bytes`).
    assert entries and "".join(e["token"] for e in entries) == text
    assert all(len(e["top_logprobs"]) == 2 for e in entries)


def test_text_cut_by_a_stop_string_has_no_logprobs(server_url):
    body = {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Name three colours."}],
        "options": {"temperature": 0, "num_predict": 16},
        "logprobs": True,
        "stream": False,
    }
    full = httpx.post(server_url + "/api/chat", json=body, timeout=300).json()
    content = full["message"]["content"]
    words = content.split()
    assert len(words) >= 3
    stop = words[2]  # cut in the middle of the answer
    body["options"] = {**body["options"], "stop": [stop]}
    cut = httpx.post(server_url + "/api/chat", json=body, timeout=300).json()
    text = cut["message"]["content"]
    assert len(text) < len(content) and stop not in text
    # As in Ollama, a token partly before the stop string keeps its whole entry.
    spelled = _text(cut["logprobs"])
    assert spelled.startswith(text) and stop.startswith(spelled[len(text) :].strip())
    assert len(cut["logprobs"]) < len(full["logprobs"])


def test_a_tool_call_being_parsed_still_streams_its_logprobs(server_url):
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    body = {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [tool],
        "options": {"temperature": 0, "num_predict": 40},
        "logprobs": True,
    }
    lines = _lines(server_url, "/api/chat", body)
    calls = [c for x in lines for c in x["message"].get("tool_calls", [])]
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
    # While the parser holds the call back, lines with no text carry its tokens.
    held = [x for x in lines if x.get("logprobs") and not x["message"]["content"]]
    assert held and "get_weather" in _text(e for x in lines for e in x.get("logprobs", []))
