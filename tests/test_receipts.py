"""Run receipts against the embedded server: what they record, how they save and load,
and `replay`: a seeded run reruns to the same text; a changed option or model is named."""

from __future__ import annotations

import json
import os
from importlib.metadata import version

import httpx
import pytest

from localllm_nb import ModelSpec, Receipt, RunHistory, load_receipts, replay, stream_run

CHAT = "smollm2:135m"
PROMPT = [("system", "Be brief."), ("human", "Name three fruits.")]


@pytest.fixture(scope="module")
def seeded(server_url):
    """A sampled (temperature > 0), seeded run and its receipt, taken right after it."""
    host = server_url.split("://", 1)[1]
    spec = ModelSpec(
        model=CHAT,
        base_url=f"http://alice:pw-s3cret@{host}",
        temperature=0.9,
        seed=11,
        num_predict=16,
    )
    run = stream_run(spec, PROMPT)
    return run, run.receipt()


def test_receipt_records_model_server_options_packages_and_machine(server_url, seeded):
    run, receipt = seeded
    tags = httpx.get(server_url + "/api/tags").json()["models"]
    (digest,) = [m["digest"] for m in tags if m["model"] == CHAT]
    ps = [m for m in httpx.get(server_url + "/api/ps").json()["models"] if m["model"] == CHAT]
    shown = httpx.post(server_url + "/api/show", json={"model": CHAT}).json()
    assert receipt.model == CHAT and receipt.digest == digest and digest
    assert receipt.server_kind == "embedded"
    assert receipt.server_version == httpx.get(server_url + "/api/version").json()["version"]
    # The URL without the password (safe_url's '***' says credentials were sent).
    assert receipt.server_url == server_url.replace("://", "://***@")
    assert "s3cret" not in receipt.to_json()
    # Set options win; the rest are the server's defaults from /api/show.
    assert receipt.options["temperature"] == 0.9 and receipt.options["seed"] == 11
    assert f"num_ctx {receipt.options['num_ctx']}" in " ".join(shown["parameters"].split())
    assert receipt.seed == 11 and receipt.template_hash.startswith("sha256:")
    assert receipt.packages["localllm-nb"] == version("localllm-nb")
    assert receipt.packages["xllamacpp"] == version("xllamacpp")
    assert receipt.machine["logical_cpus"] == os.cpu_count() and receipt.machine["cpu"]
    assert receipt.machine["engine_threads"] == ps[0]["num_thread"] >= 1
    assert receipt.content == run.content and run.receipt() is receipt


def test_seeded_run_replays_to_the_same_text(seeded):
    _, receipt = seeded
    result = replay(receipt)
    assert result.identical and result.receipt.content == receipt.content
    assert result.differences == {} and "identical answer" in repr(result)


def test_a_changed_option_is_named(seeded):
    _, receipt = seeded
    result = replay(receipt, temperature=1.5)
    assert result.differences["options.temperature"] == (0.9, 1.5)
    assert set(result.differences) == {"options.temperature"}
    assert "options.temperature: 0.9 -> 1.5" in result.explain()


def test_a_changed_model_is_named(seeded):
    _, receipt = seeded
    result = replay(receipt, model="smollm2:135m-think")
    assert result.differences["model"] == (CHAT, "smollm2:135m-think")
    assert "template" in result.differences  # the variant is its template
    assert not result.identical and "model: " in repr(result)


def test_receipts_save_with_the_history_and_load_back(server_url, seeded, tmp_path):
    run, receipt = seeded
    history = RunHistory([run])
    dead = stream_run(
        ModelSpec(model=CHAT, base_url="http://127.0.0.1:9"), "Hi", raise_errors=False
    )
    history.add(dead)
    records = json.loads(history.to_json(tmp_path / "runs.json").read_text())
    assert records[0]["receipt"] == receipt.to_dict()
    assert records[1]["receipt"]["server_kind"] == "" and not records[1]["receipt"]["digest"]
    from_json = load_receipts(tmp_path / "runs.json")
    from_csv = load_receipts(history.to_csv(tmp_path / "runs.csv"))
    from_list = load_receipts(history.receipts_json(tmp_path / "receipts.json"))
    assert from_json[0] == from_csv[0] == from_list[0] == receipt
    assert len(from_json) == len(from_csv) == len(from_list) == 2
    alone = Receipt.from_dict(json.loads(receipt.to_json(tmp_path / "one.json")))
    assert load_receipts(tmp_path / "one.json") == [alone] and alone == receipt
    assert replay(receipt.to_dict()).identical


def test_receipt_needs_a_finished_run(server_url):
    from localllm_nb import Run

    with pytest.raises(RuntimeError, match="finished run"):
        Run(model_name=CHAT).receipt()
    failed = Run.failed(ValueError("no"), model_name=CHAT)
    assert failed.receipt().status == "error" and failed.receipt().spec is None
    with pytest.raises(ValueError, match="no spec"):
        replay(failed.receipt())


def test_a_thinking_run_replays_its_thinking_too(server_url):
    spec = ModelSpec(
        model="smollm2:135m-think",
        base_url=server_url,
        reasoning=True,
        temperature=0.9,
        seed=3,
        num_predict=24,
    )
    receipt = stream_run(spec, "Is 7 prime?").receipt()
    assert receipt.thinking and receipt.options["reasoning"] is True
    result = replay(receipt)
    assert result.identical and result.receipt.thinking == receipt.thinking
