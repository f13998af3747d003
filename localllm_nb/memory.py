"""Memory before loading: what a model will take at a context size, against what is free.

The figures come from the model's architecture fields, the GGUF header's keys: read from
the file itself, or from a server's `/api/show` `model_info` (a real Ollama and the
embedded server both give them), with the file's size from `/api/tags`:

- weights: the model file (its header, mostly the vocabulary, adds a few percent);
- KV cache: `num_ctx` x `num_parallel` tokens x layers x (K + V width) x bytes per
  element (f16 unless the server is told otherwise, e.g. Ollama's OLLAMA_KV_CACHE_TYPE);
- compute buffers: llama.cpp's graph for one micro-batch (`num_batch`: 512 in Ollama, 64
  in the embedded server) on the CPU with flash attention, at its widest point (a layer's feed-forward block, or the output layer when
  every token's logits are kept, as in the embedded server's instances, which can pool
  embeddings) plus the attention mask.

Checked against what llama.cpp reports allocating for the bundled model (the embedded
server's `/api/ps` size) and the server's RSS (tests/test_memory.py, `make bench`). For a
real Ollama the estimate follows llama.cpp's layout; Ollama's own engine, GPU offload and
settings decide the real figure, so treat it as a guide there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BATCH = 512  # llama.cpp's and Ollama's micro-batch (n_ubatch)
DEFAULT_NUM_CTX = 4096  # Ollama's and the embedded server's default context
_KV_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
_kinds: dict[str, str] = {}
_kinds_lock = threading.Lock()


@dataclass(frozen=True)
class MemoryEstimate:
    """What loading `model` at `num_ctx` (per parallel slot) will take, in bytes, and the
    memory `available` on this machine (None when unknown). `source` says where the
    architecture came from: 'gguf header' or a server's '/api/show'."""

    model: str
    num_ctx: int
    weights: int
    kv: int
    compute: int
    available: int | None
    source: str
    num_parallel: int = 1
    kv_type: str = "f16"

    @property
    def total(self) -> int:
        """weights + KV cache + compute buffers: what the engine allocates."""
        return self.weights + self.kv + self.compute

    @property
    def fits(self) -> bool | None:
        """True when the total is below the memory available (None when unknown)."""
        return None if self.available is None else self.total < self.available

    def message(self) -> str:
        """One line for people, e.g. '~0.31 GB at num_ctx 8192 (weights 0.10, KV cache
        0.19, compute 0.02); 20.1 GB free'."""
        text = (
            f"~{_gb(self.total)} GB at num_ctx {self.num_ctx}"
            + (f" x {self.num_parallel} slots" if self.num_parallel > 1 else "")
            + f" (weights {_gb(self.weights)}, KV cache {_gb(self.kv)}, "
            f"compute {_gb(self.compute)})"
        )
        if self.available is None:
            return text
        text += f"; {self.available / 1e9:.1f} GB free"
        if not self.fits:
            text += ": will not fit, lower num_ctx or pick a smaller model"
        return text

    def __str__(self) -> str:
        return self.message()


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f}"


def _per_layer(value: Any, layers: int) -> list[float]:
    """A field that is one number or one per layer (Ollama gives arrays for some models)."""
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value][:layers] or [0.0]
    return [float(value)] * layers


