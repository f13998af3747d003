"""Notebook views over the core: StreamView, ControlPanel, Playground, Compare, Sweep,
EmbeddingExplorer.

Thin views: the logic lives in `spec`, `run` and `vectors`; these classes wire traits
and front-end messages to it. anywidget loads one shared front-end module
(`static/views.js`), so no JupyterLab extension build is needed.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "StreamView": "localllm_nb.widgets.stream",
    "ControlPanel": "localllm_nb.widgets.controls",
    "Playground": "localllm_nb.widgets.playground",
    "HistoryTable": "localllm_nb.widgets.playground",
    "PromptBox": "localllm_nb.widgets._base",
    "CodeBox": "localllm_nb.widgets._base",
    "Compare": "localllm_nb.widgets.compare",
    "Sweep": "localllm_nb.widgets.sweep",
    "EmbeddingExplorer": "localllm_nb.widgets.explorer",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'localllm_nb.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
