"""The MLX backend's pure helpers: settings, stop strings over streams, tool-call blocks."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import localllm_nb.backends._mlx_text as mlx_text
from localllm_nb.backends._mlx_text import (
    GenerationSettings,
    ParsedToolCall,
    StopStrings,
    ToolCallSplitter,
)


def test_doctests():
    assert doctest.testmod(mlx_text).failed == 0


def test_settings_defaults_are_the_references():
    s = GenerationSettings.from_kwargs(None)
    assert (s.temp, s.max_tokens, s.top_p, s.min_p, s.min_tokens_to_keep) == (0.0, 100, 1.0, 0.0, 1)
    assert s.repetition_penalty is None and s.repetition_context_size is None
    assert s.formatter is None and s.verbose is False


def test_settings_layers_merge_and_none_means_unset():
    s = GenerationSettings.from_kwargs(
        {"temp": 0.7, "max_tokens": 5}, {"max_tokens": None}, {"temp": 0.1}
    )
    assert (s.temp, s.max_tokens) == (0.1, 5)


def test_settings_reject_unknown_keys_and_bad_limits():
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationSettings.from_kwargs({"max_new_tokens": 5})
    with pytest.raises(ValueError, match="max_tokens"):
        GenerationSettings.from_kwargs({"max_tokens": 0})
    assert GenerationSettings.from_kwargs({"max_tokens": -1}).max_tokens == -1


def test_repetition_penalty_without_context_size_gets_mlx_lm_default():
    s = GenerationSettings.from_kwargs({"repetition_penalty": 1.3})
    assert s.repetition_context_size == 20
    s = GenerationSettings.from_kwargs({"repetition_penalty": 1.3, "repetition_context_size": 4})
    assert s.repetition_context_size == 4


def _run(stops, pieces):
    s = StopStrings(stops)
    out = [s.feed(p) for p in pieces]
    return "".join(out) + s.flush(), s.stopped


def test_stop_string_spanning_pieces():
    assert _run(["User:"], ["Hello", " Us", "er", ": again"]) == ("Hello ", True)


def test_stop_prefix_that_does_not_complete_is_released():
    assert _run(["User:"], ["Hello Us", "ually fine"]) == ("Hello Usually fine", False)
    assert _run(["User:"], ["Hello Use"]) == ("Hello Use", False)


def test_earliest_of_several_stops_wins():
    assert _run(["b c", "a b"], ["x a", " b c"]) == ("x ", True)


def test_held_back_text_is_only_a_possible_stop_prefix():
    s = StopStrings(["\n\n"])
    assert s.feed("one\n") == "one"
    assert s.feed("two") == "\ntwo"
    assert not s.stopped


def test_no_stops_passes_everything():
    assert _run(None, ["a", "b"]) == ("ab", False)


def test_tool_call_split_across_pieces():
    t = ToolCallSplitter()
    text = 'Sure. <tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call> done'
    content, calls = [], []
    for i in range(0, len(text), 3):
        c, k = t.feed(text[i : i + 3])
        content.append(c)
        calls += k
    content.append(t.flush())
    assert "".join(content) == "Sure.  done"
    assert calls == [ParsedToolCall("add", {"a": 1, "b": 2})]


def test_malformed_or_unclosed_tool_call_stays_content():
    t = ToolCallSplitter()
    assert t.feed("<tool_call>not json</tool_call>") == ("<tool_call>not json</tool_call>", [])
    t = ToolCallSplitter()
    assert t.feed('a <tool_call>{"name": "f"') == ("a ", [])
    assert t.flush() == '<tool_call>{"name": "f"'


def test_tool_call_string_arguments_are_decoded():
    t = ToolCallSplitter()
    _, calls = t.feed('<tool_call>{"name": "f", "arguments": "{\\"x\\": 2}"}</tool_call>')
    assert calls == [ParsedToolCall("f", {"x": 2})]


@pytest.mark.parametrize(
    "call",
    [
        '{"name": "f", "arguments": "x=1"}',  # arguments that are not JSON
        '{"name": "f", "arguments": [1, 2]}',  # nor an object
        '{"name": 3, "arguments": {}}',  # a name that is not a string
        '{"arguments": {}}',
    ],
)
def test_both_backends_keep_a_malformed_tool_call_as_text(call):
    # The embedded server's parser and the MLX backend's read arguments by one rule.
    from localllm_nb.embedded.engine.streams import parse_tool_calls

    assert parse_tool_calls(call) is None
    block = f"<tool_call>{call}</tool_call>"
    assert ToolCallSplitter().feed(block) == (block, [])


def test_mlx_extra_picks_the_right_package_per_platform():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["mlx"]

    def wanted(platform: str) -> set[str]:
        env = {"sys_platform": platform, "platform_system": platform.capitalize()}
        reqs = [Requirement(r) for r in extra]
        return {
            r.name + "".join(f"[{e}]" for e in sorted(r.extras))
            for r in reqs
            if r.marker is None or r.marker.evaluate(env)
        }

    assert wanted("linux") == {"mlx-lm", "mlx[cpu]"}
    assert wanted("darwin") == {"mlx-lm", "mlx"}


def test_importing_the_package_does_not_import_mlx():
    code = "import sys, localllm_nb, localllm_nb.backends; print('mlx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
