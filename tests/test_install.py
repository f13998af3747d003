"""`pip install "localllm-nb[embedded]"` needs no C compiler: every requirement of the
package and its `embedded` extra resolves to wheels, on each platform we promise."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import requires

import pytest
from packaging.requirements import Requirement


def _manylinux(arch: str) -> list[str]:
    # pip does not widen an explicit --platform to older manylinux tags: list them.
    return [f"manylinux_2_{m}_{arch}" for m in (31, 28, 27, 24, 17)] + [f"manylinux2014_{arch}"]


# pip --platform tags of what we promise: Linux x86_64 and aarch64 (Binder, CI), macOS arm64.
PLATFORMS = {
    "linux-x86_64": _manylinux("x86_64"),
    "linux-aarch64": _manylinux("aarch64"),
    "macos-arm64": [f"macosx_{v}_0_arm64" for v in (14, 13, 12, 11)],
}
PYTHON = "3.11"


def embedded_requirements() -> list[str]:
    """The package's own requirements plus its `embedded` extra, as pip sees them."""
    out = []
    for line in requires("localllm-nb") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": "embedded"}):
            req.marker = None
            out.append(str(req))
    return out


def dry_run(platforms: list[str], reqs: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
    cmd += ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp"]
    for tag in platforms:
        cmd += ["--platform", tag]
    return subprocess.run(cmd + reqs, capture_output=True, text=True, timeout=600)


def test_embedded_extra_lists_the_engine():
    names = {Requirement(r).name for r in embedded_requirements()}
    assert "xllamacpp" in names and "llama-cpp-python" not in names


@pytest.mark.slow
def test_embedded_extra_installs_from_wheels_only():
    reqs = embedded_requirements()
    with ThreadPoolExecutor(len(PLATFORMS)) as pool:
        results = dict(
            zip(PLATFORMS, pool.map(lambda p: dry_run(p, reqs), PLATFORMS.values()), strict=True)
        )
    offline = all(
        "NewConnectionError" in r.stderr or "Network is unreachable" in r.stderr
        for r in results.values()
        if r.returncode
    )
    failed = {name: r.stderr[-1500:] for name, r in results.items() if r.returncode}
    if failed and offline:
        pytest.skip("no package index reachable")
    assert not failed, failed
