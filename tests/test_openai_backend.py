"""The openai backend over real HTTP: llama.cpp's own llama-server (the reference
OpenAI-compatible peer, started by the `llama_server` fixture) and the embedded server's
/v1. Short generations only."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import SecretStr

from localllm_nb import ModelSpec
from localllm_nb.backends import build_chat, build_embeddings, list_models, spec_from_model
from localllm_nb.errors import ModelNotFoundError, ServerError, ServerUnavailableError
from localllm_nb.run import RunHistory, start_run, stream_run

THINK = "smollm2:135m-think"


@pytest.fixture(scope="module")
def v1_url(server_url):
    return server_url + "/v1"


@pytest.fixture
def llama_spec(llama_server):
    return ModelSpec(
        backend="openai",
        model=llama_server.model,
        base_url=llama_server.url,
        api_key_env=llama_server.key_env,
        temperature=0,
        max_tokens=8,
    )


def test_a_run_on_llama_server_has_its_usage_and_timings_beside_the_client_clock(llama_spec):
    run = stream_run(llama_spec, "Say hello.", timeout=120)
    assert run.status == "done" and run.content
    stats = run.stats
    assert stats.source == "openai"
    assert stats.eval_tokens == 8  # max_tokens=8 and the model does not stop that early
    assert stats.prompt_tokens and stats.prompt_tokens > 5
    # llama-server's own `timings` (ms) arrive as seconds and rates.
    assert stats.eval_s and stats.eval_s > 0 and stats.server_tps and stats.server_tps > 0
    assert stats.ttft_s is not None and stats.duration_s >= stats.ttft_s
    assert run.done_reason == "length"
    assert run.spec == llama_spec


def test_the_key_reaches_the_server_and_a_wrong_one_is_refused(llama_spec, llama_server):
    bad = llama_spec.replace(api_key_env=None, api_key="sk-wrong")
    with pytest.raises(ServerError) as err:
        stream_run(bad, "Hi", timeout=60)
    assert err.value.status_code == 401
    missing = llama_spec.replace(api_key_env="LOCALLLM_NB_TEST_NO_SUCH_VARIABLE")
    with pytest.raises(Exception, match="LOCALLLM_NB_TEST_NO_SUCH_VARIABLE"):
        build_chat(missing)
    # A SecretStr given on the spec works like the variable.
    good = llama_spec.replace(api_key_env=None, api_key=SecretStr(llama_server.key))
    assert stream_run(good, "Hi", timeout=120).content


def test_llama_server_listing_says_what_it_reports_and_nothing_more(llama_server):
    (info,) = list_models(
        llama_server.url, backend="openai", api_key=llama_server.key, refresh=True
    )
    assert info.name == llama_server.model
    assert info.context_length == 2048  # the served context, not the 8192 it was trained for
    assert info.quantization == "Q4_1" and info.parameter_size.endswith("M")
    assert info.size > 50_000_000
    # llama-server lists 'completion'; the SmolLM2 template supports no tools, no vision.
    assert info.capabilities == ("completion",)
    assert not info.supports("tools") and not info.supports("thinking")
    assert info.parameters["temperature"] == pytest.approx(0.8)
    fields = {
        f.name: f for f in ModelSpec.fields("openai", "chat", server_defaults=info.parameters)
    }
    assert fields["temperature"].server_default == pytest.approx(0.8)


def test_a_server_that_reports_less_shows_less(v1_url):
    listed = {m.name: m for m in list_models(v1_url, backend="openai", refresh=True)}
    assert {"smollm2:135m", THINK, "all-minilm:latest"} <= set(listed)
    # Ollama's /v1/models names models only: no badges, no sizes, no context.
    for info in listed.values():
        assert info.capabilities == () and info.context_length is None and info.size == 0


def test_thinking_from_the_reasoning_field_reaches_the_thinking_channel(v1_url):
    spec = ModelSpec(
        backend="openai", model=THINK, base_url=v1_url, reasoning_effort="low", max_tokens=16
    )
    run = stream_run(spec, "Hi", timeout=120)
    assert run.thinking and "<think>" not in run.thinking
    assert "<think>" not in run.content
    assert run.stats.thinking_tokens > 0
    # The server's usage: the whole budget, unless the model ended first (it samples here)
    assert run.stats.source == "openai" and 0 < run.stats.eval_tokens <= 16
    assert run.stats.eval_tokens == 16 or run.done_reason == "stop"
    # Not streamed: the message's reasoning is kept too.
    message = build_chat(spec).invoke("Hi")
    assert message.additional_kwargs["reasoning_content"]
    off = stream_run(spec.replace(reasoning_effort="none"), "Hi", timeout=120)
    assert not off.thinking and off.content


def test_start_run_streams_and_cancels_on_llama_server(llama_spec):
    run = start_run(llama_spec.replace(max_tokens=16), "Count to ten.")
    assert run.wait(120) and run.status == "done" and run.stats.eval_tokens == 16
    long = start_run(llama_spec.replace(max_tokens=2000), "Write a long story.")
    deadline = 120
    while not long.content and deadline > 0 and not long.done:
        long.wait(0.05)
        deadline -= 0.05
    long.cancel()
    assert long.wait(30) and long.status == "cancelled"
    assert long.stats.tokens < 2000


def test_errors_say_which_server_and_which_protocol(v1_url, llama_spec):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nobody = ModelSpec(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ServerUnavailableError, match="OpenAI-compatible"):
        stream_run(nobody.replace(max_tokens=4), "Hi", timeout=60)
    with pytest.raises(ServerUnavailableError, match="OpenAI-compatible"):
        list_models(nobody.base_url, backend="openai", refresh=True)
    missing = ModelSpec(backend="openai", model="no-such-model", base_url=v1_url, max_tokens=4)
    with pytest.raises(ModelNotFoundError) as err:
        stream_run(missing, "Hi", timeout=60)
    assert "smollm2:135m" in err.value.available and "ollama pull" not in str(err.value)


def test_embeddings_over_v1(v1_url):
    spec = ModelSpec(backend="openai", kind="embeddings", model="all-minilm", base_url=v1_url)
    model = build_embeddings(spec)
    vectors = model.embed_documents(["a cat", "a dog"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    short = build_embeddings(spec.replace(dimensions=64)).embed_query("a cat")
    assert len(short) == 64


def test_the_key_never_leaves_the_spec(llama_server, tmp_path):
    url, key = llama_server.url, llama_server.key
    spec = ModelSpec(
        backend="openai", model=llama_server.model, base_url=url, api_key=key, max_tokens=8
    )
    assert spec.api_key.get_secret_value() == key
    assert key not in repr(spec) and key not in str(spec)
    assert key not in spec.to_code() and key not in spec.to_code(redact=True)
    assert key not in spec.model_dump_json() and key not in json.dumps(spec.model_dump())
    assert key not in repr(spec.to_kwargs()) and key not in repr(spec.set_params())
    # Copies keep it; the redacted one and a JSON round trip do not.
    assert spec.replace(max_tokens=4).api_key == spec.api_key
    assert spec.redacted().api_key is None
    assert ModelSpec.model_validate_json(spec.model_dump_json()).api_key is None
    run = stream_run(spec, "Hi", timeout=120)
    assert key not in repr(run)
    history = RunHistory([run])
    for path in (history.to_json(tmp_path / "h.json"), history.to_csv(tmp_path / "h.csv")):
        assert key not in path.read_text()
    model = build_chat(spec)
    assert key not in repr(model) and key not in spec_from_model(model).model_dump_json()
    assert spec_from_model(model).base_url == url and spec_from_model(model).api_key is None


def test_code_reads_the_key_from_the_environment(llama_spec, llama_server):
    code = llama_spec.to_code()
    assert f"os.environ[{llama_server.key_env!r}]" in code and "stream_usage=True" in code
    namespace: dict = {}
    exec(code, namespace)  # the printed code builds a working model
    reply = namespace["model"].invoke("Hi")
    assert reply.content and reply.usage_metadata["output_tokens"] == 8
    assert os.environ[llama_server.key_env] == llama_server.key


def test_tool_calls_and_astream_run_on_v1(v1_url):
    import asyncio

    from localllm_nb.run import astream_run

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}"

    spec = ModelSpec(
        backend="openai", model="smollm2:135m", base_url=v1_url, temperature=0, max_tokens=32
    )
    run = stream_run(spec, "What is the weather in Paris?", tools=[get_weather], timeout=120)
    (call,) = run.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    done = asyncio.run(astream_run(spec.replace(max_tokens=8), "Hi"))
    assert done.status == "done" and done.content and done.stats.eval_tokens == 8
