"""GGUF metadata without loading weights: the header's key/value pairs (for `/api/show`).

Arrays (the tokenizer's vocabulary and merges) are skipped, not read: `/api/show` never
shows them and they are most of the header.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

_SCALARS = {  # GGUF value type -> struct format
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """Not a GGUF file this reader understands."""


class _Reader:
    def __init__(self, fh):
        self.fh = fh

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        data = self.fh.read(size)
        if len(data) != size:
            raise GGUFError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def string(self) -> str:
        return self.fh.read(self.unpack("<Q")).decode("utf-8", errors="replace")

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            if item in _SCALARS:
                self.fh.seek(struct.calcsize(_SCALARS[item]) * count, 1)
            else:
                for _ in range(count):
                    self.value(item)
            return None
        raise GGUFError(f"unknown GGUF value type {kind}")


@lru_cache(maxsize=8)
def read_metadata(path: str | Path) -> dict:
    """The scalar metadata of a GGUF file, e.g. `general.architecture`."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file")
        r = _Reader(fh)
        version = r.unpack("<I")
        if version < 2:
            raise GGUFError(f"GGUF version {version} is not supported")
        r.unpack("<Q")  # tensor count
        n_kv = r.unpack("<Q")
        meta = {}
        for _ in range(n_kv):
            key = r.string()
            value = r.value(r.unpack("<I"))
            if value is not None:
                meta[key] = value
    return meta
