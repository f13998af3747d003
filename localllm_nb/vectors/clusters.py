"""Clusters of an embedding set and the prompt that asks a chat model to name each one.

k-means on the unit vectors (cosine), fitted on a sample and then assigning every row
block by block, so a million rows cost one pass and no n x n matrix. Naming is a prompt
per cluster built from a few of its texts; the model call lives with the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .math import chunks, normalize

FIT_SAMPLE = 20_000
"""k-means fits its centres on at most this many rows, then assigns all of them."""

PROMPT = (
    "Here are some texts from one group:\n{texts}\n\n"
    "Give the group a short name of two to four words. Answer with the name only."
)
"""The default naming prompt; `{texts}` becomes one text a line."""


@dataclass(frozen=True)
class Clusters:
    """`labels[i]` is row i's cluster (0..k-1); `centres` are unit vectors (k, dim)."""

    labels: np.ndarray
    centres: np.ndarray

    @property
    def k(self) -> int:
        """Number of clusters."""
        return len(self.centres)


def kmeans(vectors: Any, k: int = 8, *, iterations: int = 20, seed: int = 0) -> Clusters:
    """Spherical k-means: `k` clusters of the rows by cosine similarity.

    >>> c = kmeans([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], k=2)
    >>> c.labels.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    arr = np.asarray(vectors)
    n = len(arr)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of rows ({n}), got {k}")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, min(n, FIT_SAMPLE), replace=False))
    sample = normalize(np.asarray(arr[pick], dtype=np.float32))
    # k-means++ seeding: each next centre far (in cosine) from those chosen.
    centres = [sample[rng.integers(len(sample))]]
    for _ in range(1, k):
        far = np.clip(1 - np.max(sample @ np.array(centres).T, axis=1), 0, None) + 1e-9
        centres.append(sample[rng.choice(len(sample), p=far / far.sum())])
    c = np.array(centres)
    for _ in range(iterations):
        nearest = np.argmax(sample @ c.T, axis=1)
        moved = np.array(
            [sample[nearest == j].sum(axis=0) if np.any(nearest == j) else c[j] for j in range(k)]
        )
        moved = normalize(moved)
        if np.allclose(moved, c, atol=1e-6):
            break
        c = moved
    labels = np.empty(n, dtype=np.int32)
    for part in chunks(n):
        block = normalize(np.asarray(arr[part], dtype=np.float32))
        labels[part] = np.argmax(block @ c.T, axis=1)
    return Clusters(labels, c.astype(np.float32))


def auto_k(n: int) -> int:
    """A k for `n` rows when none is given: about sqrt(n / 2), between 2 and 20.

    >>> auto_k(10), auto_k(5_000), auto_k(1_000_000)
    (2, 20, 20)
    """
    return int(min(20, max(2, round((n / 2) ** 0.5 / 2.5))))


def samples(labels: np.ndarray, texts: Sequence[str], per: int = 8, seed: int = 0) -> list:
    """Up to `per` texts of each cluster (cut to 200 characters), chosen at random."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(int(labels.max()) + 1 if len(labels) else 0):
        members = np.flatnonzero(labels == j)
        chosen = rng.choice(members, min(per, len(members)), replace=False) if len(members) else []
        out.append([texts[i][:200] for i in sorted(chosen)])
    return out


def naming_prompt(texts: Sequence[str], template: str = PROMPT) -> str:
    """The prompt asking for one cluster's name.

    >>> naming_prompt(["a cat", "a dog"], "Name: {texts}")
    'Name: - a cat\\n- a dog'
    """
    return template.replace("{texts}", "\n".join(f"- {t}" for t in texts))


def clean_name(answer: str, width: int = 40) -> str:
    """A model's answer as a label: its first non-empty line, without quotes or a
    'Name:' prefix, cut to `width` characters.

    >>> clean_name('  \\n"Name: Baking and cooking."\\nMore text')
    'Baking and cooking'
    """
    line = next((x.strip() for x in answer.splitlines() if x.strip()), "").strip(" \"'*`")
    if line.lower().startswith("name:"):
        line = line[5:].strip()
    line = line.strip(" \"'*`.")
    return line[:width] or "?"
