"""Every documented name has a tutorial that demonstrates it.

`notebooks/reference_names.txt` holds the names documented in the seed references (copied
into the project, so this test needs nothing outside it). `notebooks/documented_names.tsv`
maps each to a notebook and a section (a `## ` heading); `notebooks/removed_names.tsv` lists
the documented names the installed library no longer has, with the version checked and what
replaced them. Every documented name is in exactly one of the two files.

A row of `documented_names.tsv` holds when its name is used *as code* in a tested cell of
its section (cells marked `# NBVAL_SKIP` do not count; IPython `%`/`!` lines are dropped
before parsing): an attribute (`x.name`), a keyword argument (`f(name=...)`), a call
(`name(...)`), or a name bound by an import and then used. Strings and comments never count.
And the section must show an effect: a tested cell with an `assert` that is not a constant,
or a cell whose output nbval compares (`# NBVAL_CHECK_OUTPUT`).

A row of `removed_names.tsv` holds when the installed library really lacks the name.
`notebooks/README.md`'s table must be the one the rows make.

Regenerate the README table after editing either TSV:
`python tests/test_notebook_coverage.py --write-readme`.
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES_FILE = NOTEBOOKS / "reference_names.txt"
ROWS_FILE = NOTEBOOKS / "documented_names.tsv"
REMOVED_FILE = NOTEBOOKS / "removed_names.tsv"
README = NOTEBOOKS / "README.md"
TABLE_START = "<!-- documented-names: generated from documented_names.tsv -->"
TABLE_END = "<!-- end documented-names -->"

# Where each documented class lives, by library. ChatMLX and MLXPipeline: the references
# document langchain-community's, which is unmaintained and broken with current mlx-lm;
# localllm_nb ships both with the same API, and that is what the notebooks run.
MODULES = {
    ("ChatOllama", "langchain-ollama"): "langchain_ollama",
    ("OllamaLLM", "langchain-ollama"): "langchain_ollama",
    ("OllamaEmbeddings", "langchain-ollama"): "langchain_ollama",
    ("ChatMLX", "langchain-community"): "langchain_community.chat_models.mlx",
    ("MLXPipeline", "langchain-community"): "langchain_community.llms.mlx_pipeline",
    ("ChatMLX", "localllm-nb"): "localllm_nb.backends.mlx",
    ("MLXPipeline", "localllm-nb"): "localllm_nb.backends.mlx",
}


def reference_names() -> list[tuple[str, str]]:
    """(class, name) pairs, in the references' order."""
    pairs = []
    for line in NAMES_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            cls, name = line.strip().split(".", 1)
            pairs.append((cls, name))
    return pairs


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def rows() -> list[dict[str, str]]:
    return _read_tsv(ROWS_FILE)


def removed_rows() -> list[dict[str, str]]:
    return _read_tsv(REMOVED_FILE)


@dataclass
class Section:
    """What the tested code cells under one `## ` heading use and check."""

    attributes: set[str] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)
    called: set[str] = field(default_factory=set)  # names called bare: f(...)
    loaded: set[str] = field(default_factory=set)
    imported: set[str] = field(default_factory=set)
    checks: bool = False
    errors: list[str] = field(default_factory=list)

    def uses(self, cls: str, name: str) -> bool:
        """True when `cls.name` is used as code here."""
        if name in ("__init__", cls):  # construction calls __init__
            return cls in self.called or cls in self.attributes
        if name == "__str__":  # str(x) and f"{x}" call __str__
            return "str" in self.called or "<format>" in self.called
        if name in self.attributes or name in self.keywords:
            return True
        # A bare call counts only for an imported name: `dict(...)` is not `ChatOllama.dict`.
        return name in self.imported and name in self.loaded


def python_source(source: str) -> str:
    """A cell's source without IPython magics and shell escapes, so `ast` can parse it."""
    kept = []
    for line in source.splitlines():
        stripped = line.lstrip()
        kept.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(kept)


def _constant(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant)


def _scan(tree: ast.AST, section: Section) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            section.attributes.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            section.keywords.add(node.arg)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                section.called.add(func.id)
        elif isinstance(node, ast.FormattedValue):
            section.called.add("<format>")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            section.loaded.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                section.imported.add(alias.asname or alias.name.split(".")[0])
                if alias.asname is None:
                    section.imported.add(alias.name)
        elif isinstance(node, ast.Assert) and not _constant(node.test):
            section.checks = True


