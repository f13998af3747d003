"""Runs as views follow them: coalesced frames, late subscribers, observer errors,
runs that start before their model is built, and history notifications. Real server."""

from __future__ import annotations

import threading
import time

import pytest

from localllm_nb import ModelSpec, RunHistory, build_chat, start_run, stream_run
from localllm_nb.run import RunFrame, RunRecorder
from tests.models import CHAT, THINK

LONG = dict(temperature=0.7, seed=3, num_predict=120)


@pytest.fixture(scope="module")
def chat(server_url):
    return build_chat(ModelSpec(model=CHAT, base_url=server_url, **LONG))


@pytest.fixture(scope="module")
def short(server_url):
    return build_chat(ModelSpec(model=CHAT, base_url=server_url, temperature=0, num_predict=8))


class Recorder:
    """Collects frames from the worker thread, as a view would."""

    def __init__(self):
        self.frames: list[RunFrame] = []
        self.arrivals: list[float] = []
        self.final = threading.Event()
        self._arrived = threading.Condition()

    def __call__(self, frame: RunFrame) -> None:
        with self._arrived:
            self.frames.append(frame)
            self.arrivals.append(time.monotonic())
            self._arrived.notify_all()
        if frame.final:
            self.final.set()

    def until(self, condition, timeout: float = 30) -> bool:
        """Wait for frames to make `condition()` true (a timer thread sends them), or give
        up after `timeout` (generous: a busy machine delays threads, not the logic)."""
        with self._arrived:
            return self._arrived.wait_for(condition, timeout)

    def joined(self, name: str) -> str:
        return "".join(getattr(f, name) for f in self.frames)


def test_frames_coalesce_and_rebuild_the_run_exactly(chat):
    rec = Recorder()
    run = start_run(chat, "Write a short story about a lighthouse keeper.")
    run.watch(rec, every=0.1)
    assert run.wait(120) and rec.final.wait(5)
    assert run.stats.tokens > 30
    # No gap, no repeat, whatever the pace of the tokens.
    assert [f.seq for f in rec.frames] == list(range(1, len(rec.frames) + 1))
    assert {f.run_id for f in rec.frames} == {run.id}
    assert rec.joined("content") == run.content
    assert [p for f in rec.frames for p in f.points] == run.timeline
    # Only the last frame is final; it carries the outcome.
    assert [f.final for f in rec.frames] == [False] * (len(rec.frames) - 1) + [True]
    last = rec.frames[-1]
    assert last.status == "done" and last.done_reason == run.done_reason
    assert last.error is None and last.observer_errors == ()
    # At most one frame per period (allowing scheduler jitter), except the final one.
    gaps = [b - a for a, b in zip(rec.arrivals[1:-2], rec.arrivals[2:-1], strict=False)]
    assert all(gap > 0.05 for gap in gaps), gaps


def test_tokens_faster_than_the_period_are_coalesced():
    recorder = RunRecorder(model_name="m")
    run = recorder.run
    rec = Recorder()
    run.watch(rec, every=0.5)
    recorder.start()
    for _ in range(300):
        recorder.feed("x")
    recorder.finish()
    assert len(rec.frames) <= 3  # the first frame, perhaps one more, the final one
    assert rec.joined("content") == "x" * 300 and len(rec.frames[-1].points) >= 290


def test_a_late_subscriber_gets_everything_so_far_first(chat):
    run = start_run(chat, "List ten animals, one per line.")
    while run.stats.tokens < 10 and not run.done:
        time.sleep(0.01)
    rec = Recorder()
    run.watch(rec, every=0.05)
    first = rec.frames[0]
    assert first.seq == 1 and len(first.points) >= 10
    assert run.wait(120) and rec.final.wait(5)
    assert rec.joined("content") == run.content
    assert len([p for f in rec.frames for p in f.points]) == len(run.timeline)


def test_watching_a_finished_run_gives_one_final_frame(short):
    run = stream_run(short, "Say hi.")
    rec = Recorder()
    run.watch(rec)
    (frame,) = rec.frames
    assert frame.final and frame.content == run.content and frame.status == "done"


