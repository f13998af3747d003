"""Each view's front-end module, joined from `static/` at import time (no build step).

A view's module (`stream.js`, ...) imports what it shares from sibling modules with
`import { ... } from "./shared.js";`. anywidget ships one ES module per widget, so
`esm("stream.js")` inlines the siblings it imports (each once, dependencies first) and
drops those import lines; the result is one module whose default export is the view's.
Only sibling imports are allowed: views load no code from the network.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"

_IMPORT = re.compile(r'^import\s*\{[^}]*\}\s*from\s*"\./([\w-]+\.js)";[ \t]*\n', re.M)
_ANY_IMPORT = re.compile(r"^\s*import\b|\bimport\s*\(", re.M)


@functools.cache
def esm(entry: str, static: Path = STATIC) -> str:
    """The ES module for view module `entry` (in `static`) with the sibling modules it
    imports inlined.

    >>> [line for line in esm("stream.js").splitlines() if line.startswith("// ---- ")]
    ['// ---- shared.js', '// ---- lens.js', '// ---- stream_state.js', '// ---- stream.js']
    """
    order: list[str] = []
    _visit(static, entry, order, ())
    parts = [
        f"// ---- {name}\n{_IMPORT.sub('', (static / name).read_text('utf-8'))}" for name in order
    ]
    return "\n".join(parts)


def _visit(static: Path, name: str, order: list[str], path: tuple[str, ...]) -> None:
    if name in path:
        raise ValueError(f"import cycle in widgets/static: {' -> '.join((*path, name))}")
    if name in order:
        return
    text = (static / name).read_text(encoding="utf-8")
    for dependency in _IMPORT.findall(text):
        _visit(static, dependency, order, (*path, name))
    if _ANY_IMPORT.search(_IMPORT.sub("", text)):
        raise ValueError(f'{name}: only `import {{ ... }} from "./sibling.js";` lines are joined')
    if path and "export default" in text:  # the joined module has one: the entry's
        raise ValueError(f"{name} has a default export but is imported by {path[-1]}")
    order.append(name)
