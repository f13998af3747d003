"""Cross-site and DNS-rebinding requests get Ollama's answers, over real HTTP.

Ollama runs gin-contrib/cors with its allowed origins (loopback, app schemes,
OLLAMA_ORIGINS), then refuses a foreign Host header while it listens on loopback."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from localllm_nb.embedded import start_server
from localllm_nb.embedded.api.origins import allowed_origins, host_allowed, origin_allowed

CHAT = "smollm2:135m"
LOAD = json.dumps({"model": CHAT, "messages": []})  # loads the model, generates nothing
EVIL = "http://evil.example"


def send(url: str, method: str = "POST", path: str = "/api/chat", **headers) -> httpx.Response:
    """One request with exactly these headers (`Host` too when given)."""
    content = LOAD if method == "POST" else None
    return httpx.request(method, url + path, content=content, headers=headers, timeout=60)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # ollama-python, langchain-ollama, a notebook kernel: no Origin
        ({"Origin": "http://localhost:8888"}, 200),  # JupyterLab in the browser
        ({"Origin": "http://127.0.0.1:8888"}, 200),
        ({"Origin": "https://localhost"}, 200),
        ({"Origin": "http://0.0.0.0:3000"}, 200),
        ({"Origin": "app://obsidian.md"}, 200),
        ({"Origin": "file://"}, 200),
        ({"Origin": "tauri://localhost"}, 200),
        ({"Origin": "vscode-webview://abc"}, 200),
        ({"Origin": EVIL, "Content-Type": "text/plain"}, 403),  # a "simple" cross-site POST
        ({"Origin": "http://localhost.evil.example"}, 403),
        ({"Origin": "null"}, 403),  # sandboxed iframes
        ({"Host": "rebind.evil.example"}, 403),  # DNS rebinding
        ({"Host": "rebind.evil.example:11434"}, 403),
        ({"Host": "localhost:11434"}, 200),
        ({"Host": "[::1]:11434"}, 200),
        ({"Host": "10.1.2.3:11434"}, 200),  # private addresses, as Ollama allows
        ({"Host": "box.local"}, 200),
        ({"Host": "box.internal"}, 200),
        ({"Host": "app.localhost"}, 200),
        ({"Host": socket.gethostname()}, 200),
    ],
)
def test_origin_and_host_matrix(server_url, headers, status):
    resp = send(server_url, **headers)
    assert resp.status_code == status, resp.text
    if status == 403:
        assert set(resp.json()) == {"error"}
    origin = headers.get("Origin")
    if origin and status == 200:
        assert resp.headers["access-control-allow-origin"] == origin
        assert resp.headers["vary"] == "Origin"


def test_rebinding_cannot_read_show(server_url):
    resp = send(server_url, path="/api/show", Host="rebind.evil.example")
    assert resp.status_code == 403
    assert "modelfile" not in resp.text  # local paths stay private


def test_same_origin_request_is_not_cross_site(server_url):
    # gin-contrib/cors: an Origin equal to http://<Host> is a same-origin fetch.
    host = httpx.URL(server_url).netloc.decode()
    resp = send(server_url, Origin=f"http://{host}")
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers


def test_preflight_for_an_allowed_origin(server_url):
    resp = send(
        server_url,
        method="OPTIONS",
        Origin="http://localhost:8888",
        **{
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "http://localhost:8888"
    assert "POST" in resp.headers["access-control-allow-methods"].split(",")
    assert "Content-Type" in resp.headers["access-control-allow-headers"].split(",")
    assert resp.headers["access-control-max-age"] == "43200"


def test_preflight_for_a_foreign_origin_is_refused(server_url):
    resp = send(server_url, method="OPTIONS", Origin=EVIL)
    assert resp.status_code == 403
    assert "access-control-allow-origin" not in resp.headers


def test_options_without_origin_as_ollama(server_url):
    # allowedHostsMiddleware answers 204 for a local name; an IP host reaches the router,
    # where gin has no OPTIONS route (405)
    assert send(server_url, method="OPTIONS", Host="localhost").status_code == 204
    assert send(server_url, method="OPTIONS").status_code == 405
    assert send(server_url, method="OPTIONS", Host="rebind.evil.example").status_code == 403


def test_get_routes_are_guarded_too(server_url):
    assert send(server_url, method="GET", path="/api/tags", Origin=EVIL).status_code == 403
    assert send(server_url, method="GET", path="/api/tags").status_code == 200


@pytest.fixture(scope="module")
def origins_server():
    """A server (no model loaded) started with OLLAMA_ORIGINS."""
    server = start_server(env={"OLLAMA_ORIGINS": "https://notebooks.example.org,http://*.lab.test"})
    yield server.url
    server.stop()


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://notebooks.example.org", 200),
        ("http://a.lab.test", 200),
        ("http://lab.test.evil.example", 403),
        ("http://localhost:8888", 200),  # the defaults stay
        (EVIL, 403),
    ],
)
def test_ollama_origins_adds_origins(origins_server, origin, status):
    resp = send(origins_server, method="GET", path="/api/tags", Origin=origin)
    assert resp.status_code == status


def test_allowed_origins_match_ollama_defaults():
    # envconfig.AllowedOrigins() in Ollama, in its order.
    assert allowed_origins("") == [
        "http://localhost",
        "https://localhost",
        "http://localhost:*",
        "https://localhost:*",
        "http://127.0.0.1",
        "https://127.0.0.1",
        "http://127.0.0.1:*",
        "https://127.0.0.1:*",
        "http://0.0.0.0",
        "https://0.0.0.0",
        "http://0.0.0.0:*",
        "https://0.0.0.0:*",
        "app://*",
        "file://*",
        "tauri://*",
        "vscode-webview://*",
        "vscode-file://*",
    ]
    assert allowed_origins("http://10.0.0.1,https://x.test")[:2] == [
        "http://10.0.0.1",
        "https://x.test",
    ]
    assert origin_allowed("http://anything", allowed_origins("*"))
    assert not host_allowed("localhost.evil.example")
    assert host_allowed("0.0.0.0:11434")


V1_ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/smollm2:135m"),
]


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
def test_v1_routes_are_guarded_and_refuse_in_openais_shape(server_url, method, path):
    for headers in ({"Origin": EVIL}, {"Host": "rebind.evil.example"}):
        resp = send(server_url, method=method, path=path, **headers)
        assert resp.status_code == 403
        error = resp.json()["error"]
        assert error["type"] == "api_error" and error["message"].startswith("forbidden")
    allowed = send(server_url, method=method, path=path, Origin="http://localhost:8888")
    assert allowed.status_code != 403
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:8888"


def test_v1_preflight_allows_the_openai_clients_headers(server_url):
    resp = send(
        server_url,
        method="OPTIONS",
        path="/v1/chat/completions",
        Origin="http://localhost:8888",
        **{
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os",
        },
    )
    assert resp.status_code == 204
    allowed = {h.lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-stainless-os"} <= allowed
