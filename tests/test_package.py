"""The installed package: entry point, lazy imports, CLI."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys


def test_console_script_entry_point_loads():
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
                if e.name == "localllm-nb"]
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


def test_cli_models_lists_bundled_files():
    out = subprocess.run([sys.executable, "-m", "localllm_nb.cli", "models"], capture_output=True,
                         text=True, check=True).stdout
    assert "smollm2:135m" in out and "SmolLM2-135M-Instruct.Q4_1.gguf" in out


def test_cli_help_names_the_commands():
    out = subprocess.run([sys.executable, "-m", "localllm_nb.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("serve", "models", "lab"):
        assert command in out
