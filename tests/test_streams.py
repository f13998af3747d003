"""Pure text-stream logic: markers split anywhere across pieces."""

from __future__ import annotations

import pytest

from localllm_nb._stream_text import HoldBack
from localllm_nb.embedded.engine.steering import ThinkSteer, tool_call_schema
from localllm_nb.embedded.engine.streams import OutputParser


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def run(parser: OutputParser, text: str, size: int):
    content, thinking, calls = "", "", []
    for piece in pieces(text, size):
        d = parser.feed(piece)
        content, thinking, calls = content + d.content, thinking + d.thinking, calls + d.tool_calls
    d = parser.finish()
    return content + d.content, thinking + d.thinking, calls + d.tool_calls


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_thinking_then_content_at_any_split(size):
    text = "\nLet me see.\n</think>\n\nThe answer is 4."
    content, thinking, calls = run(OutputParser(thinking=True), text, size)
    assert (content, thinking, calls) == ("The answer is 4.", "Let me see.", [])


@pytest.mark.parametrize("size", [1, 4, 100])
def test_tool_calls_parse_whole_and_keep_surrounding_text(size):
    text = (
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>\n'
        '<tool_call>[{"name": "neg", "arguments": {"x": 3}}]</tool_call>'
    )
    content, _, calls = run(OutputParser(tools=True), text, size)
    assert content == ""
    assert [
        (c["function"]["index"], c["function"]["name"], c["function"]["arguments"]) for c in calls
    ] == [(0, "add", {"a": 1, "b": 2}), (1, "neg", {"x": 3})]
    assert len({c["id"] for c in calls}) == 2


def test_malformed_tool_call_stays_text():
    content, _, calls = run(OutputParser(tools=True), "<tool_call>oops</tool_call>", 3)
    assert calls == [] and content == "<tool_call>oops</tool_call>"


@pytest.mark.parametrize("size", [2, 100])
def test_a_call_cut_short_stays_the_text_the_model_wrote(size):
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}'
    content, _, calls = run(OutputParser(tools=True), text, size)
    assert calls == [] and content == text


@pytest.mark.parametrize("size", [2, 100])
def test_a_call_cut_inside_its_closing_tag_is_still_a_call(size):
    text = '<tool_call>\n{"name": "f", "arguments": {"name": "株式会社トヨタ 🚗"}}\n</tool_'
    content, _, calls = run(OutputParser(tools=True), text, size)
    assert content == "" and [c["function"]["arguments"] for c in calls] == [
        {"name": "株式会社トヨタ 🚗"}
    ]


def test_plain_output_passes_through_untouched():
    content, _, _ = run(OutputParser(), " a <tool_call> b <think>c", 2)
    assert content == " a <tool_call> b <think>c"


@pytest.mark.parametrize("size", [1, 3, 100])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a <think>b", "a "),  # an unclosed block: the rest is the model's thinking
        ("12 <think>\nwhy not</think> The answer is 12.", "12 The answer is 12."),
        ("6 * 5 = 30\n</think>", "6 * 5 = 30"),  # a bare closing tag is dropped
        ("x <think>y</think> z <think>w</think> v", "x z v"),
    ],
)
def test_think_false_drops_the_models_own_think_blocks_and_tags(text, expected, size):
    # A thinking model asked not to think (think: false) sometimes writes a block anyway:
    # Ollama's thinking parser drops it, and content never shows a tag.
    content, thinking, _ = run(OutputParser(thinking=False, think_tags=True), text, size)
    assert (content, thinking) == (expected, "")


def test_stop_strings_hold_back_partial_matches():
    h = HoldBack(["STOP", "END"])
    out = [(h.feed(p), h.match) for p in ("abc ST", "O", "x E", "N", "D tail")]
    assert out == [("abc ", None), ("", None), ("STOx ", None), ("", None), ("", "END")]
    assert h.after == " tail" and h.flush() == ""


def test_think_steer_closes_at_budget_or_end():
    steer = ThinkSteer(budget=3, after_grammar="G")
    assert steer.on_text("a") is None and steer.on_text("b") is None
    action = steer.on_text("c")
    assert action.inject.strip() == "</think>" and action.grammar == "G"
    assert steer.on_text("d") is None and steer.on_end() is None
    early = ThinkSteer(budget=10)
    assert early.on_text("</think>") is None and early.on_end() is None
    unfinished = ThinkSteer(budget=10)
    assert unfinished.on_end().inject.strip() == "</think>"


def test_tool_call_schema_names_each_tool():
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("a", "b")
    ]
    schema = tool_call_schema(tools)
    assert [o["properties"]["name"]["const"] for o in schema["anyOf"]] == ["a", "b"]
    assert tool_call_schema(tools[:1])["properties"]["name"] == {"const": "a"}
