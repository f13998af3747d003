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
}
# MLX code uses the reference API (`MLXPipeline.from_model_id`, `ChatMLX(llm=...)`) on
# the toolkit's working classes: langchain-community's are broken with current mlx-lm.
_MLX_IMPORT = "from localllm_nb.backends.mlx import {}"


def _literal(value: Any, indent: int) -> str:
    text = pprint.pformat(value, width=88 - indent, sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def _call(target: str, kwargs: dict[str, Any]) -> list[str]:
    lines = [f"{target}("]
    for key, value in kwargs.items():
        lines.append(f"    {key}={_literal(value, 4)},")
    lines.append(")")
    return lines


def _mlx_code(spec: ModelSpec, variable: str) -> str:
    """
    >>> from localllm_nb.spec import ModelSpec
    >>> spec = ModelSpec(backend="mlx", model="smollm2:135m", system_message="Be brief.")
    >>> print(spec_to_code(spec))
    from localllm_nb.backends.mlx import ChatMLX, MLXPipeline
    <BLANKLINE>
    llm = MLXPipeline.from_model_id(
        model_id='smollm2:135m',
    )
    model = ChatMLX(llm=llm, system_message='Be brief.')
    """
    kwargs = spec.to_kwargs()
    system = kwargs.pop("system_message", None)
    if spec.kind == "llm":
        pipeline = _call(f"{variable} = MLXPipeline.from_model_id", kwargs)
        return "\n".join([_MLX_IMPORT.format("MLXPipeline"), "", *pipeline])
    llm = "pipeline" if variable == "llm" else "llm"
    chat = f"{variable} = ChatMLX(llm={llm}"
    chat += f", system_message={system!r})" if system is not None else ")"
    pipeline = _call(f"{llm} = MLXPipeline.from_model_id", kwargs)
    return "\n".join([_MLX_IMPORT.format("ChatMLX, MLXPipeline"), "", *pipeline, chat])


def _openai_code(spec: ModelSpec, variable: str) -> str:
    """The key is never printed: the code reads it from the environment, as the builder
    does, or asks for it when the spec holds one itself.

    >>> from localllm_nb.spec import ModelSpec
    >>> spec = ModelSpec(backend="openai", model="m", base_url="http://h:8080/v1",
    ...                  api_key="sk-secret", temperature=0)
    >>> print(spec_to_code(spec))
    from getpass import getpass
    <BLANKLINE>
    from localllm_nb.backends.openai import ChatOpenAICompatible
    <BLANKLINE>
    model = ChatOpenAICompatible(
        model='m',
        temperature=0.0,
        base_url='http://h:8080/v1',
        api_key=getpass('API key: '),
        stream_usage=True,
    )
    """
    from ._api_key import KEY_VARIABLE, PLACEHOLDER

    kwargs: dict[str, Any] = spec.to_kwargs()
    if spec.api_key is not None:
        head, key = "from getpass import getpass", "getpass('API key: ')"
    elif spec.api_key_env:
        head, key = "import os", f"os.environ[{spec.api_key_env!r}]"
    else:
        head, key = "import os", f"os.environ.get({KEY_VARIABLE!r}, {PLACEHOLDER!r})"
    callee = "ChatOpenAICompatible" if spec.kind == "chat" else "OpenAIEmbeddings"
    source = (
        "from localllm_nb.backends.openai import ChatOpenAICompatible"
        if spec.kind == "chat"
        else "from langchain_openai import OpenAIEmbeddings"
    )
    lines = _call(f"{variable} = {callee}", kwargs)[:-1]
    lines.append(f"    api_key={key},")
    extra = {"stream_usage": True} if spec.kind == "chat" else {"check_embedding_ctx_length": False}
    lines += [f"    {k}={v!r}," for k, v in extra.items()]
    return "\n".join([head, "", source, "", *lines, ")"])


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
    if spec.backend == "mlx":
        return _mlx_code(spec, variable)
    if spec.backend == "openai":
        return _openai_code(spec, variable)
    import_line, callee = _IMPORTS[(spec.backend, spec.kind)]
    return "\n".join([import_line, "", *_call(f"{variable} = {callee}", spec.to_kwargs())])
