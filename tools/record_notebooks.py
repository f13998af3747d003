"""Regenerate the committed notebooks' saved outputs, on a machine measured idle.

    python -m tools.record_notebooks [NOTEBOOK ...]   (or `make notebooks`)

Starts the embedded server on a free port (or uses `--server URL`), measures the
machine (other processes' CPU, load average, the embedded model's decode rate), waits
while it is busy and refuses after `--wait` seconds, saying what it measured. Each
notebook then runs in a fresh kernel while the CPU of other processes is watched; a
notebook recorded while the machine got busy is run again later, never written. Saved
outputs are scrubbed of machine paths (the command fails if any remain), widget outputs
keep their static snapshot, and `metadata.localllm_nb.recorded` says when and at what
rate the outputs were taken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .machine import Limits, Sample, cpu_of_others, describe, judge, measure, recorded_metadata
from .scrub import Roots, machine_paths, scrub_notebook

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOKS = ("notebooks/*.ipynb", "widgets/*.ipynb")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SNAPSHOT_VIEWS = ("StreamView(", "Playground(", "Compare(", "Sweep(", "EmbeddingExplorer(")
"""Views whose saved output must carry a static snapshot (their text/plain repr starts so)."""
SKIP_TAG = "llnb-record-skip"

# Run in every recording kernel before the first cell (an IPython startup file): warnings
# name the cell as tracebacks do ("Cell In[3], line 2") instead of the kernel's temp file.
KERNEL_STARTUP = """
import linecache as _linecache
import warnings as _warnings


def _llnb_formatwarning(message, category, filename, lineno, line=None):
    from IPython import get_ipython

    compiler = getattr(get_ipython(), "compile", None)
    count = getattr(compiler, "_filename_map", {}).get(filename)
    where = f"Cell In[{count}], line {lineno}" if count is not None else f"{filename}:{lineno}"
    line = (line if line is not None else _linecache.getline(filename, lineno)).strip()
    return f"{where}: {category.__name__}: {message}\\n" + (f"  {line}\\n" if line else "")


_warnings.formatwarning = _llnb_formatwarning
"""


class Busy(Exception):
    """The machine stayed busy for longer than the recorder may wait."""


def notebooks_from(args: list[str]) -> list[Path]:
    """The notebooks named, or every committed one."""
    if args:
        return [Path(a).resolve() for a in args]
    return sorted(p for pattern in DEFAULT_NOTEBOOKS for p in ROOT.glob(pattern))


def wait_until_idle(
    url: str | None, limits: Limits, wait: float, every: float, seconds: float, refuse=True
) -> tuple[Sample, list[str]]:
    """Measure until the machine is idle; raise Busy after `wait` seconds of waiting.
    With `refuse=False`, measure once and return the sample with why it is busy."""
    start = time.monotonic()
    while True:
        sample = measure(url, seconds)
        reasons = judge(sample, limits)
        if not reasons or not refuse:
            print(f"machine {'busy' if reasons else 'idle'}: {describe(sample)}", flush=True)
            return sample, reasons
        waited = time.monotonic() - start
        if waited + every > wait:
            raise Busy(
                f"Refusing to record: the machine is busy ({'; '.join(reasons)}). "
                f"Measured: {describe(sample)}. Waited {waited:.0f} s (--wait {wait:.0f}). "
                "Outputs recorded now would show this load, not the toolkit: stop the other "
                "work, or run again later."
            )
        print(f"machine busy ({'; '.join(reasons)}); measuring again in {every:.0f} s", flush=True)
        time.sleep(every)


class CpuWatch:
    """Watches other processes' CPU in a thread while a notebook runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(cpu_of_others(self.seconds)[0])

    @property
    def mean(self) -> float:
        """Mean share of the machine other processes used (0 before the first sample)."""
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else 0.0


def missing_snapshots(nb: Any) -> list[str]:
    """Outputs of our views that lack their static snapshot (text/html)."""
    missing = []
    for n, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            shown = data.get("text/plain", "")
            shown = "".join(shown) if isinstance(shown, list) else shown
            if WIDGET_MIME in data and shown.startswith(SNAPSHOT_VIEWS) and "text/html" not in data:
                missing.append(f"cell {n}: {shown[:60]}")
    return missing


def finish(nb: Any, recorded: dict, roots: Roots) -> list[str]:
    """Scrub, check and stamp an executed notebook in place; returns its problems."""
    scrub_notebook(nb, roots)
    nb.metadata.pop("widgets", None)  # saved widget state: ~1 MB, and GitHub rejects it
    nb.metadata.setdefault("localllm_nb", {})["recorded"] = recorded
    problems = [f"machine path in {hit}" for hit in machine_paths(nb, (roots.repo,))]
    problems += [f"no static snapshot in {hit}" for hit in missing_snapshots(nb)]
    return problems


def skipped(cell: Any) -> bool:
    """Cells nbval skips (install cells: `%pip install` would replace the package under
    test with the published one) are not run when recording either."""
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.cell_type == "code" and (
        "nbval-skip" in tags
        or any(line.strip() == "# NBVAL_SKIP" for line in cell.source.split("\n"))
    )


