"""The budget guard without a model: every prefix of a valid answer completes to a valid
answer, and a guarded answer ends valid within its budget (one token a character)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from localllm_nb._grammar import ANY_JSON_OBJECT, bounded, tool_call_schema
from localllm_nb._json_budget import BudgetGuard, JsonTarget, SchemaBudgetError
from localllm_nb._json_cursor import JsonCursor

JOKE = {
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}
NESTED = {
    "type": "object",
    "$defs": {
        "City": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 2},
                "size": {"enum": ["small", "big"]},
                "pop": {"type": "integer", "minimum": 5},
            },
            "required": ["name", "size", "pop"],
        }
    },
    "properties": {
        "cities": {"type": "array", "items": {"$ref": "#/$defs/City"}, "minItems": 1},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "ok": {"type": "boolean"},
        "ratio": {"type": "number"},
    },
    "required": ["cities", "ok"],
}
TOOLS = [
    {"type": "function", "function": {"name": "add", "parameters": JOKE}},
    {
        "type": "function",
        "function": {
            "name": "mul",
            "parameters": {
                "type": "object",
                "properties": {"x": {"type": "integer"}},
                "required": ["x"],
            },
        },
    },
]
CASES = [
    (JOKE, {"setup": 'A "cat" \\ walks \u00e9\n', "punchline": "it sat"}),
    (
        NESTED,
        {
            "cities": [
                {"name": "Oslo", "size": "big", "pop": 700000},
                {"name": "Bo", "size": "small", "pop": 12},
            ],
            "note": "two",
            "ok": False,
            "ratio": -1.25e3,
        },
    ),
    (NESTED, {"cities": [{"name": "Rome", "size": "big", "pop": 5}], "note": None, "ok": True}),
    (tool_call_schema(TOOLS), {"name": "mul", "arguments": {"x": -42}}),
    (tool_call_schema(TOOLS), {"name": "add", "arguments": {"setup": "a", "punchline": "b"}}),
    (ANY_JSON_OBJECT, {"city": "Paris", "tags": ["a", 1, None, {"k": True}], "n": 2.5}),
]


def _text(value) -> str:
    # The grammar's compact separators; non-ASCII kept, as a model writes it.
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@pytest.mark.parametrize(("schema", "value"), CASES)
def test_every_prefix_completes_to_a_valid_answer(schema, value):
    schema = bounded(schema)
    text = _text(value)
    for cut in range(len(text) + 1):
        cursor = JsonCursor(schema)
        cursor.feed(text[:cut])
        completed = text[:cut] + cursor.completion()
        jsonschema.validate(json.loads(completed), schema)
    assert JsonCursor(schema).completion() and cursor.completion() == ""


@pytest.mark.parametrize(("schema", "value"), CASES)
def test_a_guarded_answer_validates_within_every_budget(schema, value):
    """A 'model' that would write a long answer (its strings repeated 30 times) is cut by
    the guard at budgets from the smallest valid one up: the answer always validates and
    never takes more tokens than the budget."""
    schema = bounded(schema)
    text = _text(_longer(value, value, schema))
    needed = BudgetGuard(JsonTarget(schema), 10**6, len).needed
    for budget in range(needed, needed + len(text) + 5, 3):
        guard = BudgetGuard(JsonTarget(schema), budget, len)
        answer = ""
        for ch in text:
            forced = guard.closing()
            if forced is not None:
                answer += forced
                break
            answer += ch
            guard.feed(ch)
        assert len(answer) <= budget, (budget, answer)
        jsonschema.validate(json.loads(answer), schema)


def _longer(value, whole, schema):
    """`value` with each string the schema lets grow written eight times."""
    if isinstance(value, dict):
        for k in value:
            value = {**value, k: _longer(value[k], whole, schema)}
    if isinstance(value, list):
        value = [_longer(v, whole, schema) for v in value]
    if isinstance(value, str) and value:
        return value * 8 if _valid(_swap(whole, value, value * 8), schema) else value
    return value


def _swap(tree, old, new):
    if isinstance(tree, dict):
        return {k: _swap(v, old, new) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_swap(v, old, new) for v in tree]
    return new if tree == old else tree


def _valid(value, schema: dict) -> bool:
    try:
        jsonschema.validate(value, schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def test_a_budget_below_the_smallest_answer_says_how_many_tokens_it_needs():
    schema = bounded(JOKE)
    smallest = '{"setup": "", "punchline": ""}'
    with pytest.raises(SchemaBudgetError, match=f"needs at least {len(smallest)} tokens"):
        BudgetGuard(JsonTarget(schema), len(smallest) - 1, len, option="max_tokens")
    assert BudgetGuard(JsonTarget(schema), len(smallest), len).closing() == smallest


def test_a_tool_call_target_counts_its_markers():
    schema = bounded(tool_call_schema(TOOLS[1:]))
    target = JsonTarget(schema, head="<tool_call>\n", tail="\n</tool_call>")
    guard = BudgetGuard(target, 100, len)
    assert guard.needed == len('<tool_call>\n{"name": "mul", "arguments": {"x": 0}}\n</tool_call>')
    guard.feed('<tool_call>\n{"name": "mul", "arguments": {"x": 12')
    assert guard.completion() == "}}\n</tool_call>"


def test_a_pattern_string_is_left_to_the_grammar():
    """The guard cannot write the smallest string matching a regex: such a schema is
    decoded as before (unguarded) rather than failing."""
    from localllm_nb.embedded.engine.budget import budget_steer

    pattern = {"type": "object", "properties": {"p": {"type": "string", "pattern": "^x+$"}}}
    assert budget_steer(pattern, 50, len) is None
    assert budget_steer(bounded(JOKE), 50, len) is not None
