"""The installed package: entry point, lazy imports, CLI."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys


def test_console_script_entry_point_loads():
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="console_scripts")
        if e.name == "localllm-nb"
    ]
    main = entry.load()
    from localllm_nb.cli import main as expected

    assert main is expected


def test_import_is_light_and_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import localllm_nb; "
        "dt = time.perf_counter() - t; "
        "heavy = [m for m in ('langchain_core', 'langchain_ollama', 'llama_cpp', 'mlx', "
        "'matplotlib', 'ipywidgets', 'numpy') if m in sys.modules]; print(dt, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]", heavy
    # Generous even on a loaded machine: the point is that nothing heavy is imported.
    assert float(seconds) < 0.2


def cli(*args: str) -> str:
    """stdout of `python -m localllm_nb.cli ARGS`."""
    command = [sys.executable, "-m", "localllm_nb.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_cli_models_lists_bundled_files():
    out = cli("models")
    assert "smollm2:135m" in out and "SmolLM2-135M-Instruct.Q4_1.gguf" in out


def test_cli_help_names_the_commands():
    out = cli("--help")
    for command in ("serve", "models", "lab"):
        assert command in out


def test_lab_starts_a_backend_and_jupyterlab(tmp_path):
    """What `make demo` runs: with no Ollama answering, the embedded backend starts and
    JupyterLab serves the repository root and opens the playground, with OLLAMA_HOST
    pointing at the backend."""
    import json
    import os
    import signal
    import time
    import urllib.request

    from localllm_nb.embedded.process import free_port

    port = free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": f"127.0.0.1:{free_port()}",  # nothing listens there
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localllm_nb.cli",
            "lab",
            "widgets/playground.ipynb",
            "--no-browser",
            f"--port={port}",
            "--IdentityProvider.token=",
            "--ServerApp.port_retries=0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Ollama API at http://127.0.0.1:"), first
        api = first.split()[-1]
        with urllib.request.urlopen(api + "/api/tags", timeout=10) as resp:
            assert any(m["name"].startswith("smollm2") for m in json.load(resp)["models"])
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "JupyterLab did not answer"
                time.sleep(0.5)
        # Jupyter serves the repository root: the playground and the tutorials.
        for path in ("widgets/playground.ipynb", "notebooks/01_quickstart.ipynb"):
            listing = f"http://127.0.0.1:{port}/api/contents/{path}?content=0"
            with urllib.request.urlopen(listing, timeout=10) as r:
                assert json.load(r)["type"] == "notebook"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_ensure_running_uses_an_answering_server(server_url):
    code = (
        "import os, localllm_nb.embedded.process as p; url = p.ensure_running(); "
        "print(url, p._started is None, os.environ['OLLAMA_HOST'])"
    )
    env = {**__import__("os").environ, "OLLAMA_HOST": server_url}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == [server_url, "True", server_url]


def test_ensure_running_starts_the_embedded_server_when_none_answers():
    import os

    from localllm_nb.embedded.process import free_port

    code = (
        "import os, json, urllib.request, localllm_nb; url = localllm_nb.ensure_running(); "
        "assert os.environ['OLLAMA_HOST'] == url; "
        "tags = json.load(urllib.request.urlopen(url + '/api/tags')); "
        "print(url, len(tags['models']) > 0, localllm_nb.ensure_running() == url)"
    )
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout.split()
    assert out[0].startswith("http://127.0.0.1:") and out[1:] == ["True", "True"]


def test_without_the_embedded_extra_the_error_says_what_to_install(monkeypatch):
    import pytest

    from localllm_nb.embedded import process

    monkeypatch.setattr(process, "EXTRA_MODULES", ("starlette", "no_such_module_for_this_test"))
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{process.free_port()}")  # nothing answers
    with pytest.raises(process.ServerStartError) as caught:
        process.ensure_running()
    message = str(caught.value)
    assert "missing: no_such_module_for_this_test" in message and "starlette" not in message
    assert "pip install 'localllm-nb[embedded]'" in message and "OLLAMA_HOST" in message
