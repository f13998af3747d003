"""The bundled models' names, as the tests ask the server (and MLX) for them."""

from __future__ import annotations

CHAT = "smollm2:135m"
"""The bundled chat/generate model (SmolLM2-135M-Instruct)."""
THINK = "smollm2:135m-think"
"""Its thinking variant (a template that opens a `<think>` block)."""
EMBED = "all-minilm"
"""The bundled embedding model (all-MiniLM-L6-v2, 384 dimensions)."""
