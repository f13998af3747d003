"""Fresh virtual environments for the install tests: the package as users get it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
