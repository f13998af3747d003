"""The views on the openai backend, over real HTTP: the ControlPanel's backend switch with
its URL and key boxes (llama.cpp's own llama-server behind a key), StreamView on an
OpenAI-compatible run (thinking, chart, usage), Compare mixing an Ollama column with an
OpenAI-compatible one, `hosts=` placing OpenAI-compatible columns on two servers, and
RunHistory naming each run's protocol."""

from __future__ import annotations

import json

from html_images import html_pngs

from localllm_nb import ModelSpec
from localllm_nb.widgets import Compare, ControlPanel, StreamView

CHAT = "smollm2:135m"


def _widget_states(widget) -> list[str]:
    """The synced state of a widget and every widget under it, as JSON text."""
    out, todo = [], [widget]
    while todo:
        w = todo.pop()
        out.append(json.dumps(w.get_state(), default=str))
        todo.extend(getattr(w, "children", ()) or ())
    return out


def test_control_panel_switches_to_an_openai_server_with_url_and_key(server_url, llama_server):
    panel = ControlPanel(ModelSpec(model=CHAT, base_url=server_url, num_predict=8))
    assert panel.key.layout.display == "none"
    panel.backend.value = "openai"
    assert panel.spec.backend == "openai" and panel.spec.max_tokens == 8
    assert "num_ctx" not in panel.rows and "max_tokens" in panel.rows
    assert "api_key_env" in panel.rows and "api_key" not in panel.rows
    assert panel.key.layout.display is None and "Enter the server" in panel.status.value
    assert [label for label, _ in panel.kind.options] == ["Chat", "Embeddings"]
    panel.url.value = llama_server.url
    assert panel.spec.base_url == llama_server.url
    assert "401" in panel.status.value or "Invalid API Key" in panel.status.value
    panel.key.value = llama_server.key
    assert panel.spec.api_key.get_secret_value() == llama_server.key
    assert panel.key.value == "" and "hidden" in panel.key.placeholder
    assert "· 1 model</span>" in panel.status.value
    panel.model.value = llama_server.model
    assert panel.spec.model == llama_server.model
    # The badges are what llama-server reported, nothing more.
    assert "completion" in panel.badges.value and "tools" not in panel.badges.value
    assert panel.rows["temperature"].control.placeholder.startswith("server default (0.8")
    effort = panel.rows["reasoning_effort"].control
    assert [v for _, v in effort.options] == [None, "none", "minimal", "low", "medium", "high"]
    effort.value = "low"
    assert panel.spec.reasoning_effort == "low" and "reasoning_effort='low'" in panel.code.code
    assert all(llama_server.key not in state for state in _widget_states(panel))
    assert llama_server.key not in repr(panel) and "getpass" in panel.code.code
    panel.backend.value = "ollama"
    assert panel.spec.backend == "ollama" and panel.spec.api_key is None
    assert panel.key.layout.display == "none"


def test_stream_view_on_an_openai_run_shows_thinking_chart_and_usage(server_url):
    spec = ModelSpec(
        backend="openai",
        model="smollm2:135m-think",
        base_url=server_url + "/v1",
        api_key="sk-view-secret-123",
        reasoning_effort="low",
        temperature=0,
        max_tokens=24,
    )
    view = StreamView(spec)
    run = view.run("What is 3 + 4?")
    view.wait(120)
    assert run.status == "done" and run.thinking and view.thinking == run.thinking
    rows = dict(view.stats_rows)
    stats = run.stats
    assert stats.source == "openai" and stats.prompt_tokens > 5 and 0 < stats.eval_tokens <= 24
    assert (
        rows["usage"] == f"{stats.prompt_tokens} · {stats.eval_tokens} tokens (prompt · completion)"
    )
    page = view.display_bundle()["text/html"]
    assert "<details>" in page and "Thinking" in page and len(html_pngs(page)) == 1
    assert "prompt · completion" in page
    assert "sk-view-secret-123" not in page
    assert all("sk-view-secret-123" not in state for state in _widget_states(view))


