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
def bundled_pipeline(mlx_llm):
    """The bundled model (the session's, with mlx-lm's default settings); the suites'
    properties read it from here."""
    _PIPELINE["llm"] = mlx_llm.model_copy(update={"pipeline_kwargs": {}})
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


# What the bundled 135M model cannot do within make test's budget, measured (greedy).
# (The Joke cases and the unicode tool call pass since constrained decoding keeps an
# answer valid within max_tokens; pydantic v1's schema is not constrained that way.)
EXPECTED_FAILURES = {
    "test_structured_output_pydantic_2_v1": (
        "asked for a pydantic v1 Joke, the 135M model repeats 'A cat is a cat' in `setup` "
        "past the 40-token budget, so `punchline` is missing"
    ),
    "test_json_mode": (
        "json_mode constrains the answer to some JSON object, not to the keys the prompt "
        "asks for, and the 135M model writes only a 'setup' key"
    ),
}


# Cases whose checks read only that an answer came back (a non-empty AIMessage, chunks,
# usage counts, a stop string honoured; after a tool result, any AIMessage): a few tokens
# answer them. The others need the 40 tokens a tool call or a JSON object takes.
SHORT_ANSWER = {
    "test_invoke",
    "test_ainvoke",
    "test_stream",
    "test_astream",
    "test_batch",
    "test_abatch",
    "test_conversation",
    "test_double_messages_conversation",
    "test_message_with_name",
    "test_usage_metadata",
    "test_usage_metadata_streaming",
    "test_stop_sequence",
    "test_stream_events_v3",
    "test_astream_events_v3",
    "test_tool_message_histories_string_content",
    "test_tool_message_histories_list_content",
    "test_tool_message_error_status",
}


class TestChatMLXIntegration(_ChatMLXFlags, ChatModelIntegrationTests):
    max_tokens = 40  # a tool call (~30 with its markers) and short answers

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": _PIPELINE["llm"], "temperature": 0, "max_tokens": self.max_tokens}

    @pytest.fixture(autouse=True)
    def _expected_failure(self, request):
        """Mark the cases listed in EXPECTED_FAILURES (one parametrized case at a time,
        which overriding the suite's method with an xfail could not do); strict, so a
        case that starts passing is reported. Give SHORT_ANSWER cases a small budget (this
        runs before the suite's `model` fixture reads `chat_model_params`)."""
        reason = EXPECTED_FAILURES.get(request.node.name)
        if reason:
            request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        if request.node.originalname in SHORT_ANSWER:
            self.max_tokens = 8