def test_thinking_and_tool_calls_travel_in_frames(server_url):
    think = build_chat(ModelSpec(model=THINK, base_url=server_url, reasoning="low", num_predict=40))
    rec = Recorder()
    run = start_run(think, "What is 2 + 2?")
    run.watch(rec)
    assert run.wait(120) and rec.final.wait(5)
    assert run.thinking and rec.joined("thinking") == run.thinking
    assert rec.joined("content") == run.content

    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    tools = build_chat(ModelSpec(model=CHAT, base_url=server_url, temperature=0))
    rec = Recorder()
    run = start_run(tools, "Weather in Paris?", tools=[get_weather])
    run.watch(rec)
    assert run.wait(120) and rec.final.wait(5)
    calls = [c for f in rec.frames for c in f.tool_calls]
    assert calls == run.tool_calls and calls[0]["name"] == "get_weather"


def test_a_trailing_piece_is_sent_without_waiting_for_the_next_token():
    """A frame's period ends with a timer: what arrives after the last frame is sent
    within the period even when nothing else happens."""
    recorder = RunRecorder(model_name="m")
    run = recorder.run
    rec = Recorder()
    run.watch(rec, every=0.2)
    recorder.start()
    recorder.feed("a")  # within the period of the start frame
    assert rec.until(lambda: rec.joined("content") == "a")
    assert not rec.final.is_set()  # the timer sent it, not the end of the run
    recorder.finish()
    assert rec.final.is_set() and rec.joined("content") == "a"


def test_observer_errors_are_kept_and_reported(short):
    def broken(frame):
        raise RuntimeError("view bug")

    rec = Recorder()
    run = start_run(short, "Say hello.")
    run.watch(broken)
    run.watch(rec)
    assert run.wait(60) and rec.final.wait(5)
    assert run.status == "done"
    assert run.observer_errors and run.observer_errors[0] == "RuntimeError: view bug"
    assert "RuntimeError: view bug" in rec.frames[-1].observer_errors
    assert "observer_errors=" in repr(run)


def test_start_run_returns_while_the_model_builds_and_cancel_works(server_url, monkeypatch):
    """A slow build (an MLX load, validate_model_on_init) happens on the worker."""
    import localllm_nb.backends as backends

    release = threading.Event()
    real_build = backends.build

    def slow_build(spec):
        release.wait(10)
        return real_build(spec)

    monkeypatch.setattr(backends, "build", slow_build)
    spec = ModelSpec(model=CHAT, base_url=server_url, num_predict=5)
    t0 = time.monotonic()
    run = start_run(spec, "Hi")
    assert time.monotonic() - t0 < 0.5
    assert run.status == "pending" and run.model_name == CHAT
    rec = Recorder()
    run.watch(rec)
    assert rec.frames[0].status == "pending"
    t0 = time.monotonic()
    run.cancel()
    assert run.wait(1) and time.monotonic() - t0 < 0.5
    assert run.status == "cancelled" and rec.frames[-1].final
    release.set()

    # Without a cancel, the built model streams as usual.
    release.clear()
    run = start_run(spec, "Hi")
    assert run.status == "pending"
    release.set()
    assert run.wait(60) and run.status == "done" and run.content


def test_a_failed_build_ends_the_run_with_its_error(server_url):
    spec = ModelSpec(model="no-such-model", base_url=server_url, validate_model_on_init=True)
    run = start_run(spec, "Hi")
    assert run.wait(30)
    assert run.status == "error" and "ollama pull no-such-model" in str(run.error)


def test_history_notifies_when_runs_are_added_and_finish(short):
    history = RunHistory()
    changes: list[tuple[str, int]] = []
    history.observe(lambda change, run: changes.append((change, run.id)))
    first = history.add(start_run(short, "Say one word."))
    assert first.wait(60)
    second = history.add(stream_run(short, "Say two words."))
    deadline = time.monotonic() + 5
    while len(changes) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert changes == [("added", first.id), ("finished", first.id), ("added", second.id)]


def test_min_tokens_makes_frames_follow_the_tokens_not_the_clock():
    recorder = RunRecorder(model_name="m")
    run = recorder.run
    rec = Recorder()
    run.watch(rec, every=0.0, min_tokens=8, max_wait=0.3)
    recorder.start()
    fed = time.monotonic()  # before the frame whose time max_wait counts from
    for _ in range(20):
        recorder.feed("x")
    sizes = [len(f.points) for f in rec.frames]
    assert sizes == [0, 0, 8, 8]  # pending, running, then every 8th token
    # The 4 left over go out after max_wait, without another token.
    assert rec.until(lambda: len(rec.frames) == 5)
    assert len(rec.frames[-1].points) == 4 and not rec.frames[-1].final
    assert rec.arrivals[-1] - fed >= 0.3  # not before max_wait
    recorder.finish()
    assert rec.joined("content") == "x" * 20 and rec.frames[-1].final
