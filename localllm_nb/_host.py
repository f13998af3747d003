"""Where the Ollama server is: OLLAMA_HOST parsing, as ollama-python reads it."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import safe_url

DEFAULT_HOST = "http://127.0.0.1:11434"


def base_url(host: str | None = None) -> str:
    """Normalise an Ollama host (`host:port`, `:port`, a URL) to a base URL.

    >>> base_url("localhost:8080"), base_url(":5000"), base_url("https://example.com")
    ('http://localhost:8080', 'http://127.0.0.1:5000', 'https://example.com:443')
    >>> base_url("0.0.0.0")
    'http://127.0.0.1:11434'
    """
    host = (host if host is not None else os.environ.get("OLLAMA_HOST", "")).strip()
    if not host:
        return DEFAULT_HOST
    scheme = "http"
    if "://" in host:
        scheme, host = host.split("://", 1)
    default_port = 443 if scheme == "https" else 11434
    split = urlsplit(f"{scheme}://{host}")
    hostname = split.hostname or "127.0.0.1"
    if hostname in ("0.0.0.0", "::"):
        hostname = "127.0.0.1"  # a bind-all address is reached on loopback
    try:
        port = split.port or default_port
    except ValueError:
        port = default_port
    if ":" in hostname:
        hostname = f"[{hostname}]"
    userinfo = ""
    if split.username:
        userinfo = split.username + (f":{split.password}" if split.password else "") + "@"
    path = split.path.rstrip("/")
    return f"{scheme}://{userinfo}{hostname}:{port}{path}"


@dataclass(frozen=True)
class HostStatus:
    """Whether an Ollama-compatible server answers at `url`, and which kind it is."""

    url: str
    answering: bool
    kind: str = ""  # "embedded" (localllm_nb's backend) | "ollama" | "" (nothing answers)
    version: str = ""

    def describe(self) -> str:
        """One line for people, e.g. 'Ollama 0.12.3 at http://127.0.0.1:11434'."""
        if not self.answering:
            return f"No server answers at {safe_url(self.url)}"
        name = "embedded backend" if self.kind == "embedded" else "Ollama"
        return f"{name} {self.version} at {safe_url(self.url)}".replace("  ", " ")


def server_status(host: str | None = None, timeout: float = 1.0) -> HostStatus:
    """Ask `/api/version` at `host` (default OLLAMA_HOST) what answers there."""
    url = base_url(host)
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/version", timeout=timeout) as resp:
            body = json.loads(resp.read(4096) or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return HostStatus(url, False)
    if not isinstance(body, dict) or "version" not in body:
        return HostStatus(url, False)
    kind = "embedded" if "localllm_nb" in str(body.get("server", "")) else "ollama"
    return HostStatus(url, True, kind, str(body.get("version", "")))


def is_ollama(url: str, timeout: float = 0.5) -> bool:
    """True when an Ollama-compatible server answers at `url`."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/version", timeout=timeout) as resp:
            return resp.status == 200 and b"version" in resp.read(256)
    except (urllib.error.URLError, OSError, ValueError):
        return False
