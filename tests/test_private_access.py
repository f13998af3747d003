"""No module reaches into another module's private names (DESIGN.md: a module's private
state is its own; other modules use public calls).

Checked with `ast` over `localllm_nb/` and `tests/`. A private name starts with one
underscore (dunders are Python's, not ours). Flagged:

- `from X import _name`, unless `X._name` is itself a module: a private *module*
  (`localllm_nb/_lazy.py`) keeps its implementation there and exposes public names, so
  importing it, or public names from it, is fine;
- `expr._name` and `getattr/setattr/hasattr/delattr(expr, "_name")` (pytest's
  `monkeypatch.setattr` included), unless `expr` is `self` or `cls`, or this module
  owns `_name`: defines it at module level, in a class body, or as `self._name = ...`.

Ownership goes by name, not by type: a module that owns `_lock` may touch any object's
`_lock`. The check catches a module reaching into names it never defines, which is what
crossing a module boundary looks like. Privates of Python and third-party libraries that
we cannot reach otherwise are listed in `ALLOWED`, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("localllm_nb", "tests")

# Underscore names that are documented public API: namedtuple's methods, and `os._exit`
# (the embedded server leaves without the interpreter's teardown freeing models under
# llama.cpp threads), and anywidget's `_esm`/`_css` (the documented traits that carry a
# widget's front end). Not tied to a file, so moving a module does not break the check.
PUBLIC_BY_CONVENTION = {
    "_replace",
    "_asdict",
    "_fields",
    "_make",
    "_field_defaults",
    "_exit",
    "_esm",
    "_css",
}

# (file relative to the root, private name) -> why it is needed. Keep each entry narrow.
_DIRECT = (
    "the direct Ollama path asks ChatOllama/OllamaLLM for the very request LangChain "
    "would send, so every setting means what it means there (run/direct.py docstring)"
)
_OBSERVED = (
    "BaseLLM.stream drops each chunk's generation_info; the driver runs the LLM's own "
    "chunk stream inside the callbacks BaseLLM.stream would fire (observed_llm.py)"
)
ALLOWED: dict[tuple[str, str], str] = {
    ("localllm_nb/backends/_mlx_grammar.py", "_tokenizer"): "mlx-lm's TokenizerWrapper "
    "keeps the Hugging Face tokenizer llguidance needs there, with no public accessor",
    ("localllm_nb/run/direct.py", "_merge_configs"): "RunnableBinding's own merge: a "
    "binding's config reaches the model as the binding would pass it",
    ("localllm_nb/run/direct.py", "_normalize_messages"): _DIRECT,
    ("localllm_nb/run/direct.py", "_convert_input"): _DIRECT,
    ("localllm_nb/run/direct.py", "_chat_params"): _DIRECT,
    ("localllm_nb/run/direct.py", "_generate_params"): _DIRECT,
    ("localllm_nb/run/direct.py", "_get_tool_calls_from_response"): _DIRECT,
    ("localllm_nb/run/direct.py", "_client"): "langchain-ollama's ollama.Client: the "
    "direct path reads its stream",
    ("localllm_nb/run/direct.py", "_async_client"): "langchain-ollama's ollama.AsyncClient",
    ("localllm_nb/run/driver.py", "_async_client"): "the httpx client under ChatOllama's "
    "ollama.AsyncClient: a response hook records the embedded server's context headers",
    ("localllm_nb/run/driver.py", "_client"): "the httpx client under ChatOllama's "
    "ollama.Client: its response hook gives a cancel the socket to shut",
    ("localllm_nb/run/observed_llm.py", "_identifying_params"): _OBSERVED,
    ("localllm_nb/run/observed_llm.py", "_serialized"): _OBSERVED,
    ("localllm_nb/run/observed_llm.py", "_stream"): _OBSERVED,
    ("localllm_nb/run/observed_llm.py", "_astream"): _OBSERVED,
    ("tests/test_explorer.py", "_remove_buffers"): "ipywidgets' own split of a state into "
    "JSON and binary buffers, as it sends it; no public equivalent",
    ("tests/test_mlx_backend.py", "_to_chat_prompt"): "langchain-community's ChatMLX hook "
    "our ChatMLX overrides; the test reads the prompt it builds as LangChain does",
    ("tests/test_mlx_chat.py", "_get_ls_params"): "LangChain's tracing hook ChatMLX and "
    "MLXPipeline override; the test calls it as LangChain's tracer does",
}


def _private(name: str) -> bool:
    return (
        name.startswith("_")
        and not (name.startswith("__") and name.endswith("__"))
        and name not in PUBLIC_BY_CONVENTION
    )


def _resolve(rel: str, node: ast.ImportFrom) -> list[str]:
    """The imported module's dotted parts, relative imports resolved against `rel`."""
    if not node.level:
        return (node.module or "").split(".")
    base = list(Path(rel).parts[:-1])  # the file's package
    base = base[: len(base) - (node.level - 1)]
    return base + (node.module.split(".") if node.module else [])