def sections(notebook: str) -> dict[str, Section]:
    """Section title -> what its tested code cells use and check."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    found: dict[str, Section] = {"": Section()}
    current = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    current = line[3:].strip()
                    found.setdefault(current, Section())
        elif cell.cell_type == "code" and "NBVAL_SKIP" not in cell.source:
            section = found[current]
            if "NBVAL_CHECK_OUTPUT" in cell.source:
                section.checks = True
            try:
                tree = ast.parse(python_source(cell.source))
            except SyntaxError as exc:
                section.errors.append(f"cell does not parse: {exc}")
                continue
            _scan(tree, section)
    return found


def anchor(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", title.lower())
    return text.replace(" ", "-")


def render_table(table_rows: list[dict[str, str]], removed: list[dict[str, str]]) -> str:
    lines = ["| class | name | notebook | section |", "|---|---|---|---|"]
    for row in table_rows:
        nb = row["notebook"]
        section = row["section"]
        link = f"[{section}]({nb}#{anchor(section)})" if section else ""
        lines.append(f"| `{row['class']}` | `{row['name']}` | [{nb[:-6]}]({nb}) | {link} |")
    for row in removed:
        note = f"not in {row['library']} {row['version']}: {row['replaced_by']}"
        lines.append(f"| `{row['class']}` | `{row['name']}` | (removed) | {note} |")
    return "\n".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    start = readme.index(TABLE_START) + len(TABLE_START)
    end = readme.index(TABLE_END)
    return readme[:start] + "\n" + table + "\n" + readme[end:]


def test_every_documented_name_has_one_row():
    documented = reference_names()
    mapped = [(r["class"], r["name"]) for r in rows() + removed_rows()]
    missing = [f"{c}.{n}" for c, n in documented if (c, n) not in mapped]
    extra = [f"{c}.{n}" for c, n in mapped if (c, n) not in documented]
    duplicated = sorted({f"{c}.{n}" for c, n in mapped if mapped.count((c, n)) > 1})
    assert not missing, f"documented names in neither {ROWS_FILE.name} nor {REMOVED_FILE.name}"
    assert not extra, f"rows for names not in {NAMES_FILE.name}: {extra}"
    assert not duplicated, f"names with more than one row (in either file): {duplicated}"
    assert len(documented) > 250


@pytest.mark.parametrize("notebook", sorted({r["notebook"] for r in rows()}))
def test_notebook_demonstrates_its_names(notebook):
    assert (NOTEBOOKS / notebook).exists(), f"{notebook} does not exist"
    by_section = sections(notebook)
    problems = []
    for row in rows():
        if row["notebook"] != notebook:
            continue
        cls, name, title = row["class"], row["name"], row["section"]
        section = by_section.get(title)
        if section is None:
            problems.append(f"{cls}.{name}: no section '## {title}' in {notebook}")
            continue
        problems += [f"{cls}.{name}: '{title}': {e}" for e in section.errors]
        if not section.uses(cls, name):
            problems.append(f"{cls}.{name}: not used as code in a tested cell of '{title}'")
        if not section.checks:
            problems.append(f"{cls}.{name}: '{title}' has no assert and no checked output")
    assert not problems, "\n".join(sorted(set(problems)))


@pytest.mark.parametrize(
    "row", removed_rows(), ids=[f"{r['class']}.{r['name']}" for r in removed_rows()]
)
def test_removed_name_is_absent(row):
    key = (row["class"], row["library"])
    assert key in MODULES, f"library must be one of {[lib for c, lib in MODULES if c == key[0]]}"
    assert row["replaced_by"].strip(), "say what replaced it (or 'nothing')"
    module = pytest.importorskip(MODULES[key])
    installed = version(row["library"])
    assert installed == row["version"], (
        f"{row['library']} is {installed} here, the table says {row['version']}: check the "
        "name again and update the version"
    )
    cls = getattr(module, row["class"])
    fields = getattr(cls, "model_fields", {})
    # Look in the class's own namespaces: hasattr() would find type.__call__ on any class.
    defined = any(row["name"] in vars(k) for k in cls.__mro__)
    assert row["name"] not in fields and not defined, (
        f"{row['class']}.{row['name']} exists in {row['library']} {installed}: demonstrate it"
    )


def test_readme_table_matches_rows():
    readme = README.read_text()
    expected = readme_with_table(readme, render_table(rows(), removed_rows()))
    assert readme == expected, "notebooks/README.md is stale: run this file with --write-readme"


def test_python_source_drops_magics_only():
    src = "%pip install x\n!ls\nx = 1  # %not a magic\n  %time y = 2"
    assert python_source(src).split("\n") == ["", "", "x = 1  # %not a magic", ""]


def test_strings_and_comments_do_not_count():
    section = Section()
    _scan(ast.parse('print("model.temperature")  # temperature=1\nx = {"seed": 1}'), section)
    assert not section.uses("ChatOllama", "temperature")
    assert not section.uses("ChatOllama", "seed")
    assert not section.checks
    _scan(ast.parse("assert True"), section)
    assert not section.checks, "a constant assert shows nothing"


def test_code_uses_count():
    section = Section()
    code = (
        "from langchain_ollama import ChatOllama\n"
        "llm = ChatOllama(model='m', seed=1)\n"
        "llm.invoke('hi')\n"
        "assert llm.temperature is None\n"
    )
    _scan(ast.parse(code), section)
    for name in ("ChatOllama", "__init__", "seed", "invoke", "temperature", "model"):
        assert section.uses("ChatOllama", name), name
    assert not section.uses("ChatOllama", "llm"), "a variable is not an attribute"
    _scan(ast.parse("dict(a=1)"), section)
    assert not section.uses("ChatOllama", "dict"), "the builtin is not the method"
    assert section.checks


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-readme"]:
        table = render_table(rows(), removed_rows())
        README.write_text(readme_with_table(README.read_text(), table))
        print(f"wrote {README}")
