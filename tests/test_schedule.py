"""The scheduler under Compare and Sweep, without a kernel: job plans, one run at a time
per server, repeats, hosts, Stop, and how the numbers were taken. Real servers."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from localllm_nb import ModelSpec
from localllm_nb.run import start_run
from localllm_nb.run.schedule import Schedule, best_columns, plan_jobs, summarize
from tests.models import CHAT


@pytest.fixture
def spec(server_url):
    return ModelSpec(model=CHAT, base_url=server_url, temperature=0, seed=3, num_predict=3)


@pytest.fixture(scope="module")
def second_server():
    from localllm_nb.embedded import start_server

    server = start_server()
    try:
        yield server.url
    finally:
        server.stop()


def timed_start(log, prompt="Say hi."):
    """A start(job) that records when each run starts and ends."""

    def start(job):
        run = start_run(job.spec, prompt)
        began = time.monotonic()

        def ended():
            run.wait()
            log.append((job, began, time.monotonic()))

        threading.Thread(target=ended, daemon=True).start()
        return run

    return start


def test_plan_interleaves_repeats_and_places_columns_on_hosts(spec):
    specs = [spec, spec.replace(temperature=1.0), spec.replace(model="other")]
    jobs = plan_jobs(specs, hosts=["http://a:1/", "http://b:2"], repeats=2)
    assert [(j.repeat, j.column) for j in jobs] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert [j.host for j in jobs[:3]] == ["http://a:1", "http://b:2", "http://a:1"]
    assert jobs[0].spec.base_url == "http://a:1" and jobs[3].host == jobs[0].host
    assert jobs[0].label == f"{CHAT} · temperature=0.0 @ http://a:1"
    assert jobs[1].label == f"{CHAT} · temperature=1.0 @ http://b:2"
    assert jobs[2].label == "other · temperature=0.0 @ http://a:1"
    with pytest.raises(ValueError, match="repeats"):
        plan_jobs(specs, repeats=0)
    with pytest.raises(ValueError, match="one label per spec"):
        plan_jobs(specs, labels=["x"])


def test_one_run_at_a_time_per_server_with_repeats(spec):
    log: list = []
    jobs = plan_jobs([spec, spec.replace(seed=4)], repeats=2)
    schedule = Schedule(jobs, "Say hi.", start=timed_start(log)).begin()
    assert schedule.wait(180)
    assert len(schedule.rows) == 4 and {r["status"] for r in schedule.rows} == {"done"}
    spans = sorted((b, e) for _, b, e in log)
    # concurrency=1: each run starts after the previous one ended (runs never overlap).
    assert all(later[0] >= earlier[1] - 0.05 for earlier, later in itertools.pairwise(spans))
    assert schedule.mode["concurrency"] == 1 and schedule.mode["hosts"] == [spec.base_url]
    ps = schedule.mode["ps_after"][spec.base_url]
    assert isinstance(ps, list) and any(m["name"].startswith(CHAT) for m in ps)
    summary = summarize(schedule.rows)
    assert [s["runs"] for s in summary] == [2, 2]
    assert all(s["client_tps"] > 0 and s["client_tps_std"] is not None for s in summary)
    assert set(best_columns(summary)) >= {"ttft_s", "client_tps", "duration_s"}


def test_concurrency_two_overlaps_runs_but_never_a_columns_repeats(spec):
    log: list = []
    jobs = plan_jobs([spec, spec.replace(seed=9)], repeats=2)
    schedule = Schedule(jobs, "Count to ten.", concurrency=2, start=timed_start(log)).begin()
    assert schedule.wait(180)
    by_column: dict = {}
    for job, began, end in log:
        by_column.setdefault(job.column, []).append((began, end))
    for spans in by_column.values():
        spans.sort()
        assert spans[1][0] >= spans[0][1] - 0.05
    assert {r["concurrency"] for r in schedule.rows} == {2}


def test_two_servers_each_serve_their_columns(spec, server_url, second_server):
    jobs = plan_jobs([spec, spec.replace(seed=4)], hosts=[server_url, second_server])
    schedule = Schedule(jobs, "Say hi.").begin()
    assert schedule.wait(240)
    hosts = {r["column"]: r["host"] for r in schedule.rows}
    assert hosts == {0: server_url.rstrip("/"), 1: second_server}
    assert {r["status"] for r in schedule.rows} == {"done"}
    assert set(schedule.mode["ps_after"]) == {server_url.rstrip("/"), second_server}


def test_stop_cancels_the_live_run_and_drops_the_rest(spec):
    long = spec.replace(num_predict=400)
    jobs = plan_jobs([long, long.replace(seed=2)], repeats=3)
    started = threading.Event()

    def start(job):
        run = start_run(job.spec, "Write a long story.")
        started.set()
        return run

    schedule = Schedule(jobs, "Write a long story.", start=start).begin()
    assert started.wait(60)
    time.sleep(0.3)
    schedule.stop()
    assert schedule.wait(30)
    assert len(schedule.rows) == 1 and schedule.rows[0]["status"] == "cancelled"
    assert schedule.rows[0]["done_reason"] == "stopped"


def test_a_failing_start_becomes_an_error_row(spec):
    def start(job):
        raise RuntimeError("refused")

    schedule = Schedule(plan_jobs([spec]), "x", start=start).begin()
    assert schedule.wait(30)
    assert schedule.rows[0]["status"] == "error" and "refused" in schedule.rows[0]["error"]
