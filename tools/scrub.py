"""Machine paths out of saved notebook outputs.

A saved output must not show where this machine keeps things (`/root/...`, `/home/...`,
a virtualenv, `/tmp/...`): readers cannot use them and they leak the recorder's layout.
`scrub_notebook` rewrites the usual sources into portable forms; `machine_paths` finds
what is left, so the recorder (and a test over the committed notebooks) can fail on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Checked after scrubbing: any of these left means a machine path was saved.
MACHINE_PATH = re.compile(
    r"(?<![\w.~<+/-])/(?:root|home/[\w.-]+|tmp|Users/[\w.-]+|private/var)(?=/)"
    r"|(?<![\w-])\.venv/"
    r"|(?<![\w.-])/(?:[\w.+-]+/)+(?:site|dist)-packages/"
)

_CELL_FILE = re.compile(r"(?:/[\w.-]+)*/ipykernel_\d+/\d+\.py")
_PACKAGES = re.compile(r"(?:/[\w.+-]+)+/((?:site|dist)-packages/)")
_STDLIB = re.compile(r"(?:/[\w.+-]+)+/lib/(python3\.\d+/)")
# Embedded images are base64, whose alphabet can spell '/root/' by chance: never touched.
_DATA_URI = re.compile(r"(data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class Roots:
    """This machine's own prefixes, replaced where they appear: the repository (made
    relative), the home directory (`~`) and the temp directory (`<tmp>`)."""

    repo: str = ""
    home: str = ""
    tmp: str = ""


def scrub_text(text: str, roots: Roots = Roots()) -> str:
    """`text` with machine paths made portable.

    >>> roots = Roots(repo="/work/clone", home="/root", tmp="/tmp")
    >>> scrub_text("/tmp/ipykernel_123/456.py:2: Warning", roots)
    '<cell>:2: Warning'
    >>> scrub_text("File /work/clone/.venv/lib/python3.11/site-packages/x/y.py:3", roots)
    'File site-packages/x/y.py:3'
    >>> scrub_text("/usr/lib/python3.11/asyncio/base.py /work/clone/notebooks/a.txt", roots)
    'python3.11/asyncio/base.py notebooks/a.txt'
    >>> scrub_text("cache /root/.cache/m and /tmp/tmpab12/out.json", roots)
    'cache ~/.cache/m and <tmp>/tmpab12/out.json'
    >>> scrub_text('<img src="data:image/png;base64,ab/root/c+/tmp/x="/> /root/a', roots)
    '<img src="data:image/png;base64,ab/root/c+/tmp/x="/> ~/a'
    """
    parts = _DATA_URI.split(text)
    return "".join(p if i % 2 else _scrub_plain(p, roots) for i, p in enumerate(parts))


def _scrub_plain(text: str, roots: Roots) -> str:
    text = _CELL_FILE.sub("<cell>", text)
    text = _PACKAGES.sub(r"\1", text)
    text = _STDLIB.sub(r"\1", text)
    if roots.repo:
        text = text.replace(roots.repo.rstrip("/") + "/", "")
    if roots.tmp and roots.tmp.rstrip("/"):
        text = re.sub(re.escape(roots.tmp.rstrip("/")) + r"(?=/)", "<tmp>", text)
    if roots.home and roots.home.rstrip("/"):
        text = re.sub(re.escape(roots.home.rstrip("/")) + r"(?=/)", "~", text)
    return text


def _texts(output: Any) -> Iterator[tuple[Any, Any, str]]:
    """(container, key, text) for every string of an output that a reader sees."""
    if output.get("output_type") == "stream":
        yield output, "text", "text"
    elif output.get("output_type") == "error":
        yield output, "evalue", "evalue"
        for i in range(len(output.get("traceback", []))):
            yield output["traceback"], i, "traceback"
    for mime, value in (output.get("data") or {}).items():
        # Text a reader sees; not base64 images (their alphabet can spell a path).
        if isinstance(value, str) and (mime.startswith("text/") or mime.endswith(("json", "xml"))):
            yield output["data"], mime, mime


def _get(container: Any, key: Any) -> str:
    value = container[key]
    return "".join(value) if isinstance(value, list) else value


def scrub_notebook(nb: Any, roots: Roots = Roots()) -> int:
    """Scrub every code cell's outputs in place; returns how many strings changed."""
    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for container, key, _ in list(_texts(output)):
                old = _get(container, key)
                new = scrub_text(old, roots)
                if new != old:
                    container[key] = new
                    changed += 1
    return changed


def machine_paths(nb: Any, extra: tuple[str, ...] = ()) -> list[str]:
    """Where machine paths remain in the outputs: 'cell N (what): …context…' lines.
    `extra` adds this machine's own prefixes (say, the repository) to look for."""
    found = []
    extras = [e for e in extra if e]
    for n, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            for container, key, what in _texts(output):
                text = _DATA_URI.sub("data:", _get(container, key))
                hits = [(m.start(), m.end()) for m in MACHINE_PATH.finditer(text)]
                hits += [(i, i + len(e)) for e in extras if (i := text.find(e)) >= 0]
                for start, end in hits[:3]:
                    context = text[max(0, start - 40) : end + 40].replace("\n", " ")
                    found.append(f"cell {n} ({what}): …{context}…")
    return found
