"""The error every part of the HTTP API raises: answered as Ollama answers it. A leaf
module (it imports nothing), so the parsers and the protocol helpers that raise it do not
import each other (as starlette's `exceptions.py`)."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as Ollama answers it: a status code and `{"error": message}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(name: str) -> ApiError:
    """Ollama's 404 for a model it does not have."""
    return ApiError(404, f"model '{name}' not found")
