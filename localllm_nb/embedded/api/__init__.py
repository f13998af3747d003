"""Ollama's HTTP API on Starlette: the app and its routes, request parsing and checking as
Ollama's Go server does it, and the bounds one request may cost."""
