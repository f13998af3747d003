"""The two ways a run reads a stream, against the real embedded server.

Unobserved Ollama models are read straight from ollama-python (less client CPU per
token); a model with callbacks, tracing or a config goes through LangChain so the
callbacks fire. Both must record the same run.
"""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.tools import tool

from localllm_nb import ModelSpec, astream_run, build_chat, build_llm, start_run, stream_run
from localllm_nb.run.direct import direct_stream
from tests.models import CHAT, EMBED, THINK

FAST = dict(temperature=0, seed=11, num_predict=24)
PROMPT = "Name three fruits."


class Recorder(BaseCallbackHandler):
    """Keeps the callback events LangChain fires for one model run."""

    def __init__(self):
        self.events: list[str] = []
        self.tokens: list[str] = []
        self.errors: list[BaseException] = []
        self.output = None

    def on_llm_start(self, serialized, prompts, **kwargs):
        self.events.append("llm_start")

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.events.append("chat_start")

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)

    def on_llm_end(self, response, **kwargs):
        self.events.append("end")
        self.output = response.generations[0][0].text

    def on_llm_error(self, error, **kwargs):
        self.events.append("error")
        self.errors.append(error)


class AsyncRecorder(AsyncCallbackHandler, Recorder):
    async def on_llm_start(self, serialized, prompts, **kwargs):
        Recorder.on_llm_start(self, serialized, prompts)

    async def on_llm_new_token(self, token, **kwargs):
        Recorder.on_llm_new_token(self, token)

    async def on_llm_end(self, response, **kwargs):
        Recorder.on_llm_end(self, response)


@pytest.fixture(scope="module")
def spec(server_url):
    return ModelSpec(model=CHAT, base_url=server_url, **FAST)


@pytest.fixture(scope="module")
def direct_run(spec):
    chat = build_chat(spec)
    assert direct_stream(chat, PROMPT, {}) is not None  # nobody observes it
    return stream_run(chat, PROMPT)


def test_direct_and_langchain_paths_record_the_same_run(spec, direct_run):
    recorder = Recorder()
    observed = build_chat(spec).with_config(callbacks=[recorder])
    assert direct_stream(observed, PROMPT, {}) is None
    via_langchain = stream_run(observed, PROMPT)
    assert via_langchain.content == direct_run.content and direct_run.content
    assert via_langchain.done_reason == direct_run.done_reason
    assert len(via_langchain.timeline) == len(direct_run.timeline)
    # The final line's figures arrive under the same keys either way.
    assert set(direct_run.server) == set(via_langchain.server)
    assert direct_run.server["eval_count"] == via_langchain.server["eval_count"]
    assert direct_run.server["model_provider"] == "ollama"
    assert recorder.events == ["chat_start", "end"]
    assert "".join(recorder.tokens) == via_langchain.content


def test_callbacks_on_the_model_or_in_config_fire(spec, direct_run):
    on_model = Recorder()
    chat = build_chat(spec)
    chat.callbacks = [on_model]
    assert stream_run(chat, PROMPT).content == direct_run.content
    assert on_model.events == ["chat_start", "end"] and on_model.output == direct_run.content

    in_config = Recorder()
    run = stream_run(build_chat(spec), PROMPT, config={"callbacks": [in_config]})
    assert run.content == direct_run.content
    assert in_config.events == ["chat_start", "end"]


def test_bound_arguments_reach_the_direct_path(spec):
    chat = build_chat(spec)
    unbound = stream_run(chat, "Count from one to ten, separated by commas.")
    stopped = stream_run(chat.bind(stop=[","]), "Count from one to ten, separated by commas.")
    assert "," in unbound.content and "," not in stopped.content
    assert unbound.content.startswith(stopped.content) and stopped.done_reason == "stop"


def test_tool_calls_on_the_direct_path(spec):
    @tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return "sunny"

    # Room for the whole call: one cut short by num_predict stays text, as the model wrote it.
    chat = build_chat(spec.model_copy(update={"num_predict": 64}))
    run = stream_run(chat, "What is the weather in Paris?", tools=[get_weather])
    assert [c["name"] for c in run.tool_calls] == ["get_weather"]
    call = run.tool_calls[0]
    assert isinstance(call["args"], dict) and set(call["args"]) == {"city"} and call["id"]
    assert [p.channel for p in run.timeline] == ["tool_call"]


