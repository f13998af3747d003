"""Builders return the real LangChain classes; discovery lists models and capabilities.

Against the session's embedded server, plus one tiny HTTP server that replays real
Ollama's documented /api/tags and /api/show replies (a thinking + tools model)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ollama
import pytest
from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM

from localllm_nb import (
    ModelNotFoundError,
    ModelSpec,
    ServerUnavailableError,
    SpecError,
    build,
    build_chat,
    build_embeddings,
    build_llm,
    list_models,
    spec_from_model,
)
from tests.models import CHAT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_builders_return_real_classes_that_work(server_url):
    chat = build_chat(ModelSpec(model=CHAT, temperature=0, num_predict=5, seed=1))
    llm = build_llm(ModelSpec(model=CHAT, kind="llm", temperature=0, num_predict=5, seed=1))
    emb = build_embeddings(ModelSpec(model=CHAT, kind="embeddings"))
    assert type(chat) is ChatOllama and type(llm) is OllamaLLM and type(emb) is OllamaEmbeddings
    assert chat.invoke("Say hi.").content
    assert llm.invoke("Hello,")
    assert isinstance(build(ModelSpec(model=CHAT, kind="llm")), OllamaLLM)


def test_builders_accept_names_and_dicts_and_refuse_the_wrong_kind():
    assert build_chat(CHAT).model == CHAT
    assert build_llm({"model": CHAT, "num_predict": 3}).num_predict == 3
    with pytest.raises(SpecError, match="kind='llm'"):
        build_chat(ModelSpec(model=CHAT, kind="llm"))


def test_spec_from_model_inverts_the_builder():
    spec = ModelSpec(
        model=CHAT,
        temperature=0.0,
        top_k=7,
        stop=["END"],
        reasoning=False,
        client_kwargs={"headers": {"X-A": "1"}},
    )
    assert spec_from_model(build_chat(spec)) == spec


def test_validate_on_init_names_missing_model_and_lists_the_others(server_url):
    with pytest.raises(ModelNotFoundError) as info:
        build_chat(ModelSpec(model="nosuch:7b", validate_model_on_init=True))
    message = str(info.value)
    assert "ollama pull nosuch:7b" in message and CHAT in message and server_url in message
    ok = build_chat(ModelSpec(model=CHAT, validate_model_on_init=True))
    assert ok.model == CHAT


def test_validate_on_init_without_server_names_the_url():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ServerUnavailableError) as info:
        build_chat(ModelSpec(model=CHAT, base_url=url, validate_model_on_init=True))
    assert url in str(info.value) and "localllm-nb serve" in str(info.value)


def test_list_models_on_the_embedded_server(server_url):
    models = {m.name: m for m in list_models(server_url, refresh=True)}
    smol = models[CHAT]
    assert smol.family == "llama" and smol.parameter_size == "135M"
    assert smol.quantization == "Q4_1" and smol.size > 50_000_000
    assert smol.can_chat and "completion" in smol.capabilities
    assert smol.context_length and smol.embedding_length == 576


def test_list_models_caches_for_a_few_seconds(server_url):
    client = ollama.Client(host=server_url)
    before = {m.name for m in list_models(server_url, refresh=True)}
    client.copy(CHAT, "cache-probe:1")
    try:
        cached = {m.name for m in list_models(server_url)}
        fresh = {m.name for m in list_models(server_url, refresh=True)}
    finally:
        client.delete("cache-probe:1")
    assert cached == before
    assert "cache-probe:1" in fresh


def test_list_models_without_server():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ServerUnavailableError, match=url):
        list_models(url, refresh=True)


# Real Ollama's replies (0.12 era) for a thinking + tools model, as documented.
_TAGS = {
    "models": [
        {
            "name": "qwen3:0.6b",
            "model": "qwen3:0.6b",
            "modified_at": "2025-10-26T17:15:24.097767+02:00",
            "size": 522653767,
            "digest": "7df6b6e09427a769808717c0a93cadc4ae99ed4eb8bf5ca557c90846becea435",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen3",
                "families": ["qwen3"],
                "parameter_size": "751.63M",
                "quantization_level": "Q4_K_M",
            },
        }
    ]
}
_SHOW = {
    "license": "Apache License",
    "modelfile": "FROM /x",
    "parameters": "top_k 20",
    "template": "{{- if .Messages }}...",
    "details": _TAGS["models"][0]["details"],
    "model_info": {
        "general.architecture": "qwen3",
        "qwen3.context_length": 40960,
        "qwen3.embedding_length": 1024,
        "general.parameter_count": 751632384,
    },
    "capabilities": ["completion", "tools", "thinking"],
    "modified_at": "2025-10-26T17:15:24.097767+02:00",
}


class _OllamaReplay(BaseHTTPRequestHandler):
    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(_TAGS)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(_SHOW)

    def log_message(self, *args):
        pass


def test_list_models_reads_real_ollama_replies():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaReplay)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        (qwen,) = list_models(f"http://127.0.0.1:{httpd.server_port}", refresh=True)
    finally:
        httpd.shutdown()
    assert qwen.name == "qwen3:0.6b" and qwen.parameter_size == "751.63M"
    assert qwen.quantization == "Q4_K_M" and qwen.family == "qwen3"
    assert qwen.supports("thinking") and qwen.supports("tools") and not qwen.can_embed
    assert qwen.context_length == 40960 and qwen.embedding_length == 1024


def test_mlx_backend_builds_chatmlx_and_mlxpipeline():
    mlx = pytest.importorskip("localllm_nb.backends.mlx")
    spec = ModelSpec(
        model=CHAT,
        backend="mlx",
        system_message="Be brief.",
        pipeline_kwargs={"temp": 0.0, "max_tokens": 4},
    )
    chat = build_chat(spec)
    assert isinstance(chat, mlx.ChatMLX)
    assert chat.llm.pipeline_kwargs == {"temp": 0.0, "max_tokens": 4}
    assert chat.system_message.content == "Be brief."
    llm = build_llm(spec.replace(kind="llm", system_message=None))
    assert isinstance(llm, mlx.MLXPipeline) and llm.pipeline_kwargs["max_tokens"] == 4
