"""LangChain's standard tests (`langchain-tests`) for ChatMLX, with the bundled model.

These suites are how LangChain judges a chat model integration. The capability flags
say what ChatMLX does; a test is marked only where the 135M text-only model cannot do
what the test asks, with the reason.

The model loads once for the module; each test builds a cheap ChatMLX over it. Replies
are capped at a few tokens: on Linux CPU the model makes ~6-8 tokens/s, and a prompt
with a tool costs ~200 tokens before the first one.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("mlx_lm")
pytest.importorskip("langchain_tests")

from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from localllm_nb.backends.mlx import ChatMLX, MLXPipeline

_PIPELINE: dict[str, MLXPipeline] = {}


@pytest.fixture(scope="module", autouse=True)
def bundled_pipeline(mlx_cache):
    """The bundled model, loaded once; the suites' properties read it from here."""
    _PIPELINE["llm"] = MLXPipeline.from_model_id("smollm2:135m")
    yield _PIPELINE["llm"]
    _PIPELINE.clear()


class _ChatMLXFlags:
    """What ChatMLX does, shared by both suites."""

    @property
    def chat_model_class(self) -> type[ChatMLX]:
        return ChatMLX

    @property
    def has_tool_calling(self) -> bool:
        return True  # bind_tools, grammar-constrained

    @property
    def has_tool_choice(self) -> bool:
        return True  # "any"/"required", a tool's name, "auto", "none"

    @property
    def has_structured_output(self) -> bool:
        return True  # json_schema (default), function_calling, json_mode

    @property
    def supports_json_mode(self) -> bool:
        return True  # format="json", method="json_mode"

    @property
    def returns_usage_metadata(self) -> bool:
        return True  # input/output/total tokens on the final chunk

    @property
    def supports_model_override(self) -> bool:
        # A pipeline holds one model's weights; `model=` naming another one is refused.
        return False

    # Text only: image, audio, PDF and video inputs stay at the suites' False defaults,
    # as do Anthropic-style inputs and VCR (no HTTP to record).


class TestChatMLXUnit(_ChatMLXFlags, ChatModelUnitTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": _PIPELINE["llm"]}


class TestChatMLXIntegration(_ChatMLXFlags, ChatModelIntegrationTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": _PIPELINE["llm"], "temperature": 0, "max_tokens": 40}
