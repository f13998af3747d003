"""The writer side of a run: the calls each state of its lifecycle allows. No server."""

from __future__ import annotations

import socket

import pytest

from localllm_nb.run import Run, RunRecorder


def test_lifecycle_pending_running_done():
    recorder = RunRecorder(model_name="m", prompt="hi")
    run = recorder.run
    events = []
    run.subscribe(lambda e: events.append((e.type, e.text)))
    assert run.status == "pending" and not run.done
    with pytest.raises(RuntimeError, match="before start"):
        recorder.feed("too early")
    assert recorder.start() and run.status == "running"
    recorder.feed("Hel")
    recorder.feed("lo")
    recorder.finish()
    assert run.status == "done" and run.done and run.content == "Hello"
    recorder.feed("late")  # after the end: dropped, the outcome stays final
    recorder.finish(ValueError("late error"))
    assert run.content == "Hello" and run.status == "done" and run.error is None
    assert events == [("start", ""), ("token", "Hel"), ("token", "lo"), ("end", "")]


def test_a_cancel_while_pending_ends_the_run_and_start_refuses():
    recorder = RunRecorder(model_name="m")
    recorder.run.cancel()
    assert recorder.run.status == "cancelled" and recorder.cancel_requested
    assert recorder.start() is False


def test_cancel_while_running_shuts_the_attached_socket_and_calls_back():
    recorder = RunRecorder(model_name="m")
    recorder.start()
    ours, theirs = socket.socketpair()
    called = []
    try:
        recorder.attach_socket(ours)
        recorder.on_cancel(lambda: called.append(True))
        recorder.run.cancel()
        assert ours.recv(1) == b""  # shut down: a blocked reader wakes at once
        assert called == [True] and recorder.cancel_requested
        recorder.finish()
        assert recorder.run.status == "cancelled"
    finally:
        ours.close()
        theirs.close()


def test_a_socket_attached_after_the_cancel_is_shut_at_once():
    recorder = RunRecorder(model_name="m")
    recorder.start()
    recorder.run.cancel()
    ours, theirs = socket.socketpair()
    try:
        recorder.attach_socket(ours)
        assert ours.recv(1) == b""
    finally:
        ours.close()
        theirs.close()


def test_finish_with_an_error_or_a_cancel_from_elsewhere():
    failing = RunRecorder(model_name="m")
    failing.start()
    failing.finish(ConnectionError("gone"))
    assert failing.run.status == "error" and str(failing.run.error) == "gone"
    awaited = RunRecorder(model_name="m")
    awaited.start()
    awaited.finish(cancelled=True)
    assert awaited.run.status == "cancelled" and awaited.run.cancelled


def test_a_run_refused_before_it_started():
    run = Run.failed(TypeError("bad input"), model_name="m", prompt="x")
    assert run.done and run.status == "error" and isinstance(run.error, TypeError)
    assert run.model_name == "m" and run.prompt == "x"
