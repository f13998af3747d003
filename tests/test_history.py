"""RunHistory: JSON and CSV with spec + stats + text per run, and no credentials."""

from __future__ import annotations

import csv
import json
import socket

from localllm_nb import ModelSpec, RunHistory, build_chat, stream_run

SECRETS = ("s3cret-pw", "tok-123456", "key-987")


def test_history_round_trips_runs_without_secrets(server_url, tmp_path):
    host = server_url.split("://", 1)[1]
    spec = ModelSpec(
        model="smollm2:135m",
        base_url=f"http://alice:{SECRETS[0]}@{host}",
        temperature=0,
        seed=5,
        num_predict=12,
        client_kwargs={
            "headers": {
                "Authorization": f"Bearer {SECRETS[1]}",
                "X-Api-Key": SECRETS[2],
                "X-Trace": "t1",
            }
        },
    )
    history = RunHistory()
    ok = history.add(stream_run(spec, [("system", "Be brief."), ("human", "Say hello.")]))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    failed = history.add(
        stream_run(
            build_chat(spec.replace(base_url=f"http://alice:{SECRETS[0]}@127.0.0.1:{dead_port}")),
            "Hi",
            raise_errors=False,
        )
    )
    assert ok.status == "done" and failed.status == "error" and len(history) == 2

    json_path = history.to_json(tmp_path / "runs.json")
    csv_path = history.to_csv(tmp_path / "runs.csv")
    for path in (json_path, csv_path):
        text = path.read_text("utf-8")
        for secret in SECRETS:
            assert secret not in text, (path.name, secret)
        assert "t1" in text  # ordinary headers are kept

    records = json.loads(json_path.read_text("utf-8"))
    first, second = records
    assert first["content"] == ok.content and first["status"] == "done"
    assert first["stats"]["eval_tokens"] == ok.stats.eval_tokens
    assert first["spec"]["temperature"] == 0.0 and first["spec"]["model"] == "smollm2:135m"
    assert first["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "human", "content": "Say hello."},
    ]
    assert ModelSpec.model_validate(first["spec"]).to_kwargs()["seed"] == 5
    assert second["status"] == "error" and "ServerUnavailableError" in second["error"]
    assert "***@127.0.0.1" in second["error"]

    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [r["status"] for r in rows] == ["done", "error"]
    assert rows[0]["content"] == ok.content and int(rows[0]["tokens"]) == ok.stats.tokens
    assert rows[0]["backend"] == "ollama" and json.loads(rows[0]["spec"])["num_predict"] == 12
