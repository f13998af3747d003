"""ChatMLX and MLXPipeline on real mlx-lm with the converted bundled model (CPU).

One model is loaded per session (tests/conftest.py); generations are short (the model
runs ~8 tokens/s here).
Each breakage of langchain-community's classes with mlx-lm 0.32 has a test below.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("mlx_lm")

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from localllm_nb.backends import _mlx_generate
from localllm_nb.backends.mlx import (
    ChatMLX,
    MLXPipeline,
    build_mlx_chat,
    build_mlx_llm,
)
from tests.models import CHAT

STATS_KEYS = {
    "prompt_tokens",
    "prompt_tps",
    "generation_tokens",
    "generation_tps",
    "peak_memory",
    "finish_reason",
}
FRANCE = "What is the capital of France?"


@pytest.fixture(scope="module")
def llm(mlx_llm):
    """The bundled model, converted into this session's cache root, greedy, short."""
    return mlx_llm


@pytest.fixture(scope="module")
def chat(llm):
    return ChatMLX(llm=llm)


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


def test_reference_constructor_api(llm):
    assert isinstance(llm, MLXPipeline)
    assert (llm.model_id, llm.tokenizer_config, llm.adapter_file, llm.lazy) == (
        "smollm2:135m",
        {},
        None,
        False,
    )
    chat = ChatMLX(llm=llm)
    assert chat.tokenizer is llm.tokenizer
    with pytest.raises(ValueError, match="unknown MLX generation setting"):
        MLXPipeline(model=llm.model, tokenizer=llm.tokenizer, pipeline_kwargs={"tmp": 1.0})


def test_capital_of_france_mentions_paris(chat):
    reply = chat.invoke(FRANCE)
    assert "Paris" in reply.content
    assert set(reply.response_metadata) >= STATS_KEYS
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.usage_metadata["input_tokens"] == reply.response_metadata["prompt_tokens"]


def test_stream_yields_pieces_equal_to_invoke(chat):
    chunks = list(chat.stream(FRANCE))
    assert len(chunks) > 3  # streamed token by token, not one blob at the end
    text = "".join(c.content for c in chunks)
    assert text == chat.invoke(FRANCE).content
    assert " " in text  # per-token decoding used to drop the spaces
    final = chunks[-1]
    assert set(final.response_metadata) >= STATS_KEYS
    assert final.response_metadata["generation_tps"] > 0


@pytest.mark.parametrize(
    "prompt", ["Café, café, café, café, café,", "日本 日本 日本 日本 日本 日本"]
)
def test_multibyte_text_survives_streaming(llm, prompt):
    pieces = list(llm.stream(prompt, max_tokens=8))
    text = "".join(pieces)
    assert text == _reference_decode(llm, prompt, 8)
    assert any(ord(ch) > 127 for ch in text)
    assert all("\ufffd" not in p for p in pieces)  # no half characters in any piece


def test_completion_keeps_its_leading_space(llm):
    # mlx-lm's BPE detokenizer trims it; a completion must continue its prompt exactly.
    text = llm.invoke("The capital of France is", max_tokens=3)
    assert text.startswith(" Paris")
    assert text == _reference_decode(llm, "The capital of France is", 3)


def _reference_decode(llm, prompt: str, max_tokens: int) -> str:
    """The greedy continuation decoded in one go from mlx-lm's token ids."""
    import mlx_lm

    ids = [
        r.token
        for r in mlx_lm.stream_generate(llm.model, llm.tokenizer, prompt, max_tokens=max_tokens)
    ]
    ids = [i for i in ids if i not in llm.tokenizer.eos_token_ids]
    return llm.tokenizer.decode(ids)


def test_formatter_is_not_passed_to_mlx_lm(llm, capsys):
    seen = []
    pipe = MLXPipeline(
        model=llm.model,
        tokenizer=llm.tokenizer,
        pipeline_kwargs={
            "max_tokens": 4,
            "verbose": True,
            "formatter": lambda t, p: seen.append((t, p)),
        },
    )
    text = pipe.invoke("The capital of France is")
    assert text and "".join(t for t, _ in seen) == text
    assert all(0.0 <= p <= 1.0 for _, p in seen)
    assert "Generation: " in capsys.readouterr().out


