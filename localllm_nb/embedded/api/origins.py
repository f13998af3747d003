"""Cross-site and DNS-rebinding protection, as Ollama's server does it.

Ollama (server/routes.go) runs gin-contrib/cors with `envconfig.AllowedOrigins()` and
then `allowedHostsMiddleware`: a browser page from a foreign origin gets 403, and so
does a request whose Host header names a foreign host while the server listens on
loopback (a DNS-rebinding page). Requests without an Origin header (ollama-python,
langchain-ollama, a notebook kernel) are not cross-site requests and pass.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from functools import lru_cache

from .openai_shapes import error_body

# Browser-extension schemes gin-contrib/cors allows with AllowBrowserExtensions.
_EXTENSION_SCHEMES = (
    "chrome-extension://",
    "safari-extension://",
    "moz-extension://",
    "ms-browser-extension://",
)
_LOCAL_TLDS = (".localhost", ".local", ".internal")
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# What Ollama answers a preflight with (gin-contrib/cors DefaultConfig plus its headers).
_ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
_ALLOW_HEADERS = ",".join(
    [
        "Authorization",
        "Content-Type",
        "User-Agent",
        "Accept",
        "X-Requested-With",
        "Openai-Beta",
        *(
            "X-Stainless-" + h
            for h in (
                "Arch",
                "Async",
                "Custom-Poll-Interval",
                "Helper-Method",
                "Lang",
                "Os",
                "Package-Version",
                "Poll-Helper",
                "Retry-Count",
                "Runtime",
                "Runtime-Version",
                "Timeout",
            )
        ),
    ]
)


def allowed_origins(env: str | None = None) -> list[str]:
    """Ollama's `AllowedOrigins()`: `OLLAMA_ORIGINS` (comma separated) first, then the
    loopback origins and the desktop-app schemes.

    >>> allowed_origins("http://10.0.0.1")[:3]
    ['http://10.0.0.1', 'http://localhost', 'https://localhost']
    """
    value = os.environ.get("OLLAMA_ORIGINS", "") if env is None else env
    origins = value.split(",") if value else []
    for host in ("localhost", "127.0.0.1", "0.0.0.0"):
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    return [*origins, "app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]


def origin_allowed(origin: str, rules: list[str]) -> bool:
    """gin-contrib/cors' check: an exact (trimmed, lower-cased) match, or a match of a
    rule with one `*` (prefix, suffix or both); a lone `*` allows every origin.

    >>> rules = allowed_origins("")
    >>> [origin_allowed(o, rules) for o in ("http://localhost:8888", "app://x", "http://evil.example")]
    [True, True, False]
    """
    for rule in rules:
        if "*" not in rule:
            if rule.strip().lower() == origin:
                return True
            continue
        head, _, tail = rule.partition("*")
        if origin.startswith(head) and origin.endswith(tail):
            return True
    return False


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname().lower()


@lru_cache(maxsize=1)
def _local_addresses() -> frozenset:
    """The machine's own addresses (Ollama's isLocalIP), as far as its name resolves."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return frozenset()
    return frozenset(info[4][0] for info in infos)


def host_allowed(host_header: str) -> bool:
    """Ollama's allowedHostsMiddleware for a server on loopback: IP hosts that are
    loopback, private, unspecified or the machine's own; names that are empty,
    `localhost`, the machine's hostname, or end in .localhost, .local or .internal.

    >>> [host_allowed(h) for h in ("127.0.0.1:11434", "[::1]:80", "localhost", "rebind.evil.example")]
    [True, True, True, False]
    """
    host = host_header.strip().lower()
    if host.startswith("["):  # [v6]:port or [v6]
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return (
            ip.is_loopback
            or ip.is_unspecified
            or any(ip in net for net in _PRIVATE_NETS if net.version == ip.version)
            or host in _local_addresses()
        )
    if host in ("", "localhost", _hostname()):
        return True
    return host.endswith(_LOCAL_TLDS)


def _is_ip(host_header: str) -> bool:
    host = host_header.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _loopback(server) -> bool:
    if not server:
        return False
    try:
        return ipaddress.ip_address(server[0]).is_loopback
    except ValueError:
        return False


class OriginGuard:
    """ASGI middleware: Ollama's CORS rules, then its Host check (on loopback only)."""

    def __init__(self, app, origins: list[str] | None = None):
        self.app = app
        self.rules = allowed_origins() if origins is None else origins
        self.allow_all = "*" in self.rules

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin", "")
        host = headers.get("host", "")
        extra: list[tuple[bytes, bytes]] = []
        if origin and origin not in (f"http://{host}", f"https://{host}"):
            if not (self.allow_all or origin_allowed(origin, self.rules)):
                return await _refuse(
                    send, f"origin {origin!r} is not allowed (OLLAMA_ORIGINS)", scope["path"]
                )
            allow = b"*" if self.allow_all else origin.encode("latin-1")
            if scope["method"] == "OPTIONS":
                return await _preflight(send, allow, self.allow_all)
            extra = [(b"access-control-allow-origin", allow)]
            if not self.allow_all:
                extra.append((b"vary", b"Origin"))
        if _loopback(scope.get("server")):
            if not host_allowed(host):
                return await _refuse(send, f"host {host!r} is not a local name", scope["path"])
            if scope["method"] == "OPTIONS" and not _is_ip(host):
                return await _respond(send, 204, [])  # Ollama's answer for a local name
        if not extra:
            return await self.app(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return await self.app(scope, receive, send_with_cors)


async def _respond(send, status: int, headers: list, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse(send, reason: str, path: str) -> None:
    # Ollama answers an empty 403; a JSON reason tells a notebook user what to change.
    body = json.dumps(error_body(path, 403, f"forbidden: {reason}")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await _respond(send, 403, headers, body)


async def _preflight(send, allow: bytes, allow_all: bool) -> None:
    headers = [
        (b"access-control-allow-methods", _ALLOW_METHODS.encode()),
        (b"access-control-allow-headers", _ALLOW_HEADERS.encode()),
        (b"access-control-max-age", b"43200"),
        (b"access-control-allow-origin", allow),
    ]
    if not allow_all:
        headers += [
            (b"vary", b"Origin"),
            (b"vary", b"Access-Control-Request-Method"),
            (b"vary", b"Access-Control-Request-Headers"),
        ]
    await _respond(send, 204, headers)


__all__ = ["OriginGuard", "allowed_origins", "host_allowed", "origin_allowed"]
