"""ChatMLX / MLXPipeline `logprobs` / `top_logprobs` on real mlx-lm with the bundled model:
Ollama's shape in the place ChatOllama puts it, values checked against the model's own
forward pass, and a Run that records them. One model, a handful of tokens per call."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("mlx_lm")

from localllm_nb import ModelSpec, build_chat, stream_run
from localllm_nb.backends.mlx import ChatMLX, MLXPipeline
from localllm_nb.run.tokens import parse_logprobs, text_of

FRANCE = "What is the capital of France?"
KEYS = {"token", "logprob", "bytes", "top_logprobs"}


@pytest.fixture(scope="module")
def llm(mlx_cache):
    return MLXPipeline.from_model_id("smollm2:135m", pipeline_kwargs={"max_tokens": 4, "temp": 0.0})


@pytest.fixture(scope="module")
def streamed(llm):
    """The chunks of one greedy chat stream with top_logprobs=3."""
    return list(ChatMLX(llm=llm, top_logprobs=3).stream(FRANCE))


def test_every_chunk_carries_its_tokens_in_ollamas_shape(streamed):
    entries = [e for c in streamed for e in c.response_metadata.get("logprobs", [])]
    assert len(entries) == streamed[-1].response_metadata["generation_tokens"] == 4
    for entry in entries:
        assert set(entry) == KEYS and entry["logprob"] <= 0
        assert bytes(entry["bytes"]).decode() == entry["token"]
        alternatives = entry["top_logprobs"]
        assert len(alternatives) == 3
        values = [a["logprob"] for a in alternatives]
        assert values == sorted(values, reverse=True)
        assert sum(math.exp(v) for v in values) <= 1 + 1e-5
        # Greedy: the chosen token is the most likely one.
        assert alternatives[0]["token"] == entry["token"]
        assert alternatives[0]["logprob"] == entry["logprob"]
    content = "".join(c.content for c in streamed)
    assert b"".join(bytes(e["bytes"]) for e in entries).decode() == content


def test_values_are_the_models_own_distribution(llm, streamed):
    """The first token's alternatives equal a forward pass over the prompt, log-softmaxed."""
    import mlx.core as mx

    tok = llm.tokenizer
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": FRANCE}], add_generation_prompt=True, tokenize=False
    )
    ids = tok.encode(prompt, add_special_tokens=False)  # as ChatMLX encodes its prompt
    logits = llm.model(mx.array(ids)[None])[0, -1].astype(mx.float32)
    logprobs = (logits - mx.logsumexp(logits)).tolist()
    best = sorted(range(len(logprobs)), key=lambda i: -logprobs[i])[:3]
    first = streamed[0].response_metadata["logprobs"][0]
    for alt, token_id in zip(first["top_logprobs"], best, strict=True):
        assert alt["token"] == llm.tokenizer.decode([token_id])
        assert alt["logprob"] == pytest.approx(logprobs[token_id], abs=1e-3)


def test_invoke_aggregates_and_off_means_none(llm):
    message = ChatMLX(llm=llm, logprobs=True).invoke(FRANCE)
    entries = message.response_metadata["logprobs"]
    assert len(entries) == 4 and all("top_logprobs" not in e for e in entries)
    assert "".join(e["token"] for e in entries) == message.content
    assert "logprobs" not in ChatMLX(llm=llm).invoke(FRANCE).response_metadata


def test_pipeline_per_call_logprobs_in_generation_info(llm):
    result = llm.generate(["The capital of France is"], logprobs=True, top_logprobs=1)
    generation = result.generations[0][0]
    entries = generation.generation_info["logprobs"]
    assert len(entries) == 4 and all(len(e["top_logprobs"]) == 1 for e in entries)
    assert text_of(parse_logprobs(entries)) == generation.text
    with pytest.raises(ValueError, match="top_logprobs"):
        MLXPipeline(
            model_id=llm.model_id, model=llm.model, tokenizer=llm.tokenizer, top_logprobs=21
        )


def test_a_run_from_an_mlx_spec_records_them(llm):
    spec = ModelSpec(
        backend="mlx",
        model="smollm2:135m",
        top_logprobs=2,
        pipeline_kwargs={"max_tokens": 4, "temp": 0.0},
    )
    assert "top_logprobs=2" in spec.to_code()
    chat = build_chat(spec)
    assert (chat.llm.logprobs, chat.llm.top_logprobs) == (True, 2)
    run = stream_run(chat, FRANCE)
    assert len(run.logprobs) == 4 and text_of(run.logprobs) == run.content
    assert all(len(t.top) == 2 and t.channel == "content" for t in run.logprobs)
    assert "logprobs" not in run.server
