"""Where an OpenAI-compatible server's API key comes from: the spec's own SecretStr, the
variable it names, or OPENAI_API_KEY; local servers that need none get a placeholder
(the openai client refuses to start without some key)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic import SecretStr

from .errors import SpecError

if TYPE_CHECKING:
    from .spec import ModelSpec

KEY_VARIABLE = "OPENAI_API_KEY"
PLACEHOLDER = "unused"


def resolve_api_key(spec: ModelSpec) -> SecretStr:
    """The key to send for `spec`, kept as a SecretStr so no repr shows it."""
    if spec.api_key is not None:
        return spec.api_key
    if spec.api_key_env:
        value = os.environ.get(spec.api_key_env)
        if not value:
            raise SpecError(
                f"api_key_env={spec.api_key_env!r}: that environment variable is not set; "
                "set it, or give api_key=SecretStr(...) on the spec"
            )
        return SecretStr(value)
    return SecretStr(os.environ.get(KEY_VARIABLE) or PLACEHOLDER)
