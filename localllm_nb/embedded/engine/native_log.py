"""What llama.cpp itself says a load allocated: the buffer sizes it logs while loading
(weights, KV cache, compute and output buffers), read from its log.

The server runs llama.cpp with its log off (it would log every request). For the length of
one load, `LoadLog` turns llama.cpp's log on, sends the process's native stderr to a
temporary file, then turns the log off again and reads the buffer sizes back; llama.cpp's
errors are kept in `errors`, the rest of what it wrote is dropped, as before. (Only
native code writes meanwhile: xllamacpp's constructor holds the GIL.) It runs in the
engine host (`host.py`), whose stderr is nobody else's. Where the symbols
it needs are missing (Windows' C++ names differ), nothing is captured and `buffers`
stays empty.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
import threading
from functools import lru_cache

_VERBOSE = 4  # the level at which llama.cpp logs its buffer sizes (3 does not)
_QUIET = -1
_LINE = re.compile(r"\b(model|KV|RS|compute|output) buffer size =\s*([\d.]+) MiB")
_LLAMA_LINE = re.compile(r"^\d+\.\d+\.\d+\.\d+ ([A-Z]) ")  # "0.01.380.345 I load_tensors: ..."
_KINDS = {"model": "weights", "KV": "kv", "RS": "kv", "compute": "compute", "output": "output"}
_lock = threading.Lock()  # one capture at a time: fd 2 is the whole process's


def parse_buffers(text: str) -> dict[str, int]:
    """Bytes per kind (weights, kv, compute, output) from llama.cpp's load log, summed over
    devices and buffer types; a second load in the same text starts the count again.

    >>> parse_buffers('''0.01.380 I load_tensors:   CPU_Mapped model buffer size =    92.10 MiB
    ... 0.01.392 I llama_context:        CPU  output buffer size =     0.19 MiB
    ... 0.01.392 I llama_kv_cache:        CPU KV buffer size =   180.00 MiB
    ... 0.01.497 I sched_reserve:        CPU compute buffer size =    22.64 MiB''')
    {'weights': 96573850, 'output': 199229, 'kv': 188743680, 'compute': 23739761}
    """
    sizes: dict[str, int] = {}
    for match in _LINE.finditer(text):
        kind = _KINDS[match.group(1)]
        if kind == "weights" and set(sizes) - {"weights"}:
            sizes = {}  # a new load (weights come first)
        sizes[kind] = sizes.get(kind, 0) + round(float(match.group(2)) * 2**20)
    return sizes


@lru_cache(maxsize=1)
def _native():
    """llama.cpp's log controls in xllamacpp's library: (set threshold, main log, flush)."""
    if not sys.platform.startswith(("linux", "darwin")):
        return None
    try:
        import xllamacpp.xllamacpp as ext

        lib = ctypes.CDLL(ext.__file__)
        # C++ (Itanium ABI) names of common_log_set_verbosity_thold(int),
        # common_log_main() and common_log_flush(common_log *).
        set_thold = lib["_Z30common_log_set_verbosity_tholdi"]
        main = lib["_Z15common_log_mainv"]
        flush = lib["_Z16common_log_flushP10common_log"]
    except (ImportError, OSError, AttributeError):
        return None
    set_thold.argtypes, set_thold.restype = [ctypes.c_int], None
    main.argtypes, main.restype = [], ctypes.c_void_p
    flush.argtypes, flush.restype = [ctypes.c_void_p], None
    return set_thold, main, flush


class LoadLog:
    """`with LoadLog() as load: params.verbosity = load.verbosity; Server(params)`; then
    `load.buffers` holds what llama.cpp allocated ({} when it could not be read) and
    `load.errors` the errors it logged."""

    def __init__(self):
        self.buffers: dict[str, int] = {}
        self.errors: list[str] = []
        self._native = _native()
        self.verbosity = _VERBOSE if self._native else _QUIET
        self._file = None
        self._saved = -1

    def __enter__(self) -> LoadLog:
        if self._native is None:
            return self
        _lock.acquire()
        try:
            sys.stderr.flush()
            self._file = tempfile.TemporaryFile()
            self._saved = os.dup(2)
            os.dup2(self._file.fileno(), 2)
        except OSError:
            self._restore()
            _lock.release()
            self._native, self.verbosity = None, _QUIET
        return self

    def __exit__(self, *exc) -> None:
        if self._native is None:
            return
        try:
            set_thold, main, flush = self._native
            set_thold(_QUIET)  # the engine would log every request from now on
            flush(main())  # the log is written by a thread of its own: drain it
            self._restore()
            self._file.seek(0)
            text = self._file.read().decode("utf-8", errors="replace")
            self._file.close()
        finally:
            _lock.release()
        self.buffers = parse_buffers(text)
        self.errors = errors(text)

    def _restore(self) -> None:
        if self._saved >= 0:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = -1


def errors(text: str) -> list[str]:
    """The errors in llama.cpp's log.

    >>> errors('0.01.380.345 I load_tensors: ok\\n0.01.381.000 E llama_model_load: no file')
    ['llama_model_load: no file']
    """
    return [
        line[match.end() :]
        for line in text.splitlines()
        if (match := _LLAMA_LINE.match(line)) is not None and match.group(1) == "E"
    ]
