"""Widgets in plain pytest with a recording comm: the stream protocol, traffic, Stop,
errors, the snapshot bundle, the control panel and the playground. Real server."""

from __future__ import annotations

import json
import time

import pytest
from html_images import html_pngs

from localllm_nb import ModelSpec, RunHistory, load_receipts
from localllm_nb.widgets import ControlPanel, Playground, StreamView
from localllm_nb.widgets._form import parse, placeholder, render
from localllm_nb.widgets.snapshot import snapshot_bundle, snapshot_html, stats_rows, view_stats
from tests.models import CHAT, EMBED, THINK


class RecordingComm:
    """Stands in for the kernel's comm: keeps every message a widget sends."""

    comm_id = "recording"
    kernel = object()

    def __init__(self):
        self.sent: list[dict] = []
        self.handlers: list = []

    def send(self, data=None, metadata=None, buffers=None):
        self.sent.append(data)

    def customs(self) -> list[dict]:
        return [m["content"] for m in self.sent if m.get("method") == "custom"]

    def updates(self) -> list[dict]:
        return [m["state"] for m in self.sent if m.get("method") == "update"]

    def close(self, *args, **kwargs):
        pass

    def on_msg(self, callback):
        self.handlers.append(callback)  # the widget's message handler, as a kernel keeps it

    def receive(self, content: dict) -> None:
        """Deliver a custom message as the front end sends it (`model.send(content)`)."""
        message = {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        for handler in list(self.handlers):
            handler(message)

    def on_close(self, callback):
        pass


def recorded(view):
    view.comm = RecordingComm()
    return view.comm


@pytest.fixture
def spec(server_url):
    return ModelSpec(model=CHAT, base_url=server_url, temperature=0.7, seed=5, num_predict=60)


def test_frames_rebuild_the_text_in_order_and_traits_end_equal(spec):
    view = StreamView(spec, every=0.05, commit_every=0.5)
    comm = recorded(view)
    run = view.run("Describe a forest in a few sentences.")
    assert run.status in ("pending", "running")  # returned at once
    assert view.wait(120) is run and run.status == "done"
    frames = [m for m in comm.customs() if m["type"] == "frame"]
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert {f["run_id"] for f in frames} == {run.id}
    assert "".join(f["content"] for f in frames) == run.content
    assert sum(len(f["points"]) for f in frames) == len(run.timeline)
    assert frames[-1]["final"] and not any(f["final"] for f in frames[:-1])
    # Committed traits: the truth at the end.
    assert (view.state, view.content, view.seq) == ("done", run.content, frames[-1]["seq"])
    assert view.stats["tokens"] == run.stats.tokens and view.stats["done_reason"] == run.done_reason
    assert len(view.points) == len(run.timeline)
    # The live strip's final rows are the saved snapshot's table, computed once in Python.
    assert view.stats_rows == [list(row) for row in stats_rows(view_stats(run))]
    table = snapshot_html(run)
    assert all(label in table and value in table for label, value in view.stats_rows)
    assert ["tokens", str(run.stats.tokens)] in view.stats_rows
    # Traits are committed far less often than frames are sent.
    content_commits = [u for u in comm.updates() if "content" in u]
    assert 1 <= len(content_commits) <= len(frames)


def test_traffic_is_a_message_per_frame_not_per_token(spec):
    """Tokens faster than the frame period share a message."""
    from localllm_nb.run import RunRecorder

    view = StreamView(spec, every=0.2)
    comm = recorded(view)
    recorder = RunRecorder(model_name=CHAT)
    run = recorder.run
    view.show(run)
    recorder.start()
    for _ in range(500):
        recorder.feed("word ")
    recorder.finish()
    frames = [m for m in comm.customs() if m["type"] == "frame"]
    assert len(frames) <= 4
    assert view.content == "word " * 500 and view.state == "done"
    total = sum(len(json.dumps(m)) for m in comm.sent)
    assert total < 30_000  # 500 tokens' text, points and a few envelopes


def test_stop_from_the_front_end_keeps_the_partial_text(server_url):
    spec = ModelSpec(model=CHAT, base_url=server_url, temperature=0.7, num_predict=2000)
    view = StreamView(spec)
    comm = recorded(view)
    run = view.run("Write a very long story about a dragon.")
    deadline = time.monotonic() + 120
    while run.stats.tokens < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    comm.receive({"type": "stop"})  # what the Stop button sends
    assert run.wait(5)
    assert run.status == "cancelled" and view.state == "stopped"
    assert view.content == run.content and len(run.content) > 0
    assert view.stats["tokens"] == run.stats.tokens >= 5
    assert comm.customs()[-1]["final"]


def test_errors_show_one_message_and_keep_what_there_is():
    view = StreamView(ModelSpec(model=CHAT, base_url="http://127.0.0.1:9"))
    recorded(view)
    run = view.run("Hi")
    assert view.wait(30) is run
    assert view.state == "error" and run.status == "error"
    assert view.error.startswith("No Ollama server answers at http://127.0.0.1:9")
    assert "Traceback" not in view.error


def test_missing_model_and_refused_input(server_url):
    view = StreamView(ModelSpec(model="no-such-model", base_url=server_url))
    recorded(view)
    view.run("Hi")
    view.wait(30)
    assert view.state == "error" and "ollama pull no-such-model" in view.error
    # An embeddings spec cannot generate: refused before it starts, shown the same way.
    emb = StreamView(ModelSpec(kind="embeddings", model=EMBED, base_url=server_url))
    recorded(emb)
    run = emb.run("Hi")
    assert run.status == "error" and emb.state == "error"
    assert "does not generate text" in emb.error


def test_chat_mode_keeps_the_conversation(spec):
    view = StreamView(spec.replace(num_predict=12), chat=True)
    recorded(view)
    view.run("My name is Ada.")
    view.wait(60)
    view.run("What is my name?")
    assert [m["role"] for m in view.transcript] == ["user", "assistant", "user"]
    view.wait(60)
    assert [m["role"] for m in view.messages] == ["user", "assistant", "user", "assistant"]
    assert view.messages[-1]["content"] == view.content
    with pytest.raises(RuntimeError, match="in progress"):
        view.run("one")
        view.run("two")
    view.stop()
    view.wait(10)
    view.clear()
    assert view.messages == [] and view.transcript == [] and view.state == "idle"


def test_arun_awaits_without_blocking(spec):
    import asyncio

    view = StreamView(spec.replace(num_predict=10))
    recorded(view)
    run = asyncio.run(view.arun("Say hi."))
    assert run.done and view.state == "done" and view.content == run.content


def test_snapshot_bundle_for_saved_notebooks(spec):
    view = StreamView(ModelSpec(model=THINK, base_url=spec.base_url, num_predict=30))
    recorded(view)
    run = view.run("What is 3 + 4?")
    view.wait(60)
    bundle = snapshot_bundle(run)
    page = bundle["text/html"]
    assert "<details>" in page and "Thinking" in page  # collapsed by default
    assert "TTFT" in page and "tokens/s" in page
    # The chart is inside the HTML (readers that prefer text/html still see it), once.
    assert len(html_pngs(page)) == 1 and "image/png" not in bundle
    full = view.display_bundle()
    assert "application/vnd.jupyter.widget-view+json" in full and full["text/html"] == page
    assert full["text/plain"] == "StreamView(model='smollm2:135m-think', state='done')"
    escaped = snapshot_bundle(type(run)(model_name="<b>x</b>"))["text/html"]
    assert "<b>x</b>" not in escaped


def test_snapshot_renders_the_answers_markdown(spec):
    # A schema with one allowed string makes the real model write this exact Markdown.
    answer = "**Paris** is the `capital` <script>x</script>"
    view = StreamView(spec.replace(num_predict=60, format={"type": "string", "const": answer}))
    recorded(view)
    view.run("Capital of France?")
    view.wait(60)
    page = view.display_bundle()["text/html"]
    assert view.content == f'"{answer}"'
    assert (
        "<p>&quot;<strong>Paris</strong> is the <code>capital</code> "
        "&lt;script&gt;x&lt;/script&gt;&quot;</p>"
    ) in page
    assert "**" not in page and "<script>" not in page and len(html_pngs(page)) == 1


def test_form_text_round_trips():
    from localllm_nb.fields import FIELD_RULES

    assert parse(FIELD_RULES["stop"], '["a,b", " c"]') == ["a,b", " c"]
    assert render(FIELD_RULES["stop"], ["a,b"]) == '["a,b"]'
    with pytest.raises(ValueError, match="is not a number; allowed"):
        parse(FIELD_RULES["temperature"], "hot")
    assert placeholder(FIELD_RULES["mirostat"]) == "server default (0)"


def test_control_panel_edits_the_spec(server_url):
    panel = ControlPanel(ModelSpec(model=CHAT, base_url=server_url))
    changes = []
    panel.observe(lambda c: changes.append(c["new"]), names="spec")
    assert "embedded backend" in panel.status.value and "completion" in panel.badges.value
    assert panel.rows["num_ctx"].control.placeholder == "server default (4096; documented 2048)"
    panel.rows["temperature"].control.value = "-1"
    assert "temperature: got -1" in panel.rows["temperature"].message.value
    assert panel.spec.temperature is None and changes == []  # the last valid spec stays
    panel.rows["temperature"].control.value = "0.2"
    assert panel.spec.temperature == 0.2 and changes[-1] is panel.spec
    assert "temperature=0.2" in panel.code.code
    panel.rows["temperature"].reset.click()
    assert panel.spec.temperature is None
    panel.backend.value = "mlx"
    assert panel.spec.backend == "mlx" and "pipeline_kwargs.temp" in panel.rows
    panel.backend.value = "ollama"
    panel.spec = ModelSpec(model=THINK, base_url=server_url, reasoning="high")
    assert panel.rows["reasoning"].control.value == "high"
    assert "thinking" in panel.badges.value or panel.model.value == "smollm2:135m-think"


def test_control_panel_without_a_server():
    panel = ControlPanel(ModelSpec(model=CHAT, base_url="http://127.0.0.1:9"))
    assert "No server answers at http://127.0.0.1:9" in panel.status.value
    assert panel.start_button.layout.display != "none"


def test_playground_sends_with_the_panel_spec_and_records_runs(server_url, tmp_path):
    playground = Playground(ModelSpec(model=CHAT, base_url=server_url, num_predict=8))
    recorded(playground.view)
    playground.prompt.send_text("Hello!")
    assert playground.prompt.disabled or playground.view.state in ("done", "error")
    playground.view.wait(60)
    assert not playground.prompt.disabled
    assert len(playground.history) == 1 and "<td" in playground.table.table.value
    playground.table.folder = tmp_path
    saved = json.loads(playground.table.export("json").read_text())
    assert saved[0]["content"] == playground.view.content
    assert playground.table.export("csv").read_text().startswith("id,")
    (receipt,) = load_receipts(playground.table.export("receipts"))
    assert receipt.content == playground.view.content and receipt.server_kind == "embedded"
    assert "receipts of 1 runs" in playground.table.saved.value
    playground.panel.kind.value = "embeddings"
    playground.send("Hi")
    assert "does not chat" in playground.notice.value and len(playground.history) == 1
    assert isinstance(playground.history, RunHistory)
    snapshot = playground.display_bundle()
    assert len(html_pngs(snapshot["text/html"])) == 1
    assert "<table class='llnb-history'>" in snapshot["text/html"]


def test_empty_state_text(server_url):
    from localllm_nb.widgets import Compare

    assert StreamView(CHAT).empty_text == "No run yet: call view.run(prompt)."
    specs = [ModelSpec(model=CHAT, base_url=server_url, temperature=t) for t in (0.0, 1.0)]
    compare = Compare(specs, "Hi", start=False)
    assert all(
        v.empty_text == "Waiting for its turn (one run at a time per server)."
        for v in compare.views
    )
