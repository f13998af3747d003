"""The default thread count follows the CPUs this process may really use."""

from __future__ import annotations

import os

import pytest

from localllm_nb.embedded.engine import threads


@pytest.mark.parametrize(
    ("affinity", "quota", "expected"),
    [
        ({0, 1, 2, 3}, None, 3),  # no quota: the affinity mask, less one for the notebook
        ({0, 1, 2, 3}, 2.0, 1),  # a cgroup quota below the mask wins
        ({0, 1}, None, 1),  # 2 cores: one for the model, one for the kernel and browser
        ({0, 1}, 1.0, 1),  # a 1-CPU Binder pod on a 2-core host
        ({0, 1}, 1.5, 1),  # rounded down: two threads would fight over 1.5 CPUs
        ({0, 1}, 0.5, 1),  # never fewer than one
        (set(range(32)), None, threads.MAX_THREADS),
    ],
)
def test_default_threads(monkeypatch, affinity, quota, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: affinity, raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: quota)
    assert threads.default_threads() == expected


def test_cgroup_quota_is_read_from_v2_and_v1_files(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "own_cgroups", lambda root: [root / "a", root / "cpu"])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "a" / "cpu.max").write_text("100000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 1.0


def test_this_machine_gets_at_least_one_thread():
    assert 1 <= threads.default_threads() <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("cpus", "load", "decode", "expected"),
    [
        (2, 0.1, 1, 2),  # idle: every core evaluates the prompt
        (2, 0.7, 1, 1),  # one core busy elsewhere: a second thread would wait on it
        (2, 6.0, 1, 1),  # shared machine: never fewer than the decoding threads
        (8, 2.2, 7, 7),
        (8, 0.0, 7, 8),
    ],
)
def test_prompt_threads_are_the_cpus_free_at_load(monkeypatch, cpus, load, decode, expected):
    monkeypatch.setattr(threads, "available_cpus", lambda: cpus)
    monkeypatch.setattr(threads, "others_busy", lambda own: load)
    assert threads.batch_threads(decode) == expected
    # Without /proc, the load average stands in for what others keep busy.
    monkeypatch.setattr(threads, "others_busy", lambda own: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert threads.batch_threads(decode) == expected


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc")
def test_the_servers_own_work_is_not_counted_as_others():
    """A busy child (standing in for the engine host decoding) keeps a CPU busy, which
    the load average counts; named as our own, its work is left out of others'."""
    import subprocess
    import sys
    import time

    spin = "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"
    child = subprocess.Popen([sys.executable, "-c", spin])
    first = threads.sample([child.pid])
    time.sleep(1.2)
    second = threads.sample([child.pid])
    child.wait()
    hz = os.sysconf("SC_CLK_TCK")
    child_share = (second.own[child.pid] - first.own[child.pid]) / hz / (second.at - first.at)
    assert child_share > 0  # it ran in the window
    as_ours = threads.others_between(first, second)
    me = os.getpid()
    only_me = threads.others_between(
        first._replace(own={me: first.own[me]}), second._replace(own={me: second.own[me]})
    )
    # Naming the child as ours removes exactly its share (the rest of the machine's
    # work stays others'), unless that left nothing and was clamped at zero.
    if as_ours > 0:
        assert abs((only_me - as_ours) - child_share) < 1e-9
    else:
        assert only_me <= child_share + 1e-9
    assert only_me > 0


def test_ps_shows_both_thread_counts_and_num_thread_sets_both(server_url):
    import httpx

    from tests.models import CHAT

    def ps_after(options: dict) -> dict:
        body = {"model": CHAT, "prompt": "Hi", "stream": False, "options": options}
        assert httpx.post(server_url + "/api/generate", json=body, timeout=300).status_code == 200
        rows = httpx.get(server_url + "/api/ps").json()["models"]
        return next(r for r in rows if r["name"].startswith(CHAT.split(":")[0]))

    # Ollama's num_thread is the one thread count of its runner: prompts too.
    asked = ps_after({"num_predict": 1, "num_thread": 1})
    assert (asked["num_thread"], asked["num_thread_batch"]) == (1, 1)
    default = ps_after({"num_predict": 1})
    assert default["num_thread"] == threads.default_threads()
    assert default["num_thread"] <= default["num_thread_batch"] <= threads.available_cpus()