def test_compare_mixes_an_ollama_column_with_an_openai_one(server_url, llama_server):
    specs = [
        ModelSpec(model=CHAT, base_url=server_url, temperature=0, num_predict=8),
        ModelSpec(
            backend="openai",
            model=llama_server.model,
            base_url=llama_server.url,
            api_key_env=llama_server.key_env,
            temperature=0,
            max_tokens=8,
        ),
    ]
    compare = Compare(specs, "Say hello.")
    assert compare.wait(240)
    rows = compare.rows
    assert [r["status"] for r in rows] == ["done", "done"]
    # Two servers, two queues; each column says which protocol it spoke.
    assert len(compare.mode["hosts"]) == 2
    assert compare.mode["protocols"] == {0: "Ollama API", 1: "OpenAI-compatible /v1"}
    assert "column 2 OpenAI-compatible /v1" in compare.bar.mode
    assert all(r["server_tps"] for r in rows)  # Ollama's eval rate, llama-server's timings


def test_sweep_over_an_openai_spec(llama_server):
    from localllm_nb.widgets import Sweep

    spec = ModelSpec(
        backend="openai",
        model=llama_server.model,
        base_url=llama_server.url,
        api_key_env=llama_server.key_env,
        temperature=0,
    )
    sweep = Sweep(spec, "max_tokens", [4, 8], "Say hello.", repeats=1)
    assert sweep.wait(240)
    assert [r["status"] for r in sweep.rows] == ["done", "done"]
    assert [r["tokens"] for r in sweep.rows] == [4, 8]  # one chunk per token on llama-server
    assert len(sweep.mode["hosts"]) == 1
    assert set(sweep.mode["protocols"].values()) == {"OpenAI-compatible /v1"}


def test_hosts_place_openai_columns_on_each_server(server_url, llama_server):
    """`hosts=` over two real servers: our /v1 and llama-server. Each OpenAI-compatible
    column gets its host's /v1 (the spec's own URL answers nothing), an Ollama column its
    host's root; each server is its own queue."""
    dead = "http://127.0.0.1:9/v1"  # replaced by the host: a run here would fail
    spec = ModelSpec(
        backend="openai",
        model=CHAT,
        base_url=dead,
        api_key_env=llama_server.key_env,
        temperature=0,
        max_tokens=6,
    )
    ollama = ModelSpec(model=CHAT, base_url="http://127.0.0.1:9", temperature=0, num_predict=6)
    ours, peer = server_url.rstrip("/"), llama_server.url.removesuffix("/v1")
    compare = Compare(
        [spec, spec.replace(seed=2), ollama], "Say hello.", hosts=[ours, peer + "/v1"]
    )
    assert [job.spec.base_url for job in compare.jobs] == [ours + "/v1", peer + "/v1", ours]
    assert compare.wait(240)
    rows = sorted(compare.rows, key=lambda r: r["column"])
    assert [r["status"] for r in rows] == ["done"] * 3, [r["error"] for r in rows]
    assert [(r["host"], r["protocol"]) for r in rows] == [
        (ours, "openai"),
        (peer, "openai"),
        (ours, "ollama"),
    ]
    assert compare.mode["hosts"] == [ours, peer]
    # Where each run went, from what the servers sent: llama-server reports its own
    # timings, our /v1 only OpenAI's usage; the Ollama API its eval counts.
    runs = {job.column: run for job, run in compare.schedule.runs}
    assert runs[1].stats.server_tps and not runs[0].stats.server_tps
    assert runs[2].stats.source == "ollama" and runs[0].stats.source == "openai"
    assert "column 3 Ollama API" in compare.bar.mode


def test_run_history_names_each_runs_protocol(server_url, tmp_path):
    import csv

    from localllm_nb import RunHistory, stream_run
    from localllm_nb.widgets.playground import HistoryTable

    ollama = ModelSpec(model=CHAT, base_url=server_url, temperature=0, num_predict=6)
    openai = ModelSpec(
        backend="openai", model=CHAT, base_url=server_url + "/v1", temperature=0, max_tokens=6
    )
    history = RunHistory()
    for spec in (ollama, openai):
        history.add(stream_run(spec, "Say hello."))
    table = HistoryTable(history, folder=tmp_path)
    assert "<th style='text-align:left;padding:0 8px'>protocol</th>" in table.table.value
    cells = table.table.value.split("<tr>")[2:]
    assert ">ollama<" in cells[0] and ">openai<" in cells[1]
    records = json.loads(table.export("json").read_text("utf-8"))
    assert [r["protocol"] for r in records] == ["ollama", "openai"]
    with table.export("csv").open(newline="", encoding="utf-8") as fh:
        assert [row["protocol"] for row in csv.DictReader(fh)] == ["ollama", "openai"]
