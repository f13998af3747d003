"""Token logprobs without a server: the helpers in run/tokens.py (and their doctests),
and how a RunRecorder files entries from chunks of every shape a client sends."""

from __future__ import annotations

import csv
import doctest
import json
import math

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import GenerationChunk

from localllm_nb.backends import _mlx_logprobs
from localllm_nb.run import RunHistory, RunRecorder, tokens
from localllm_nb.run.chunks import ChunkParts
from localllm_nb.run.tokens import (
    Alternative,
    TokenLogprob,
    entropy,
    least_confident,
    mean_logprob,
    pack,
    parse_logprobs,
    perplexity,
    text_of,
)


def _entry(token: str, p: float, *alts: tuple[str, float]) -> dict:
    out = {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}
    if alts:
        out["top_logprobs"] = [{"token": t, "logprob": math.log(q)} for t, q in alts]
    return out


def test_doctests():
    assert doctest.testmod(tokens).failed == 0
    assert doctest.testmod(_mlx_logprobs).failed == 0


def test_entropy_is_exact_when_the_alternatives_hold_all_the_mass_and_a_bound_otherwise():
    uniform = parse_logprobs([_entry("a", 0.25, *[(c, 0.25) for c in "abcd"])])[0]
    assert entropy(uniform) == pytest.approx(math.log(4))
    # Two listed alternatives leave 0.4: counted as one outcome, so <= the true entropy.
    partial = parse_logprobs([_entry("a", 0.5, ("a", 0.5), ("b", 0.1))])[0]
    expected = -(0.5 * math.log(0.5) + 0.1 * math.log(0.1) + 0.4 * math.log(0.4))
    assert entropy(partial) == pytest.approx(expected)
    certain = parse_logprobs([_entry("a", 1.0, ("a", 1.0))])[0]
    assert entropy(certain) == pytest.approx(0.0)


def test_mean_logprob_and_perplexity_of_an_answer():
    entries = parse_logprobs([_entry("a", 0.5), _entry("b", 0.125)])
    assert mean_logprob(entries) == pytest.approx((math.log(0.5) + math.log(0.125)) / 2)
    assert perplexity(entries) == pytest.approx(4.0)  # geometric mean of 2 and 8
    assert mean_logprob([]) is None and perplexity([]) is None


def test_least_confident_spans_merge_neighbours_and_rank_by_mean_logprob():
    probs = [("A", 0.9), (" b", 0.4), (" c", 0.45), (" d", 0.99), (" e", 0.05), ("!", 0.8)]
    entries = parse_logprobs([_entry(t, p) for t, p in probs])
    spans = least_confident(entries, n=5)
    assert [(s.start, s.end, s.text) for s in spans] == [(4, 5, " e"), (1, 3, " b c")]
    assert spans[1].min_probability == pytest.approx(0.4)
    assert least_confident(entries, n=1) == spans[:1]
    assert least_confident(entries, threshold=0.01) == []


def test_text_of_rebuilds_a_character_split_over_tokens():
    euro = "€".encode()
    entries = parse_logprobs(
        [
            {"token": "\ufffd", "logprob": -1.0, "bytes": list(euro[:2])},
            {"token": "\ufffd", "logprob": -0.5, "bytes": list(euro[2:])},
            {"token": "5", "logprob": -0.1},  # no bytes: ollama-python drops them
        ]
    )
    assert text_of(entries) == "€5"


def test_ollama_shape_round_trips_and_pack_is_smaller():
    raw = [_entry(f" w{i}", 0.5, (f" w{i}", 0.5), (" x", 0.25)) for i in range(200)]
    entries = parse_logprobs(raw, channel="thinking")
    again = parse_logprobs([e.to_ollama() for e in entries])
    assert again == entries and again[0].channel == "thinking"
    packed = pack(entries)
    assert packed["channel"] == [1] * 200 and packed["top_token"][0] == [" w0", " x"]
    per_token = len(json.dumps([e.to_ollama() for e in entries]))
    assert len(json.dumps(packed)) < per_token / 2


def _recorded(*chunks) -> RunRecorder:
    recorder = RunRecorder(model_name="m")
    recorder.start()
    for chunk in chunks:
        recorder.feed(chunk)
    recorder.finish()
    return recorder


def test_recorder_reads_logprobs_from_every_chunk_shape():
    lc_chunk = AIMessageChunk(content="Hi", response_metadata={"logprobs": [_entry("Hi", 0.9)]})
    llm_chunk = GenerationChunk(text="!", generation_info={"logprobs": [_entry("!", 0.5)]})
    final = AIMessageChunk(content="", response_metadata={"done_reason": "stop", "logprobs": None})
    run = _recorded(
        lc_chunk, llm_chunk, ChunkParts(content=" x", logprobs=[_entry(" x", 0.2)]), final
    ).run
    assert [t.token for t in run.logprobs] == ["Hi", "!", " x"]
    assert "logprobs" not in run.server and run.done_reason == "stop"


def test_entries_without_text_take_the_channel_of_the_text_that_follows():
    run = _recorded(
        ChunkParts(logprobs=[_entry("<think>", 0.9)]),  # text held back by the parser
        ChunkParts(thinking="hm", logprobs=[_entry("hm", 0.4)]),
        ChunkParts(content="Yes", logprobs=[_entry("Yes", 0.7)]),
        ChunkParts(logprobs=[_entry("\n", 0.3)]),  # never followed by text: last channel
    ).run
    assert [(t.token, t.channel) for t in run.logprobs] == [
        ("<think>", "thinking"),
        ("hm", "thinking"),
        ("Yes", "content"),
        ("\n", "content"),
    ]


def test_frames_and_history_carry_the_entries(tmp_path):
    chunks = [
        ChunkParts(content=t, logprobs=[_entry(t, p, (t, p))]) for t, p in [("a", 0.5), ("b", 0.25)]
    ]
    recorder = RunRecorder(model_name="m", prompt="p")
    frames = []
    recorder.run.watch(frames.append, every=0)
    recorder.start()
    for chunk in chunks:
        recorder.feed(chunk)
    recorder.finish()
    run = recorder.run
    assert [t for f in frames for t in f.logprobs] == run.logprobs
    assert all(isinstance(t, TokenLogprob) for t in run.logprobs)
    assert run.logprobs[0].top == (Alternative("a", math.log(0.5)),)

    history = RunHistory([run])
    (record,) = json.loads(history.to_json(tmp_path / "h.json").read_text())
    assert parse_logprobs(record["logprobs"]) == run.logprobs
    assert record["perplexity"] == pytest.approx(perplexity(run.logprobs))
    with history.to_csv(tmp_path / "h.csv").open(encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert float(row["mean_logprob"]) == pytest.approx(mean_logprob(run.logprobs))
    assert parse_logprobs(json.loads(row["logprobs"])) == run.logprobs


def test_a_run_without_logprobs_records_none():
    run = _recorded(AIMessageChunk(content="Hi")).run
    assert run.logprobs == []
    record = RunHistory([run]).records()[0]
    assert record["logprobs"] == [] and record["mean_logprob"] is None
