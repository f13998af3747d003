"""Every documented name has a tutorial that uses it.

`notebooks/reference_names.txt` holds the names documented in the seed references (copied
into the project, so this test needs nothing outside it). `notebooks/documented_names.tsv`
maps each to a notebook and a section (a `## ` heading). This test fails when a name has no
row, when a row names a notebook or section that does not exist, when the name does not
appear in a code cell of that section that runs under nbval (cells marked `# NBVAL_SKIP`
do not count), or when `notebooks/README.md`'s table is not the one the rows make.

Regenerate the README table after editing the TSV:
`python tests/test_notebook_coverage.py --write-readme`.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES_FILE = NOTEBOOKS / "reference_names.txt"
ROWS_FILE = NOTEBOOKS / "documented_names.tsv"
README = NOTEBOOKS / "README.md"
TABLE_START = "<!-- documented-names: generated from documented_names.tsv -->"
TABLE_END = "<!-- end documented-names -->"


def reference_names() -> list[tuple[str, str]]:
    """(class, name) pairs, in the references' order."""
    pairs = []
    for line in NAMES_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            cls, name = line.strip().split(".", 1)
            pairs.append((cls, name))
    return pairs


def rows() -> list[dict[str, str]]:
    with ROWS_FILE.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def sections(notebook: str) -> dict[str, list[str]]:
    """Section title -> source of the code cells under it that run under nbval."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    found: dict[str, list[str]] = {"": []}
    current = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    current = line[3:].strip()
                    found.setdefault(current, [])
        elif cell.cell_type == "code" and "NBVAL_SKIP" not in cell.source:
            found[current].append(cell.source)
    return found


def pattern(cls: str, name: str) -> re.Pattern[str]:
    """What counts as using the name in code."""
    if name == "__init__":  # construction calls __init__
        return re.compile(rf"(?<![\w.]){re.escape(cls)}\(")
    if name == "__str__":
        return re.compile(r"(?<![\w.])str\(|__str__")
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")


def anchor(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", title.lower())
    return text.replace(" ", "-")


def render_table(table_rows: list[dict[str, str]]) -> str:
    lines = ["| class | name | notebook | section |", "|---|---|---|---|"]
    for row in table_rows:
        nb = row["notebook"]
        section = row["section"]
        link = f"[{section}]({nb}#{anchor(section)})" if section else ""
        lines.append(f"| `{row['class']}` | `{row['name']}` | [{nb[:-6]}]({nb}) | {link} |")
    return "\n".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    start = readme.index(TABLE_START) + len(TABLE_START)
    end = readme.index(TABLE_END)
    return readme[:start] + "\n" + table + "\n" + readme[end:]


def test_every_documented_name_has_one_row():
    documented = reference_names()
    mapped = [(r["class"], r["name"]) for r in rows()]
    missing = [f"{c}.{n}" for c, n in documented if (c, n) not in mapped]
    extra = [f"{c}.{n}" for c, n in mapped if (c, n) not in documented]
    duplicated = sorted({f"{c}.{n}" for c, n in mapped if mapped.count((c, n)) > 1})
    assert not missing, f"documented names without a row in {ROWS_FILE.name}: {missing}"
    assert not extra, f"rows for names not in {NAMES_FILE.name}: {extra}"
    assert not duplicated, f"names with more than one row: {duplicated}"
    assert len(documented) > 250


@pytest.mark.parametrize("notebook", sorted({r["notebook"] for r in rows()}))
def test_notebook_uses_its_names(notebook):
    assert (NOTEBOOKS / notebook).exists(), f"{notebook} does not exist"
    by_section = sections(notebook)
    problems = []
    for row in rows():
        if row["notebook"] != notebook:
            continue
        cls, name, section = row["class"], row["name"], row["section"]
        if section not in by_section:
            problems.append(f"{cls}.{name}: no section '## {section}' in {notebook}")
            continue
        if not any(pattern(cls, name).search(src) for src in by_section[section]):
            problems.append(f"{cls}.{name}: not used in a tested code cell of '{section}'")
    assert not problems, "\n".join(problems)


def test_readme_table_matches_rows():
    readme = README.read_text()
    expected = readme_with_table(readme, render_table(rows()))
    assert readme == expected, "notebooks/README.md is stale: run this file with --write-readme"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-readme"]:
        README.write_text(readme_with_table(README.read_text(), render_table(rows())))
        print(f"wrote {README}")
