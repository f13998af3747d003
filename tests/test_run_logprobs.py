"""A run records per-token logprobs from the embedded server over real HTTP: ModelSpec's
fields reach ChatOllama, both run paths (ollama-python directly, LangChain's stream)
record the same entries, thinking tokens land on their channel, frames and the history
carry them."""

from __future__ import annotations

import json
import warnings

import pytest

from localllm_nb import ModelSpec, RunHistory, SpecError, build_chat, build_llm, stream_run
from localllm_nb.run.tokens import mean_logprob, text_of

GREEDY = dict(temperature=0, seed=1, num_predict=12)


@pytest.fixture(scope="module")
def spec(server_url):
    return ModelSpec(model="smollm2:135m", base_url=server_url, top_logprobs=3, **GREEDY)


def test_spec_fields_validate_and_reach_chat_ollama(server_url):
    spec = ModelSpec(model="m", top_logprobs=5)
    assert spec.logprobs is True  # alternatives imply logprobs, as in ChatOllama
    assert spec.to_kwargs() == {"model": "m", "logprobs": True, "top_logprobs": 5}
    assert "logprobs=True,\n    top_logprobs=5," in spec.to_code()
    # Ollama's 0 ("no alternatives") is ChatOllama's unset: it takes only positive numbers.
    assert ModelSpec(model="m", logprobs=True, top_logprobs=0).to_kwargs() == {
        "model": "m",
        "logprobs": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ChatOllama warns when it turns logprobs on itself
        chat = build_chat(spec.replace(base_url=server_url))
    assert (chat.logprobs, chat.top_logprobs) == (True, 5)
    for bad in (21, -1, 2.5, "3"):
        with pytest.raises(SpecError) as info:
            ModelSpec(model="m", top_logprobs=bad)
        assert info.value.problems[0].field == "top_logprobs"
    with pytest.raises(SpecError, match="needs logprobs=True"):
        ModelSpec(model="m", logprobs=False, top_logprobs=2)
    with pytest.raises(SpecError, match="not a parameter of OllamaLLM"):
        ModelSpec(model="m", kind="llm", logprobs=True)
    moved = ModelSpec(model="m", top_logprobs=2).retarget(backend="mlx")
    assert (moved.spec.logprobs, moved.spec.top_logprobs, moved.dropped) == (True, 2, {})
    assert ModelSpec(model="m", logprobs=True).retarget(kind="llm").dropped == {"logprobs": True}


def test_both_run_paths_record_the_same_tokens(spec):
    direct = stream_run(spec, "Name three colours.")
    # A `config` sends the run through LangChain's stream (response_metadata per chunk).
    langchain = stream_run(spec, "Name three colours.", config={"tags": ["lc"]})
    assert direct.content == langchain.content and direct.content
    assert [t.token for t in direct.logprobs] == [t.token for t in langchain.logprobs]
    for a, b in zip(direct.logprobs, langchain.logprobs, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-6)
        assert len(a.top) == 3 and a.top[0].token == a.token  # greedy: the top choice
        assert a.channel == "content"
    assert text_of(direct.logprobs) == direct.content
    assert "logprobs" not in direct.server and "logprobs" not in langchain.server
    assert direct.server["eval_count"] >= len(direct.logprobs)


def test_a_run_without_logprobs_has_none(spec):
    run = stream_run(spec.replace(logprobs=None, top_logprobs=None), "Say hi.")
    assert run.content and run.logprobs == []


def test_per_call_logprobs_on_ollama_llm(server_url):
    """OllamaLLM has no logprobs fields, but the direct path passes call arguments on."""
    llm = build_llm(ModelSpec(model="smollm2:135m", kind="llm", base_url=server_url, **GREEDY))
    run = stream_run(llm, "The capital of France is", logprobs=True, top_logprobs=2)
    assert run.content and text_of(run.logprobs) == run.content
    assert all(len(t.top) == 2 for t in run.logprobs)


def test_thinking_tokens_are_on_the_thinking_channel(spec):
    think = spec.replace(model="smollm2:135m-think", reasoning=True, num_predict=30)
    run = stream_run(think, "Say hi.")
    assert run.thinking and run.content
    channels = [t.channel for t in run.logprobs]
    assert set(channels) == {"thinking", "content"}
    # Thinking comes first; the answer's tokens spell the answer.
    assert channels == sorted(channels, key=lambda c: c != "thinking")
    answer = [t for t in run.logprobs if t.channel == "content"]
    assert text_of(answer).strip() == run.content.strip()


def test_frames_and_history_keep_the_entries(spec, tmp_path):
    frames = []
    run = stream_run(spec, "Count to five.")
    run.watch(frames.append, every=0)  # a late watcher gets everything in its first frame
    assert [t for f in frames for t in f.logprobs] == run.logprobs

    history = RunHistory([run])
    (record,) = json.loads(history.to_json(tmp_path / "runs.json").read_text())
    assert [e["token"] for e in record["logprobs"]] == [t.token for t in run.logprobs]
    assert record["mean_logprob"] == pytest.approx(mean_logprob(run.logprobs))
    assert record["perplexity"] >= 1.0
