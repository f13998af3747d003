"""Embedding math on plain numpy arrays: similarity, 2-D projection, nearest neighbours."""

from .math import cosine_similarity, normalize, pca_2d, top_k

__all__ = ["cosine_similarity", "normalize", "pca_2d", "top_k"]