def _is_module(parts: list[str]) -> bool:
    where = ROOT.joinpath(*parts)
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _owned(tree: ast.Module) -> set[str]:
    """Private names this module defines: module level, class bodies, `self._x = ...`."""
    owned: set[str] = set()

    def bind(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            owned.add(target.id)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            if target.value.id in ("self", "cls"):
                owned.add(target.attr)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                bind(element)

    def body(statements: list[ast.stmt]) -> None:
        for stmt in statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                owned.add(stmt.name)
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    bind(target)
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                bind(stmt.target)

    body(tree.body)
    for node in ast.walk(tree):  # class bodies (nested ones too), self._x = ... anywhere
        if isinstance(node, ast.ClassDef):
            body(node.body)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute):
                    bind(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(
            node.target, ast.Attribute
        ):
            bind(node.target)
    return owned


def _reached(node: ast.AST) -> tuple[ast.AST, str] | None:
    """(object, private name) when `node` reaches into an object's private name."""
    if isinstance(node, ast.Attribute) and _private(node.attr):
        return node.value, node.attr
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    if name not in ("getattr", "setattr", "hasattr", "delattr"):
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and "." in first.value:
        # monkeypatch.setattr("package.module._name", value)
        last = first.value.rsplit(".", 1)[1]
        return (first, last) if _private(last) else None
    if len(node.args) > 1:
        second = node.args[1]
        if isinstance(second, ast.Constant) and isinstance(second.value, str):
            return (first, second.value) if _private(second.value) else None
    return None


def violations(rel: str, source: str) -> list[str]:
    """Every cross-module private access in one file's `source`, as 'file:line: what'."""
    tree = ast.parse(source, filename=rel)
    owned = _owned(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = _resolve(rel, node)
            for alias in node.names:
                if (
                    _private(alias.name)
                    and not _is_module([*parts, alias.name])
                    and (rel, alias.name) not in ALLOWED
                ):
                    found.append((node.lineno, f"from {'.'.join(parts)} import {alias.name}"))
            continue
        reached = _reached(node)
        if reached is None:
            continue
        obj, name = reached
        if isinstance(obj, ast.Name) and obj.id in ("self", "cls"):
            continue
        if name in owned or (rel, name) in ALLOWED:
            continue
        found.append((node.lineno, ast.unparse(node)[:80]))
    return [f"{rel}:{line}: {what}" for line, what in sorted(found)]


def _sources() -> dict[str, str]:
    files = sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py"))
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in files}


def test_no_module_reaches_into_another_modules_private_names():
    found = [line for rel, source in _sources().items() for line in violations(rel, source)]
    assert not found, "cross-module private access:\n" + "\n".join(found)


def test_every_allowed_exception_is_still_needed():
    # An exception that nothing uses any more is a hole waiting to be reused.
    sources = _sources()
    unused = [key for key in ALLOWED if key[1] not in sources.get(key[0], "")]
    assert not unused


def test_the_check_sees_what_it_must():
    # The checker itself, on a module that does each forbidden thing once, beside
    # the allowed forms (a private module, its own names, dunders).
    source = (
        "from localllm_nb.run.driver import _workers\n"
        "from localllm_nb import _lazy\n"
        "from .._lazy import lazy\n"
        "import sys\n"
        "class Box:\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"
        "    def same(self, other):\n"
        "        return other._mine\n"
        "def reach(run, monkeypatch):\n"
        "    run._finish()\n"
        "    getattr(run, '_content')\n"
        "    monkeypatch.setattr('localllm_nb.run.driver._workers', None)\n"
        "    sys._getframe(0)\n"
        "    return run.__class__, run.content, run._replace()\n"
    )
    found = violations("localllm_nb/run/sample.py", source)
    assert [line.split(": ", 1)[1] for line in found] == [
        "from localllm_nb.run.driver import _workers",
        "run._finish",
        "getattr(run, '_content')",
        "monkeypatch.setattr('localllm_nb.run.driver._workers', None)",
        "sys._getframe",
    ]
