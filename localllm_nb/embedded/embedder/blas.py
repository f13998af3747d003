"""Limit numpy's bundled OpenBLAS to one thread for a while (what threadpoolctl does).

Why: the MiniLM encoder runs its batches on its own worker threads. OpenBLAS's own threads
on top of those oversubscribe the cores, and on a busy machine its spinning threads made
small per-head matmuls up to 30x slower. Where the library cannot be found (macOS
Accelerate, another BLAS), this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

_SYMBOLS = (  # (set, get) pairs: numpy 2 wheels, numpy 1.x 64-bit wheels, plain OpenBLAS
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_lock = threading.Lock()
_api: tuple | None = None
_searched = False


def _find() -> tuple | None:
    import numpy  # noqa: F401  (loads its OpenBLAS, so /proc/self/maps lists it)

    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(p for p in paths if ".so" in p):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                return setter, getter
    return None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, then restore its previous count."""
    global _api, _searched
    with _lock:
        if not _searched:
            _api, _searched = _find(), True
    if _api is None:
        yield
        return
    setter, getter = _api
    before = getter()
    setter(1)
    try:
        yield
    finally:
        setter(before)
