"""Embeddings as data: numpy math (similarity, 2-D projection, nearest neighbours) and
`EmbeddingSet`, texts with their vectors, the object the explorer widget shows."""

from .math import cosine_similarity, normalize, pca_2d, pca_fit, top_k
from .set import EmbeddingSet, Neighbor

__all__ = [
    "EmbeddingSet",
    "Neighbor",
    "cosine_similarity",
    "normalize",
    "pca_2d",
    "pca_fit",
    "top_k",
]