def estimate_from_info(
    model_info: dict[str, Any],
    file_size: int,
    num_ctx: int | None = None,
    *,
    num_parallel: int = 1,
    kv_type: str = "f16",
    all_logits: bool = False,
    batch: int = BATCH,
    model: str = "",
    source: str = "gguf header",
    available: int | None = None,
) -> MemoryEstimate:
    """The estimate from GGUF header fields (`model_info`, keys like
    'llama.block_count') and the model file's size. `all_logits`: the engine keeps every
    token's logits (an instance that can pool embeddings), not only the last one's. `batch`:
    the server's micro-batch (Ollama's `num_batch`; the embedded server's is smaller).
    `num_ctx` is capped at the model's trained context, as the servers cap it.

    >>> info = {"general.architecture": "llama", "llama.block_count": 30,
    ...         "llama.context_length": 8192, "llama.embedding_length": 576,
    ...         "llama.feed_forward_length": 1536, "llama.attention.head_count": 9,
    ...         "llama.attention.head_count_kv": 3, "llama.vocab_size": 49152}
    >>> e = estimate_from_info(info, 98_362_432, 8192, available=None)
    >>> e.kv / 2**20, round(e.compute / 2**20, 1), e.fits
    (180.0, 22.4, None)
    >>> estimate_from_info(info, 98_362_432, 100_000).num_ctx  # capped
    8192
    """
    arch = model_info.get("general.architecture", "")

    def key(name: str, default: Any = None) -> Any:
        value = model_info.get(f"{arch}.{name}")
        return default if value is None else value

    layers = int(key("block_count", 0))
    embd = int(key("embedding_length", 0))
    if not layers or not embd:
        raise ValueError(f"no architecture fields for {model or 'this model'} ({arch or '?'})")
    trained = key("context_length")
    num_ctx = int(num_ctx or DEFAULT_NUM_CTX)
    if trained:
        num_ctx = min(num_ctx, int(trained))
    num_ctx = max(num_ctx, 4)
    cells = -(-num_ctx // 256) * 256  # llama.cpp pads the context to 256 cells
    heads = _per_layer(key("attention.head_count", 1), layers)
    heads_kv = _per_layer(key("attention.head_count_kv", heads), layers)
    head_k = float(key("attention.key_length", embd / max(heads)))
    head_v = float(key("attention.value_length", head_k))
    ff = max(_per_layer(key("feed_forward_length", 4 * embd), layers))
    vocab = int(key("vocab_size", 0) or 32000)
    per_token = sum(h * (head_k + head_v) for h in heads_kv) * _KV_BYTES.get(kv_type, 2.0)
    kv = round(cells * num_parallel * per_token)
    batch = min(batch, cells * num_parallel)
    # Floats per token at the graph's widest point (llama.cpp's allocator reuses the
    # rest): a layer's feed-forward block, or the output layer with every token's logits.
    layer = 4 * ff + 2 * embd
    width = max(layer, (vocab if all_logits else 0) + 5 * embd)
    mask = 2 * batch * cells  # f16, one row per token of the micro-batch
    output = 4 * (vocab + embd) * num_parallel  # the last token's logits per slot
    compute = 4 * batch * width + mask + output
    return MemoryEstimate(
        model=model,
        num_ctx=num_ctx,
        weights=int(file_size),
        kv=kv,
        compute=round(compute),
        available=available,
        source=source,
        num_parallel=num_parallel,
        kv_type=kv_type,
    )


def available_memory() -> int | None:
    """Bytes this machine can give a new model now: MemAvailable (Linux), capped by the
    cgroup's limit (a container, Binder); psutil where installed; vm_stat on macOS."""
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:
        free = _meminfo() if sys.platform.startswith("linux") else _vm_stat()
    room = _cgroup_room()
    if room is not None:
        free = room if free is None else min(free, room)
    return free


def _meminfo() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else None


def _cgroup_room() -> int | None:
    """cgroup v2: memory.max - memory.current (None without a limit)."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        used = int((base / "memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def _vm_stat() -> int | None:
    """macOS: free + inactive + speculative pages."""
    try:
        out = subprocess.run(["vm_stat"], capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    size = re.search(r"page size of (\d+) bytes", out)
    pages = sum(
        int(m.group(2)) for m in re.finditer(r"Pages (free|inactive|speculative):\s+(\d+)", out)
    )
    return pages * int(size.group(1)) if size and pages else None


def _server_kind(url: str) -> str:
    with _kinds_lock:
        if url in _kinds:
            return _kinds[url]
    from ._host import server_status

    kind = server_status(url).kind
    if kind:
        with _kinds_lock:
            _kinds[url] = kind
    return kind


def estimate_memory(
    model: Any,
    num_ctx: int | None = None,
    *,
    num_parallel: int = 1,
    kv_type: str = "f16",
    base_url: str | None = None,
) -> MemoryEstimate:
    """What loading `model` at `num_ctx` would take, against the memory free here.

    `model` is a `ModelSpec` (its model, num_ctx and server), a `ModelInfo` from
    `list_models()`, a model name on `base_url` (default OLLAMA_HOST), or the path of a
    GGUF file. Architecture fields come from the server's `/api/show` (cached for a few
    seconds with the listing) or the file's header; `num_ctx` defaults to the spec's, else
    the server's default for the model, else 4096. On the embedded server every token's
    logits are kept (its instances can pool embeddings), which it counts.
    """
    if isinstance(model, (str, os.PathLike)) and str(model).endswith(".gguf"):
        from .embedded.engine.gguf import read_metadata

        path = Path(model)
        return estimate_from_info(
            read_metadata(str(path)),
            path.stat().st_size,
            num_ctx,
            num_parallel=num_parallel,
            kv_type=kv_type,
            model=path.name,
            available=available_memory(),
        )
    from ._host import base_url as normalise
    from .backends.discovery import list_models

    if hasattr(model, "to_kwargs"):  # a ModelSpec
        if model.backend != "ollama":
            raise ValueError(
                f"estimate_memory reads an Ollama server's /api/show or a .gguf file; "
                f"this spec's backend is {model.backend!r}"
            )
        num_ctx = num_ctx or model.get("num_ctx")
        base_url = base_url or model.base_url
        model = model.model
    url = normalise(base_url)
    info = model
    if isinstance(model, str):
        by_name = {m.name: m for m in list_models(url)}
        info = by_name.get(model) or by_name.get(f"{model}:latest")
        if info is None:
            from .errors import ModelNotFoundError

            raise ModelNotFoundError(model, url, sorted(by_name))
    kind = _server_kind(url) or "ollama"
    return estimate_from_info(
        info.model_info,
        info.size,
        num_ctx or info.parameters.get("num_ctx"),
        num_parallel=num_parallel,
        kv_type=kv_type,
        all_logits=kind == "embedded",
        batch=int(info.parameters.get("num_batch") or BATCH),
        model=info.name,
        source=f"{kind} /api/show",
        available=available_memory(),
    )
