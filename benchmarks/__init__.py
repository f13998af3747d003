"""Benchmarks: `make bench` (`python -m benchmarks [name ...]`).

Each `bench_*.py` module has `run() -> dict` and measures against a baseline in the
same run, so figures are ratios that survive a shared, noisy machine.
"""
