"""Grammar-constrained tool calls and structured output on ChatMLX, with the bundled model.

Without constraints the 135M model answers "What is 3 times 4?" in prose even with a
tool bound, and `with_structured_output` returns None. Prompts with tools are ~200
tokens, which costs ~15 s on CPU, so each case makes one short generation.
"""

from __future__ import annotations

import json
from typing import TypedDict

import pytest

pytest.importorskip("mlx_lm")

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

from localllm_nb._grammar import json_lark, tool_call_lark
from localllm_nb.backends._mlx_grammar import ChatConstraint, ll_tokenizer, plan_chat
from localllm_nb.backends._mlx_structured import answer_schema
from localllm_nb.backends.mlx import ChatMLX

MATH = "What is 3 times 4?"
ALICE = "Alice is 30 years old."


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Person(BaseModel):
    """A person."""

    name: str
    age: int


class PersonDict(TypedDict):
    """A person."""

    name: str
    age: int


PERSON_SCHEMA = {
    "title": "Person",
    "description": "A person.",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.fixture(scope="module")
def chat(mlx_llm):
    """The bundled model, greedy; 48 tokens hold one short call (~35 tokens)."""
    return ChatMLX(
        llm=mlx_llm.model_copy(update={"pipeline_kwargs": {"max_tokens": 48, "temp": 0}})
    )


@pytest.fixture(scope="module")
def streamed_call(chat):
    """One forced call to `multiply`, streamed: (chunks, merged message)."""
    chunks = list(chat.bind_tools([multiply]).stream(MATH))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    return chunks, merged


# --- Grammars, checked by llguidance against the real tokenizer (no generation) ---


def _accepts(chat, grammar: str, text: str) -> bool:
    from llguidance import LLMatcher

    tok = ll_tokenizer(chat.tokenizer)
    matcher = LLMatcher(tok, grammar)
    tokens = tok.tokenize_str(text)
    return matcher.validate_tokens(tokens) == len(tokens) and (
        matcher.consume_tokens(tokens) and matcher.is_accepting()
    )


def test_tool_grammar_accepts_only_valid_calls(chat):
    tools = [convert_to_openai_tool(multiply)]
    forced, auto = tool_call_lark(tools), tool_call_lark(tools, or_text=True)
    call = '<tool_call>\n{"name": "multiply", "arguments": {"a": 3, "b": 4}}\n</tool_call>'
    assert _accepts(chat, forced, call) and _accepts(chat, auto, call)
    assert not _accepts(chat, forced, call.replace('"b": 4', '"b": "4"'))  # not an integer
    assert not _accepts(chat, forced, call.replace('"b": 4', '"b": 4, "c": 5'))  # extra key
    assert not _accepts(chat, forced, call.replace("multiply", "divide"))
    assert not _accepts(chat, forced, "It is 12.")
    assert _accepts(chat, auto, "It is 12.")
    assert not _accepts(chat, auto, "It is <tool_call>\n{}")  # no half-made calls in text
    assert _accepts(chat, json_lark(PERSON_SCHEMA), '{"name": "Al", "age": 3}')
    assert not _accepts(chat, json_lark(PERSON_SCHEMA), '{"name": "Al"}')


def test_plan_follows_the_embedded_servers_rules():
    tools = [convert_to_openai_tool(multiply), convert_to_openai_tool(add)]
    assert "start: tool_call" in plan_chat(tools).grammar
    assert plan_chat(tools, after_tool_result=True) == ChatConstraint(grammar=None, tools=tools)
    assert "TEXT | tool_call" in plan_chat(tools, "auto").grammar
    named = plan_chat(tools, {"type": "function", "function": {"name": "add"}}).grammar
    assert '"const": "add"' in named and '"const": "multiply"' not in named
    assert plan_chat(tools, "none").grammar is None and plan_chat(tools, "none").tools is None
    with pytest.raises(ValueError, match="names no bound tool"):
        plan_chat(tools, "divide")
    assert plan_chat(None, fmt="json").json_answer
    # A model whose calls mlx-lm parses in another syntax: tools shown, calls free.
    assert plan_chat(tools, markers=None) == ChatConstraint(grammar=None, tools=tools)
    assert answer_schema(PersonDict)["required"] == ["name", "age"]
    assert answer_schema(PERSON_SCHEMA) is PERSON_SCHEMA


# --- Tool calls, generated ---


def test_bound_tool_is_called_with_valid_arguments(streamed_call):
    _, message = streamed_call
    assert message.content == ""
    assert len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call["name"] == "multiply" and set(call["args"]) == {"a", "b"}
    assert all(isinstance(v, int) for v in call["args"].values())
    assert call["id"].startswith("call_")


def test_streamed_call_arrives_whole_in_one_chunk(streamed_call):
    chunks, message = streamed_call
    with_calls = [c for c in chunks if c.tool_call_chunks]
    assert len(with_calls) == 1
    (piece,) = with_calls[0].tool_call_chunks
    assert piece["id"] == message.tool_calls[0]["id"] and piece["name"] == "multiply"
    assert chunks[-1].response_metadata["finish_reason"] == "stop"


def test_after_a_tool_result_the_answer_is_text(chat, streamed_call):
    _, call_message = streamed_call
    call = call_message.tool_calls[0]
    messages = [
        HumanMessage(MATH),
        AIMessage(content="", tool_calls=[call]),
        ToolMessage("12", tool_call_id=call["id"], name="multiply"),
    ]
    reply = chat.bind_tools([multiply]).invoke(messages, max_tokens=8)
    assert reply.content and not reply.tool_calls


def test_named_tool_choice_forces_that_tool(chat):
    reply = chat.bind_tools([multiply, add], tool_choice="add").invoke(MATH)
    assert [c["name"] for c in reply.tool_calls] == ["add"]


def test_tool_choice_none_answers_in_text(chat):
    reply = chat.bind_tools([multiply], tool_choice="none").invoke(MATH, max_tokens=6)
    assert reply.content and not reply.tool_calls
    # "none" takes the tools out of the prompt too.
    assert reply.usage_metadata["input_tokens"] < 60


def test_tool_choice_auto_lets_the_model_answer_in_text(chat):
    reply = chat.bind_tools([multiply], tool_choice="auto").invoke("Hello!", max_tokens=8)
    assert reply.content and "<tool_call>" not in reply.content and not reply.tool_calls


# --- Structured output ---


def test_format_answer_within_a_small_budget_parses(chat):
    reply = chat.invoke("Write a story.", format="json", max_tokens=8)
    assert reply.usage_metadata["output_tokens"] <= 8
    assert isinstance(json.loads(reply.content), dict)


def test_pipeline_format_schema(chat):
    text = chat.llm.invoke("Alice is 30 years old. As JSON:", format=PERSON_SCHEMA, max_tokens=16)
    assert set(json.loads(text)) == {"name", "age"}


@pytest.mark.parametrize(
    ("schema", "method"),
    [
        (Person, "json_schema"),
        (PersonDict, "json_schema"),
        (PERSON_SCHEMA, "json_schema"),
        (Person, "function_calling"),
        (PERSON_SCHEMA, "function_calling"),
        (PersonDict, "json_mode"),
    ],
    ids=[
        "pydantic-json_schema",
        "typeddict-json_schema",
        "dict-json_schema",
        "pydantic-function_calling",
        "dict-function_calling",
        "typeddict-json_mode",
    ],
)
def test_structured_output(chat, schema, method):
    prompt = ALICE + (" Answer in JSON with keys name and age." if method == "json_mode" else "")
    parsed = chat.with_structured_output(schema, method=method).invoke(prompt)
    as_dict = parsed.model_dump() if isinstance(parsed, Person) else parsed
    assert isinstance(parsed, Person) == (schema is Person)
    assert as_dict["name"] == "Alice" and isinstance(as_dict["age"], int)


def test_structured_output_include_raw(chat):
    result = chat.with_structured_output(Person, method="json_mode", include_raw=True).invoke(
        ALICE + " Answer in JSON with keys name and age."
    )
    assert set(result) == {"raw", "parsed", "parsing_error"}
    assert isinstance(result["raw"], AIMessage) and result["raw"].content.startswith("{")
    assert isinstance(result["parsed"], Person) and result["parsing_error"] is None


def test_include_raw_reports_a_parsing_error(chat):
    # json_mode allows any object; one without the keys fails Person's validation.
    result = chat.with_structured_output(Person, method="json_mode", include_raw=True).invoke(
        "Describe a cat in JSON.", max_tokens=12
    )
    assert result["parsed"] is None and result["parsing_error"] is not None
    assert isinstance(result["raw"], AIMessageChunk | AIMessage)


# --- Within the token budget: a schema answer validates whenever the budget holds the
# smallest valid one (the 135M model would repeat "A cat is a cat" in `setup` until the
# budget ran out); a smaller budget is refused with the number of tokens it needs ---


class Joke(BaseModel):
    """A joke."""

    setup: str
    punchline: str


JOKE_PROMPT = "Tell me a joke about cats."


@pytest.fixture(scope="module")
def joke_needs(chat):
    """Tokens of the smallest Joke answer, by the model's tokenizer."""
    from localllm_nb._json_cursor import JsonCursor

    smallest = JsonCursor(Joke.model_json_schema()).completion()
    return len(ll_tokenizer(chat.tokenizer).tokenize_str(smallest))


@pytest.mark.parametrize("extra", [0, 8], ids=["smallest", "a-bit-more"])
def test_json_schema_answer_validates_within_the_budget(chat, joke_needs, extra):
    budget = joke_needs + extra
    bounded = ChatMLX(llm=chat.llm, max_tokens=budget)
    result = bounded.with_structured_output(Joke, include_raw=True).invoke(JOKE_PROMPT)
    assert result["parsing_error"] is None, result["raw"].content
    assert isinstance(result["parsed"], Joke)
    assert result["raw"].usage_metadata["output_tokens"] <= budget
    if extra >= 8:  # room beyond the smallest answer is the model's own text
        assert result["parsed"].setup


def test_function_calling_answer_validates_within_the_budget(chat):
    # 40 tokens: the call's markers and keys take 33, the model writes the rest.
    bounded = ChatMLX(llm=chat.llm, max_tokens=40)
    joke = bounded.with_structured_output(Joke, method="function_calling").invoke(JOKE_PROMPT)
    assert isinstance(joke, Joke)


def test_a_budget_below_the_smallest_answer_says_what_it_needs(chat, joke_needs):
    from localllm_nb._json_budget import SchemaBudgetError

    bounded = ChatMLX(llm=chat.llm, max_tokens=joke_needs - 1)
    with pytest.raises(SchemaBudgetError, match=f"needs at least {joke_needs} tokens"):
        bounded.with_structured_output(Joke).invoke(JOKE_PROMPT)
