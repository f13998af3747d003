"""`thinking_model()` picks a reasoning model the server has, against the embedded server."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ollama
import pytest

import localllm_nb
from localllm_nb import ModelNotFoundError, NoThinkingModelError, thinking_model


def test_embedded_server_offers_its_thinking_variant(server_url):
    name = localllm_nb.thinking_model(server_url)
    assert name == "smollm2:135m-think"
    chat = localllm_nb.build_chat(
        localllm_nb.ModelSpec(model=name, reasoning=True, num_predict=8, temperature=0)
    )
    reply = chat.invoke("Hi")
    assert "reasoning_content" in reply.additional_kwargs, "the model it names really thinks"


def test_a_known_reasoner_wins_over_the_bundled_variant(server_url):
    client = ollama.Client(host=server_url)
    # Copies keep the thinking template, so the server lists them as thinking models.
    client.copy("smollm2:135m-think", "zz-reasoner:1")
    client.copy("smollm2:135m-think", "qwen3:probe")
    localllm_nb.backends.clear_model_cache()  # list_models caches for a few seconds
    try:
        with_qwen = localllm_nb.thinking_model(server_url)
        localllm_nb.backends.clear_model_cache()
        client.delete("qwen3:probe")
        without_qwen = thinking_model(server_url)
    finally:
        for name in ("zz-reasoner:1", "qwen3:probe"):
            with contextlib.suppress(ollama.ResponseError):
                client.delete(name)
        localllm_nb.backends.clear_model_cache()
    assert with_qwen == "qwen3:probe"
    assert without_qwen == "zz-reasoner:1", "an unknown reasoner beats the 135M protocol demo"


class _NoThinker(BaseHTTPRequestHandler):
    """A server whose only model cannot think (what a bare `ollama pull llama3.2` gives)."""

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"models": [{"name": "llama3.2:1b", "model": "llama3.2:1b", "size": 1}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send({"capabilities": ["completion", "tools"], "details": {}, "model_info": {}})

    def log_message(self, *args):
        pass


def test_no_thinking_model_is_a_clear_error():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoThinker)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}"
    try:
        with pytest.raises(NoThinkingModelError) as info:
            thinking_model(url)
    finally:
        httpd.shutdown()
    assert isinstance(info.value, ModelNotFoundError)
    message = str(info.value)
    assert "llama3.2:1b" in message and "thinking" in message and "ollama pull" in message
