"""Fresh virtual environments for the install tests: the package as users get it.

The install tests share one built wheel (`wheel`) and one fresh environment with only a
kernel (`kernel_venv`), as ipympl builds its wheel once: each costs ~20-40 s on 2 cores.
The quickstart's `%pip install` goes into it first (tests/conftest.py orders the tests),
so it meets the environment a new user's kernel has; Binder's install follows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
"""
"""Executes argv[1] into argv[2] with the environment's own kernel, in folder argv[3]."""


def fresh_venv(path: Path, *packages: str) -> Path:
    """A new virtual environment with `packages` (from pip's cache when it has them);
    returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    if packages:
        pip = [path / "bin" / "python", "-m", "pip", "install", "-q", *packages]
        subprocess.run(pip, check=True, timeout=900)
    return path / "bin"


def clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without our test settings, the venv first on PATH."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHON", "LOCALLLM", "OLLAMA"))
    }
    return {**keep, "PATH": f"{bin_dir}:{os.environ['PATH']}", **extra}


def outputs_of(nb) -> list:
    return [o for c in nb.cells for o in c.get("outputs", [])]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """This checkout built as a wheel, once per session (alone in its folder)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    (path,) = out.glob("localllm_nb-*.whl")
    return path


@pytest.fixture(scope="session")
def kernel_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment holding what a new user's kernel has before our
    package: a kernel (and nbclient to drive it). Shared: the first install test meets it
    fresh, later ones find the package and its dependencies installed."""
    venv = tmp_path_factory.mktemp("kernel") / "venv"
    fresh_venv(venv, "ipykernel", "nbclient")
    return venv
