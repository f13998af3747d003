"""`localllm-nb doctor` against this environment and the test session's server."""

from __future__ import annotations

import os
import subprocess
import sys

from localllm_nb import doctor


def _doctor(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localllm_nb.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_doctor_reports_the_server_models_and_front_end(server_url):
    done = _doctor({"OLLAMA_HOST": server_url})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("ok  server: embedded backend") and server_url in line for line in lines
    )
    assert any(line.startswith("ok  model smollm2:135m:") and ".gguf" in line for line in lines)
    assert any(line.startswith("ok  front end anywidget") for line in lines)


def test_doctor_says_what_to_do_when_nothing_answers():
    done = _doctor({"OLLAMA_HOST": "http://127.0.0.1:9"})
    # The embedded backend is installed, so a silent OLLAMA_HOST is not fatal: but said.
    assert done.returncode == 0
    assert "--  server: No server answers at http://127.0.0.1:9" in done.stdout
    assert "ensure_running()" in done.stdout


def test_a_missing_required_piece_fails_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "EXTENSIONS", {"no-such-extension": "no-such-package"})
    text, healthy = doctor.report("http://127.0.0.1:9")
    assert not healthy
    assert "!!  front end no-such-extension: not in" in text
    assert "pip install no-such-package in the environment JupyterLab runs from" in text