def test_max_tokens_is_exact(llm):
    result = llm.generate(["1, 2, 3, 4, 5, 6,"], max_tokens=7)
    info = result.generations[0][0].generation_info
    assert (info["generation_tokens"], info["finish_reason"]) == (7, "length")


def test_max_tokens_reaches_mlx_lm_beyond_its_default(llm, monkeypatch):
    # langchain-community zipped with range(max_tokens) over generate_step's default 256,
    # so long streams stopped at 256; ours hands the limit to mlx-lm itself, which stops
    # at it exactly (test_max_tokens_is_exact). Generating 260 tokens to show it again
    # took ~1 min of the suite's 15.
    import mlx_lm

    seen = {}
    real = mlx_lm.stream_generate

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(mlx_lm, "stream_generate", spy)
    stream = llm.stream("1, 2, 3,", max_tokens=1000)
    next(stream)
    stream.close()
    assert seen["max_tokens"] == 1000


def test_repetition_penalty_with_and_without_context_size(llm):
    prompt = "1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3,"
    plain = llm.invoke(prompt, max_tokens=6)
    no_context = llm.invoke(prompt, max_tokens=6, repetition_penalty=1.5)
    with_context = llm.invoke(
        prompt, max_tokens=6, repetition_penalty=1.5, repetition_context_size=3
    )
    assert plain == " 1, 2,"  # digits, commas and spaces are separate tokens
    assert no_context != plain and with_context != plain


def test_every_eos_id_ends_the_reply(chat):
    tokenizer = chat.llm.tokenizer
    assert {0, 2} <= set(tokenizer.eos_token_ids)  # <|endoftext|> and <|im_end|>
    period = tokenizer.encode(".", add_special_tokens=False)[0]
    saved = set(tokenizer.eos_token_ids)
    tokenizer.eos_token_ids = saved | {period}
    try:
        reply = chat.invoke(FRANCE)
    finally:
        tokenizer.eos_token_ids = saved
    # The reply is "The capital of France is Paris." without the extra end token.
    assert reply.content.rstrip().endswith("Paris")
    assert reply.response_metadata["finish_reason"] == "stop"


def test_multi_token_stop_string(chat, llm):
    pieces = list(chat.stream(FRANCE, stop=["France is"]))
    assert "".join(p.content for p in pieces) == "The capital of "
    assert pieces[-1].response_metadata["finish_reason"] == "stop"
    # A completion: " Paris.\n\nThe answer is: 2" without the stop.
    assert llm.invoke("The capital of France is", stop=[".\n\nThe"]) == " Paris"


def test_chat_models_own_settings_win_over_the_pipelines(llm):
    # LangChain's standard parameters were silently dropped before (extra keys ignored).
    reply = ChatMLX(llm=llm, max_tokens=3, temperature=0).invoke(FRANCE)
    assert (reply.usage_metadata["output_tokens"], reply.response_metadata["finish_reason"]) == (
        3,
        "length",
    )
    stopping = ChatMLX(llm=llm, stop=["France is"])
    assert stopping.invoke(FRANCE).content == "The capital of "
    assert "France is" in stopping.invoke(FRANCE, stop=[]).content  # a call's own stop wins


def test_model_override_naming_another_model_is_refused(chat):
    with pytest.raises(ValueError, match="build another"):
        chat.invoke(FRANCE, model="llama3.2:1b")


def test_a_prompt_reuses_the_cache_of_a_recent_one_with_the_same_answer(chat):
    from localllm_nb.backends._mlx_prompt_cache import clear_prompt_caches

    clear_prompt_caches()
    first = chat.invoke(FRANCE, max_tokens=6)
    again = chat.invoke(FRANCE, max_tokens=6)
    n_prompt = first.usage_metadata["input_tokens"]
    assert first.usage_metadata["input_token_details"] == {"cache_read": 0}
    assert again.usage_metadata["input_token_details"] == {"cache_read": n_prompt - 1}
    assert again.content == first.content
    # A longer conversation computes only its new turn, and answers as if computed whole.
    history = [HumanMessage(FRANCE), AIMessage(first.content), HumanMessage("And of Italy?")]
    cached = chat.invoke(history, max_tokens=6)
    assert 0 < cached.usage_metadata["input_token_details"]["cache_read"] < n_prompt
    clear_prompt_caches()
    fresh = chat.invoke(history, max_tokens=6)
    assert fresh.usage_metadata["input_token_details"] == {"cache_read": 0}
    assert cached.content == fresh.content


