"""Run every `benchmarks/bench_*.py` (or those named on the command line) and print
their figures; also writes them to bench-results/latest.json."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import benchmarks


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    results = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        figures = module.run()
        figures["bench_seconds"] = round(time.perf_counter() - started, 1)
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"  {key:<{width}}  {_format(value)}", flush=True)
        results[name] = figures
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
