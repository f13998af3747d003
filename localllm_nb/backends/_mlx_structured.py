"""`with_structured_output` for ChatMLX: a schema becomes a forced tool call or a `format`
grammar, and LangChain's own output parsers turn the answer into the object.

The methods and their spelling follow ChatOllama's, so that code written against one
backend runs on the other: "json_schema" binds `format=<schema>`, "json_mode" binds
`format="json"`, "function_calling" binds the schema as the one tool the model must call.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import BaseModel

METHODS = ("function_calling", "json_schema", "json_mode")


def _is_pydantic(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def answer_schema(schema: dict | type) -> dict:
    """The JSON schema an answer must match: a Pydantic class's own schema, a TypedDict's
    with every key required (as ChatOllama does), a plain JSON schema unchanged, and the
    parameters of an OpenAI-style function schema.

    >>> answer_schema({"type": "object", "properties": {"a": {"type": "string"}}})["properties"]
    {'a': {'type': 'string'}}
    """
    if _is_pydantic(schema):
        return schema.model_json_schema()
    if isinstance(schema, dict) and not ({"function", "parameters"} & schema.keys()):
        return schema
    converted = convert_to_json_schema(schema)
    if isinstance(schema, type) and "required" not in converted:  # a TypedDict
        converted["required"] = list(converted.get("properties", {}))
    return converted


def structured_output(
    model: Any,
    schema: dict | type | None,
    method: str = "json_schema",
    include_raw: bool = False,
    **kwargs: Any,
) -> Runnable:
    """ChatMLX.with_structured_output (see its docstring)."""
    kwargs.pop("strict", None)  # the grammar is always strict
    if kwargs:
        raise ValueError(f"Received unsupported arguments {kwargs}")
    if method not in METHODS:
        raise ValueError(f"Unrecognized method {method!r}; expected one of {METHODS}")
    if schema is None and method != "json_mode":
        raise ValueError(f"schema must be given when method is {method!r}")
    traced = {"kwargs": {"method": method}, "schema": schema}
    pydantic = _is_pydantic(schema)
    if method == "function_calling":
        tool = convert_to_openai_tool(schema)
        name = tool["function"]["name"]
        llm = model.bind_tools(
            [schema], tool_choice=name, ls_structured_output_format={**traced, "schema": tool}
        )
        parser: Runnable = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)
            if pydantic
            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        )
    else:
        fmt = answer_schema(schema) if method == "json_schema" else "json"
        llm = model.bind(format=fmt, ls_structured_output_format=traced)
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
    if not include_raw:
        return llm | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parsed.with_fallbacks([failed], exception_key="parsing_error")
