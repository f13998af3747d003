"""Notebook views over the core: StreamView, ControlPanel, Playground, Compare, Sweep,
EmbeddingExplorer.

Thin views: the logic lives in `spec`, `run` and `vectors`; these classes wire traits
and front-end messages to it. Each view's anywidget module is `static/<view>.js` joined
with the modules it imports (`_esm.py`), so no build step nor JupyterLab extension is needed.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports("localllm_nb.widgets", _LAZY, globals())