def test_bound_tools_reach_the_chat_template(chat):
    prompt = chat._to_chat_prompt([HumanMessage("Weather in Paris?")], tools=[_weather_spec()])
    assert "get_weather" in prompt and "Get the current weather for a city." in prompt
    # A real call: its prompt is the templated one with the tools in it. (With "auto"
    # nothing forces a call, so one token is enough; a forced call needs room for it.)
    plain = len(chat._to_chat_prompt([HumanMessage("Weather in Paris?")], tokenize=True))
    tools = chat.bind_tools([get_weather], tool_choice="auto")
    reply = tools.invoke("Weather in Paris?", max_tokens=1)
    assert reply.usage_metadata["input_tokens"] > plain + 50


def _weather_spec() -> dict:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return convert_to_openai_tool(get_weather)


def test_tool_messages_are_accepted(chat):
    messages = [
        HumanMessage("What is the weather in Paris?"),
        AIMessage(
            content="",
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
        ),
        ToolMessage("Sunny, 24 C", tool_call_id="call_1", name="get_weather"),
    ]
    prompt = chat._to_chat_prompt(messages, tools=[_weather_spec()])
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt
    assert "<tool_response>\nSunny, 24 C\n</tool_response>" in prompt
    # The prompt is long with tools bound (slow on CPU); the messages are the point here.
    reply = chat.invoke(messages, max_tokens=3)
    assert isinstance(reply, AIMessage) and reply.response_metadata["prompt_tokens"] > 40


def test_system_message(llm):
    chat = build_mlx_chat(CHAT, {"max_tokens": 4}, system_message="Answer in French.")
    prompt = chat._to_chat_prompt([HumanMessage("Hi")])
    assert prompt.startswith("<|im_start|>system\nAnswer in French.<|im_end|>")
    own = chat._to_chat_prompt([SystemMessage("Be brief."), HumanMessage("Hi")])
    assert "Answer in French." not in own and "Be brief." in own
    default = ChatMLX(llm=llm)._to_chat_prompt([HumanMessage("Hi")])
    assert "You are a helpful AI assistant named SmolLM" in default


def test_builders_share_the_loaded_model(llm):
    other = build_mlx_llm(CHAT, {"max_tokens": 3})
    assert other.model is llm.model and other.pipeline_kwargs == {"max_tokens": 3}


def test_batch(chat):
    replies = chat.batch([FRANCE, "Say hi."], max_tokens=5)
    assert len(replies) == 2 and all(r.content for r in replies)


def test_llm_batch_and_stream(llm):
    texts = llm.batch(["The capital of France is", "1, 2, 3,"], max_tokens=4)
    assert len(texts) == 2 and all(texts)
    assert "".join(llm.stream("The capital of France is", max_tokens=4)) == texts[0]


def test_ainvoke_and_astream(chat):
    async def main():
        reply = await chat.ainvoke(FRANCE)
        pieces = [c.content async for c in chat.astream(FRANCE)]
        return reply, pieces

    reply, pieces = asyncio.run(main())
    assert "Paris" in reply.content and "".join(pieces) == reply.content


def test_astream_left_early_frees_the_model(chat):
    async def main():
        stream = chat.astream(FRANCE)
        async for _ in stream:
            break
        await stream.aclose()
        return await asyncio.wait_for(chat.ainvoke("Say hi.", max_tokens=3), timeout=120)

    assert asyncio.run(main()).content
    assert _mlx_generate.model_lock(chat.llm.model).acquire(timeout=5)
    _mlx_generate.model_lock(chat.llm.model).release()


def test_stream_run_fills_run_stats_from_mlx_rates(chat):
    from localllm_nb import stream_run

    run = stream_run(chat, "What is the capital of France?")
    stats = run.stats
    assert run.status == "done" and run.content
    assert stats.source == "mlx"
    assert stats.server_tps > 0 and stats.prompt_tps > 0 and stats.peak_memory_gb > 0
    assert stats.tokens == len(run.timeline) > 0
    # mlx-lm counts the end-of-sequence token it generated; the client never sees it.
    assert stats.eval_tokens in (stats.tokens, stats.tokens + 1)
    assert stats.ttft_s is not None and stats.client_tps is not None