def test_thinking_is_recorded_even_when_langchain_would_drop_it(server_url):
    # reasoning=None: the model thinks by default and Ollama sends `message.thinking`;
    # LangChain's stream drops it, a run keeps it on its own channel.
    thinker = build_chat(ModelSpec(model=THINK, base_url=server_url, **FAST))
    run = stream_run(thinker, "Is 7 prime?")
    assert run.thinking and "<think>" not in run.content
    assert run.timeline[0].channel == "thinking"
    dropped = "".join(
        c.additional_kwargs.get("reasoning_content", "") for c in thinker.stream("Is 7 prime?")
    )
    assert dropped == ""


def test_an_observed_llm_fires_callbacks_and_keeps_every_figure(server_url):
    recorder = Recorder()
    llm = build_llm(ModelSpec(model=CHAT, kind="llm", base_url=server_url, **FAST))
    plain = stream_run(llm, "The capital of France is")
    llm.callbacks = [recorder]
    run = stream_run(llm, "The capital of France is")
    assert run.content == plain.content and run.content
    assert recorder.events == ["llm_start", "end"] and recorder.output == run.content
    assert "".join(recorder.tokens) == run.content
    assert run.server["eval_count"] == plain.server["eval_count"] == run.stats.tokens
    assert run.done_reason == plain.done_reason


def test_an_observed_llm_thinks_on_its_own_channel(server_url):
    recorder = Recorder()
    llm = build_llm(ModelSpec(model=THINK, kind="llm", base_url=server_url, reasoning=True, **FAST))
    run = stream_run(llm, "Is 7 prime?", config={"callbacks": [recorder]})
    assert run.thinking and run.timeline[0].channel == "thinking"
    assert recorder.events == ["llm_start", "end"]


def test_a_cancelled_observed_llm_run_ends_its_trace(server_url):
    recorder = Recorder()
    llm = build_llm(ModelSpec(model=CHAT, kind="llm", base_url=server_url, num_predict=2000))
    llm.callbacks = [recorder]

    def cancel_at_three(event):
        if event.type == "token" and event.run.stats.tokens == 3:
            event.run.cancel()

    run = start_run(llm, "Once upon a time", on_event=cancel_at_three)
    assert run.wait(60) and run.status == "cancelled"
    assert recorder.events == ["llm_start", "error"] and run.content


def test_async_paths(spec, direct_run, server_url):
    recorder = AsyncRecorder()
    llm = build_llm(ModelSpec(model=CHAT, kind="llm", base_url=server_url, **FAST))

    async def scenario():
        direct = await astream_run(build_chat(spec), PROMPT)
        observed = await astream_run(llm, "The capital of France is", callbacks=[recorder])
        return direct, observed

    direct, observed = asyncio.run(scenario())
    assert direct.content == direct_run.content and set(direct.server) == set(direct_run.server)
    assert observed.content and recorder.events == ["llm_start", "end"]
    assert observed.server["eval_count"] == observed.stats.tokens


def test_what_cannot_generate_is_refused_up_front(server_url):
    from localllm_nb import SpecError, build_embeddings

    embeddings = ModelSpec(model=EMBED, kind="embeddings", base_url=server_url)
    with pytest.raises(SpecError, match="embed_documents"):
        start_run(embeddings, "Hi")
    with pytest.raises(TypeError, match="OllamaEmbeddings embeds text"):
        stream_run(build_embeddings(embeddings), "Hi")
    with pytest.raises(TypeError, match="not dict"):
        stream_run({"model": CHAT}, "Hi")


def test_no_messages_only_loads_the_model(spec):
    # Ollama's answer to an empty message list is a 'load' line with no text.
    run = stream_run(build_chat(spec), [])
    assert run.status == "done" and run.done_reason == "load"
    assert run.content == "" and run.timeline == []


def test_a_subclass_streams_its_own_way(spec):
    from langchain_ollama import ChatOllama

    class Shouting(ChatOllama):
        def _stream(self, *args, **kwargs):
            for chunk in super()._stream(*args, **kwargs):
                chunk.message.content = chunk.message.content.upper()
                yield chunk

    shouting = Shouting(**spec.to_kwargs())
    assert direct_stream(shouting, PROMPT, {}) is None
    run = stream_run(shouting, PROMPT)
    assert run.content and run.content == run.content.upper()
