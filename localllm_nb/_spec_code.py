"""ModelSpec -> Python source that builds the same model without localllm_nb's builders."""

from __future__ import annotations

import pprint
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import ModelSpec

_IMPORTS = {
    ("ollama", "chat"): ("from langchain_ollama import ChatOllama", "ChatOllama"),
    ("ollama", "llm"): ("from langchain_ollama import OllamaLLM", "OllamaLLM"),
    ("ollama", "embeddings"): ("from langchain_ollama import OllamaEmbeddings", "OllamaEmbeddings"),
    # MLX needs the toolkit's working subclasses (langchain-community's are broken with
    # current mlx-lm), so the code goes through the toolkit's MLX builders.
    ("mlx", "chat"): ("from localllm_nb.backends.mlx import build_mlx_chat", "build_mlx_chat"),
    ("mlx", "llm"): ("from localllm_nb.backends.mlx import build_mlx_llm", "build_mlx_llm"),
}


def _literal(value: Any, indent: int) -> str:
    text = pprint.pformat(value, width=88 - indent, sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def spec_to_code(spec: ModelSpec, variable: str = "model") -> str:
    """Source code: the import, then `variable = Class(keyword=value, ...)`.

    >>> from localllm_nb.spec import ModelSpec
    >>> print(spec_to_code(ModelSpec(model="smollm2:135m", temperature=0.2)))
    from langchain_ollama import ChatOllama
    <BLANKLINE>
    model = ChatOllama(
        model='smollm2:135m',
        temperature=0.2,
    )
    """
    if not variable.isidentifier():
        raise ValueError(f"variable={variable!r} is not a Python identifier")
    import_line, callee = _IMPORTS[(spec.backend, spec.kind)]
    lines = [import_line, "", f"{variable} = {callee}("]
    for key, value in spec.to_kwargs().items():
        lines.append(f"    {key}={_literal(value, 4)},")
    lines.append(")")
    return "\n".join(lines)
