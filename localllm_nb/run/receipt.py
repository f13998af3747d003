"""`Receipt`: what one run needs to be rerun and what could make a rerun differ.

The model's digest and template hash, the server (kind, version, URL without
credentials), every effective option (the spec's settings over the server's defaults
from `/api/show`), the seed, package versions and the machine (CPU model, logical CPUs,
the engine's thread count where the server reports it). `take_receipt(run)` asks the
server; a fact it cannot learn (no server, an MLX run) stays empty rather than failing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

# Spec fields that say where the server is or how to reach it, not how the model runs.
_CONNECTION = {
    "base_url",
    "client_kwargs",
    "sync_client_kwargs",
    "async_client_kwargs",
    "validate_model_on_init",
    "keep_alive",
    "api_key",  # a secret: never in a receipt
    "api_key_env",
}
PACKAGES = ("localllm-nb", "langchain-ollama", "ollama", "xllamacpp", "mlx-lm")


@dataclass(frozen=True)
class Receipt:
    """One run's facts, JSON-ready: `to_dict()` / `Receipt.from_dict()` round-trip.

    `options` are the effective options (set ones over the server's defaults); `spec`
    and `prompt` are what `localllm_nb.replay(receipt)` runs again, and `content`,
    `thinking` and `tool_calls` the answer it compares with.
    """

    model: str
    digest: str = ""
    backend: str = "ollama"
    server_kind: str = ""  # "embedded" | "ollama" | "" (not reached, or an MLX run)
    server_version: str = ""
    server_url: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    template_hash: str = ""
    seed: int | None = None
    packages: dict[str, str] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    prompt: Any = None
    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""
    taken_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The receipt as plain JSON-ready data."""
        return asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """The receipt as JSON text; also written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, "utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        """A receipt from `to_dict()` output (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def facts(self) -> dict[str, Any]:
        """The recorded facts a rerun is compared on, flattened ('options.seed', ...)."""
        out: dict[str, Any] = {
            "model": self.model,
            "model digest": self.digest,
            "server kind": self.server_kind,
            "server version": self.server_version,
            "template": self.template_hash,
        }
        out.update({f"options.{k}": v for k, v in self.options.items()})
        out.update({f"package {k}": v for k, v in self.packages.items()})
        out.update({f"machine.{k}": v for k, v in self.machine.items()})
        return out

    def __repr__(self) -> str:
        return (
            f"Receipt(model={self.model!r}, digest={self.digest[:12]!r}, "
            f"server={self.server_kind or '?'} {self.server_version}, seed={self.seed}, "
            f"threads={self.machine.get('engine_threads')}, {len(self.content)} chars)"
        )


def load_receipts(path: str | Path) -> list[Receipt]:
    """Receipts from a file: one receipt's JSON, a `RunHistory.to_json` /
    `receipts_json` list, or a `RunHistory.to_csv` file (its 'receipt' column)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            cells = [row.get("receipt") for row in csv.DictReader(fh)]
        items = [json.loads(cell) for cell in cells if cell]
    else:
        data = json.loads(path.read_text("utf-8"))
        items = data if isinstance(data, list) else [data]
    # A history record holds its receipt under 'receipt'; a receipt list holds them bare.
    items = [item.get("receipt", item) if "receipt" in item else item for item in items]
    return [Receipt.from_dict(item) for item in items if item]


# --- gathering ----------------------------------------------------------------------------


def package_versions(backend: str = "ollama") -> dict[str, str]:
    """Installed versions of the packages a run goes through ('' for the ones missing)."""
    out = {}
    for name in PACKAGES:
        if name == "mlx-lm" and backend != "mlx":
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name != "xllamacpp":  # only the embedded server needs it
                out[name] = ""
    return out


@cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what `platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _template_hash(template: str) -> str:
    return "sha256:" + hashlib.sha256(template.encode()).hexdigest()[:16] if template else ""


def _same_model(a: str, b: str) -> bool:
    def full(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"

    return full(a) == full(b)


def _ask_server(url: str, client_kwargs: dict | None, model: str) -> dict[str, Any]:
    """Version, digest, parameters, template and engine threads from a server; what
    cannot be had is left out."""
    import httpx

    from ..fields import parse_parameters

    out: dict[str, Any] = {}
    kwargs = {k: v for k, v in (client_kwargs or {}).items() if k in ("headers", "auth", "verify")}
    try:
        client = httpx.Client(base_url=url, timeout=5.0, **kwargs)
    except Exception:
        return out
    with client:
        try:
            body = client.get("/api/version").json()
            out["version"] = str(body.get("version", ""))
            out["kind"] = "embedded" if "localllm_nb" in str(body.get("server", "")) else "ollama"
        except Exception:
            return out  # nothing answers: the other questions would fail the same way
        try:
            for entry in client.get("/api/tags").json().get("models", []):
                if _same_model(entry.get("model") or entry.get("name", ""), model):
                    out["digest"] = entry.get("digest", "")
        except Exception:
            pass
        try:
            show = client.post("/api/show", json={"model": model}).json()
            out["parameters"] = parse_parameters(show.get("parameters", ""))
            out["template"] = show.get("template", "")
        except Exception:
            pass
        try:
            for row in client.get("/api/ps").json().get("models", []):
                # The embedded server reports its engine's threads; a real Ollama does not.
                if _same_model(row.get("model") or row.get("name", ""), model):
                    out["threads"] = row.get("num_thread")
        except Exception:
            pass
    return out


def effective_options(spec: Any, server_defaults: dict[str, Any]) -> dict[str, Any]:
    """The spec's generation settings over the server's defaults, sorted by name."""
    options = dict(server_defaults)
    if spec is not None:
        params = spec.set_params()
        if spec.backend == "mlx":
            params = {**params.pop("pipeline_kwargs", {}), **params}
        options.update({k: v for k, v in params.items() if k not in _CONNECTION})
    return dict(sorted(options.items()))


def take_receipt(run: Any) -> Receipt:
    """A receipt for `run`, asking its server for the facts the run does not hold."""
    from .history import prompt_json

    spec = run.spec
    backend = getattr(spec, "backend", "ollama")
    server: dict[str, Any] = {}
    url = ""
    if spec is not None and backend == "ollama":
        from .._host import base_url
        from ..errors import safe_url

        raw = base_url(spec.base_url)
        url = safe_url(raw)
        server = _ask_server(raw, spec.client_kwargs, run.model_name or spec.model)
    options = effective_options(spec, server.get("parameters", {}))
    machine = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "engine_threads": server.get("threads"),
        "platform": platform.platform(terse=True),
    }
    return Receipt(
        model=run.model_name or getattr(spec, "model", ""),
        digest=server.get("digest", ""),
        backend=backend,
        server_kind=server.get("kind", "mlx" if backend == "mlx" else ""),
        server_version=server.get("version", ""),
        server_url=url,
        options=options,
        template_hash=_template_hash(server.get("template", "")),
        seed=options.get("seed"),
        packages=package_versions(backend),
        machine=machine,
        spec=spec.redacted().model_dump(mode="json", exclude_none=True) if spec else None,
        prompt=prompt_json(run.prompt),
        content=run.content,
        thinking=run.thinking,
        tool_calls=json.loads(json.dumps(run.tool_calls, default=str)),
        status=run.status,
        taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