def execute(path: Path, timeout: int) -> Any:
    """Run the notebook top to bottom in a fresh python3 kernel, in its own directory,
    except the cells nbval skips (left without outputs)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    skip = [cell for cell in nb.cells if skipped(cell)]
    for cell in skip:
        cell.outputs, cell.execution_count = [], None
        cell.metadata.setdefault("tags", []).append(SKIP_TAG)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    client.skip_cells_with_tag = SKIP_TAG
    try:
        client.execute()
    finally:
        for cell in skip:
            cell.metadata["tags"].remove(SKIP_TAG)
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
    return nb


def record(path: Path, args: argparse.Namespace, url: str | None, roots: Roots) -> float:
    """Record one notebook (again while the machine got busy); returns its seconds."""
    import nbformat

    limits = limits_from(args)
    refuse = not args.allow_busy
    for _attempt in range(args.attempts):
        sample, reasons = wait_until_idle(
            url, limits, args.wait, args.every, args.watch_seconds, refuse
        )
        started = time.monotonic()
        with CpuWatch(args.watch_seconds) as watch:
            nb = execute(path, args.timeout)
        took = time.monotonic() - started
        # During the run only other processes count (the load average includes ours).
        during = Sample(sample.cpu_count, watch.mean, load1=0.0)
        reasons += [f"while recording, {why}" for why in judge(during, limits)]
        if reasons and refuse:
            print(f"{path.name}: busy while recording ({'; '.join(reasons)}); again", flush=True)
            continue
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        recorded = {**recorded_metadata(sample, at), "others_cpu_percent_during": watch.mean}
        if reasons:
            recorded["busy"] = reasons
        problems = finish(nb, recorded, roots)
        if problems:
            raise SystemExit(f"{path.name}: not written:\n  " + "\n  ".join(problems))
        target = Path(args.out) / path.name if args.out else path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        print(f"{path.name}: recorded in {took:.0f} s -> {target}", flush=True)
        return took
    raise Busy(f"{path.name}: the machine got busy during each of {args.attempts} attempts")


def scrub_only(paths: list[Path], roots: Roots) -> int:
    """Scrub machine paths from saved outputs in place; 1 if any remain."""
    import nbformat

    left = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if scrub_notebook(nb, roots):
            nbformat.write(nb, path)
            print(f"{path.name}: scrubbed")
        left += [f"{path.name}: {hit}" for hit in machine_paths(nb, (roots.repo,))]
    if left:
        print("machine paths remain:\n  " + "\n  ".join(left), file=sys.stderr)
    return 1 if left else 0


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(args.max_others_percent, args.max_load_per_cpu, args.min_decode_tok_s)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.record_notebooks", description=__doc__)
    parser.add_argument("notebooks", nargs="*", help="notebooks to record (default: all)")
    parser.add_argument("--server", help="use this Ollama server instead of starting one")
    parser.add_argument("--wait", type=float, default=900, help="most seconds to wait for idle")
    parser.add_argument("--every", type=float, default=60, help="seconds between measurements")
    parser.add_argument("--watch-seconds", type=float, default=5, help="CPU sampling window")
    parser.add_argument("--max-others-percent", type=float, default=Limits.max_others_percent)
    parser.add_argument("--max-load-per-cpu", type=float, default=Limits.max_load_per_cpu)
    parser.add_argument("--min-decode-tok-s", type=float, default=Limits.min_decode_tok_s)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--attempts", type=int, default=3, help="tries per notebook")
    parser.add_argument("--out", help="write the recorded notebooks here, not in place")
    parser.add_argument(
        "--allow-busy",
        action="store_true",
        help="record even when busy (only with --out; the notebooks say so in their metadata)",
    )
    parser.add_argument("--measure-only", action="store_true", help="measure, print, exit")
    parser.add_argument(
        "--scrub-only",
        action="store_true",
        help="only scrub machine paths from the saved outputs (no kernel, no server)",
    )
    args = parser.parse_args(argv)
    if args.allow_busy and not args.out:
        parser.error("--allow-busy writes only to --out: committed outputs are never busy ones")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    paths = notebooks_from(args.notebooks)
    roots = Roots(repo=str(ROOT), home=str(Path.home()), tmp=tempfile.gettempdir())
    if args.scrub_only:
        return scrub_only(paths, roots)
    server = None
    if args.server:
        url = args.server
    else:
        from localllm_nb.embedded import start_server

        server = start_server()
        url = server.url
    os.environ["OLLAMA_HOST"] = url
    try:
        with tempfile.TemporaryDirectory(prefix="llnb-record-ipython-") as ipython_dir:
            startup = Path(ipython_dir) / "profile_default" / "startup"
            startup.mkdir(parents=True)
            (startup / "00-localllm-nb-record.py").write_text(KERNEL_STARTUP)
            os.environ["IPYTHONDIR"] = ipython_dir  # the recording kernels' profile only
            if args.measure_only:
                sample = measure(url, args.watch_seconds)
                reasons = judge(sample, limits_from(args))
                print(describe(sample) + (f"; busy: {'; '.join(reasons)}" if reasons else ""))
                return 2 if reasons else 0
            total = 0.0
            for path in paths:
                total += record(path, args, url, roots)
            print(f"recorded {len(paths)} notebooks in {total / 60:.1f} min")
            return 0
    except Busy as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
