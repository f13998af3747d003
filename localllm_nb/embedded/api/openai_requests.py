"""OpenAI request bodies -> the native request bodies of `/api/chat`, `/api/generate`
and `/api/embed`, as Ollama's `openai` middleware translates them. Pure functions: the
routes hand the result to the native handlers, which do every other check."""

from __future__ import annotations

import json

from .errors import ApiError

REASONING_EFFORTS = ("high", "medium", "low", "none")
# Ollama's /v1 defaults are OpenAI's, not its own native ones (0.8 and 0.9).
OPENAI_DEFAULTS = {"temperature": 1.0, "top_p": 1.0}
_KINDS = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def invalid(message: str, param: str | None = None) -> ApiError:
    """A 400 that names the offending parameter (OpenAI's `param`)."""
    error = ApiError(400, message)
    error.param = param
    return error


def _kind_of(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "number" if isinstance(value, float) else "object"
    )


def typed(body: dict, name: str, *kinds: str, default=None):
    """Read an optional field of one of OpenAI's JSON `kinds`, rejecting another type
    in OpenAI's words.

    >>> typed({"n": 2}, "n", "integer"), typed({}, "n", "integer", default=1)
    (2, 1)
    >>> typed({"n": "2"}, "n", "integer")
    Traceback (most recent call last):
    ...
    localllm_nb.embedded.api.errors.ApiError: Invalid type for 'n': expected integer, but got string.
    """
    value = body.get(name)
    if value is None:
        return default
    allowed = tuple(t for k in kinds for t in _KINDS[k])
    ok = isinstance(value, allowed) and (not isinstance(value, bool) or "boolean" in kinds)
    if isinstance(value, float) and "integer" in kinds and value.is_integer():
        ok, value = True, int(value)  # 8.0 is an integer to OpenAI's validator
    if not ok:
        expected = " or ".join(kinds)
        raise invalid(
            f"Invalid type for '{name}': expected {expected}, but got {_kind_of(value)}.", name
        )
    return value


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise invalid(f"Invalid request body: expected an object, but got {_kind_of(body)}.")
    return body


def sampling_options(body: dict) -> dict:
    """The native `options` for OpenAI's sampling parameters.

    >>> sampling_options({"max_tokens": 8, "stop": "\\n", "seed": 1})
    {'temperature': 1.0, 'top_p': 1.0, 'stop': ['\\n'], 'num_predict': 8, 'seed': 1}
    >>> sampling_options({"max_tokens": 8, "max_completion_tokens": 4})["num_predict"]
    4
    """
    options = dict(OPENAI_DEFAULTS)
    stop = typed(body, "stop", "string", "array")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not all(isinstance(s, str) for s in stops):
            raise invalid("Invalid type for 'stop': expected string or array of strings.", "stop")
        options["stop"] = stops
    limit = typed(body, "max_completion_tokens", "integer")
    if limit is None:
        limit = typed(body, "max_tokens", "integer")
    if limit is not None:
        options["num_predict"] = limit
    for name, native in (
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ):
        value = typed(body, name, "number")
        if value is not None:
            options[native] = float(value)
    seed = typed(body, "seed", "integer")
    if seed is not None:
        options["seed"] = seed
    if typed(body, "n", "integer", default=1) != 1:
        raise invalid("Only n=1 is supported.", "n")
    return options


def _stream(body: dict) -> tuple[bool, bool]:
    """(stream, include_usage) of a request."""
    stream = typed(body, "stream", "boolean", default=False)
    stream_options = typed(body, "stream_options", "object", default={})
    include_usage = typed(stream_options, "include_usage", "boolean", default=False)
    return stream, bool(stream and include_usage)


def _arguments(call: dict) -> dict:
    raw = (call.get("function") or {}).get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise invalid("invalid tool call arguments", "messages") from None
    if not isinstance(args, dict):
        raise invalid("invalid tool call arguments", "messages")
    return args


def _tool_calls(calls) -> list[dict]:
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise invalid("Invalid type for 'tool_calls': expected an array of objects.", "messages")
    return [
        {
            **({"id": c["id"]} if isinstance(c.get("id"), str) else {}),
            "function": {
                "name": (c.get("function") or {}).get("name", ""),
                "arguments": _arguments(c),
            },
        }
        for c in calls
    ]


def _image(part: dict) -> str:
    """The base64 data of an `image_url` part (data URLs only, as Ollama)."""
    url = part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if not isinstance(url, str):
        raise invalid("invalid message format", "messages")
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise invalid("invalid image input", "messages")
    return data


def _tool_name(messages: list, call_id: str) -> str:
    """The function name of the latest assistant tool call with this id."""
    for message in reversed(messages):
        for call in (message or {}).get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") == call_id:
                return (call.get("function") or {}).get("name", "")
    return ""


def native_message(message, history: list) -> dict:
    """One OpenAI message as a native one: text parts joined, images decoded from data
    URLs, tool-call arguments parsed, a tool result named after its call.

    >>> native_message({"role": "user", "content": [{"type": "text", "text": "hi"}]}, [])
    {'role': 'user', 'content': 'hi'}
    """
    if not isinstance(message, dict):
        raise invalid("Invalid type for 'messages': expected an array of objects.", "messages")
    role = typed(message, "role", "string", default="")
    out: dict = {"role": role}
    content = message.get("content")
    if isinstance(content, str):
        out["content"] = content
    elif isinstance(content, list):
        texts, images = [], []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url":
                images.append(_image(part))
            else:
                raise invalid("invalid message format", "messages")
        out["content"] = "".join(texts)
        if images:
            out["images"] = images
    elif content is None and (message.get("tool_calls") is not None or role == "assistant"):
        out["content"] = ""
    else:
        raise invalid(f"invalid message content type: {_kind_of(content)}", "messages")
    reasoning = message.get("reasoning") or message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        out["thinking"] = reasoning
    if message.get("tool_calls") is not None:
        out["tool_calls"] = _tool_calls(message["tool_calls"])
    if role.lower() == "tool":
        name = message.get("name") or _tool_name(history, message.get("tool_call_id") or "")
        if isinstance(name, str) and name:
            out["tool_name"] = name
    return out


def native_format(response_format):
    """OpenAI's `response_format` as the native `format`.

    >>> native_format({"type": "json_object"}), native_format({"type": "text"})
    ('json', None)
    >>> native_format({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}})
    {'type': 'object'}
    """
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise invalid("Invalid type for 'response_format': expected object.", "response_format")
    kind = str(response_format.get("type", "")).strip().lower()
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise invalid(
                "'response_format.json_schema.schema' must be an object.", "response_format"
            )
        return schema
    if kind == "text":
        return None
    raise invalid(f"Invalid value for 'response_format.type': {kind!r}.", "response_format.type")


def native_think(body: dict):
    """`reasoning_effort` (or `reasoning.effort`) as the native `think`: a level, or
    false for "none"; None when absent (the model's default).

    >>> native_think({"reasoning_effort": "low"}), native_think({"reasoning": {"effort": "none"}})
    ('low', False)
    """
    reasoning = typed(body, "reasoning", "object")
    effort = (
        (reasoning or {}).get("effort") if reasoning else typed(body, "reasoning_effort", "string")
    )
    if not effort:
        return None
    if effort not in REASONING_EFFORTS:
        raise invalid(
            f'invalid reasoning value: \'{effort}\' (must be "high", "medium", "low", or "none")',
            "reasoning_effort",
        )
    return False if effort == "none" else effort


def apply_tool_choice(tools: list, choice, options: dict) -> list:
    """Narrow `tools` by OpenAI's `tool_choice`: "none" offers none, "auto" lets the
    model answer in text, "required" (and absent, the server's default for a small
    model) forces a call, a named function forces that one.

    >>> tools = [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]
    >>> [t["function"]["name"] for t in apply_tool_choice(tools, {"type": "function", "function": {"name": "b"}}, {})]
    ['b']
    >>> apply_tool_choice(tools, "none", {})
    []
    """
    if choice is None:
        return tools
    if choice == "none":
        return []
    if choice in ("auto", "required"):
        options["tool_choice"] = choice
        return tools
    name = ((choice or {}).get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str):
        raise invalid(
            'Invalid value for \'tool_choice\': expected "none", "auto", "required" or a '
            "named function.",
            "tool_choice",
        )
    chosen = [t for t in tools if ((t or {}).get("function") or {}).get("name") == name]
    if not chosen:
        raise invalid(f"Invalid value for 'tool_choice': no tool named {name!r}.", "tool_choice")
    options["tool_choice"] = "required"
    return chosen


def chat_body(body) -> tuple[dict, bool]:
    """A chat completion request as a native `/api/chat` body, and whether the stream
    ends with a usage chunk (`stream_options.include_usage`)."""
    body = _object(body)
    model = typed(body, "model", "string", default="")
    messages = typed(body, "messages", "array")
    if not messages:
        raise invalid("[] is too short - 'messages'", "messages")
    stream, include_usage = _stream(body)
    options = sampling_options(body)
    tools = typed(body, "tools", "array", default=[])
    if not all(isinstance(t, dict) for t in tools):
        raise invalid("Invalid type for 'tools': expected an array of objects.", "tools")
    tools = apply_tool_choice(tools, body.get("tool_choice"), options)
    native = {
        "model": model,
        "messages": [native_message(m, messages) for m in messages],
        "stream": stream,
        "options": options,
        "tools": tools,
    }
    fmt = native_format(body.get("response_format"))
    if fmt is not None:
        native["format"] = fmt
    think = native_think(body)
    if think is not None:
        native["think"] = think
    return native, include_usage


def completion_body(body) -> tuple[dict, bool]:
    """A (legacy) completion request as a native `/api/generate` body. One prompt per
    request, as Ollama: a string, or a list holding one string (langchain's `OpenAI`
    sends a list)."""
    body = _object(body)
    prompt = typed(body, "prompt", "string", "array", default="")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise invalid("Only one prompt (a string) per request is supported.", "prompt")
        prompt = prompt[0]
    stream, include_usage = _stream(body)
    native = {
        "model": typed(body, "model", "string", default=""),
        "prompt": prompt,
        "stream": stream,
        "options": sampling_options(body),
    }
    suffix = typed(body, "suffix", "string", default="")
    if suffix:
        native["suffix"] = suffix
    return native, include_usage


def embed_body(body) -> tuple[dict, str]:
    """An embeddings request as a native `/api/embed` body, and its encoding format.

    >>> embed_body({"model": "m", "input": ["a", "b"], "dimensions": 8})
    ({'model': 'm', 'input': ['a', 'b'], 'dimensions': 8}, 'float')
    """
    body = _object(body)
    texts = body.get("input")
    if texts is None or texts == "" or texts == []:
        raise invalid("invalid input", "input")
    if not (
        isinstance(texts, str)
        or (isinstance(texts, list) and all(isinstance(t, str) for t in texts))
    ):
        raise invalid("invalid input type: expected a string or an array of strings", "input")
    encoding = typed(body, "encoding_format", "string", default="float")
    if encoding not in ("float", "base64"):
        raise invalid(
            f"Invalid value for 'encoding_format': {encoding!r} (expected 'float' or 'base64').",
            "encoding_format",
        )
    native = {"model": typed(body, "model", "string", default=""), "input": texts}
    dimensions = typed(body, "dimensions", "integer")
    if dimensions is not None:
        if dimensions < 1:
            raise invalid("Invalid value for 'dimensions': must be at least 1.", "dimensions")
        native["dimensions"] = dimensions
    return native, encoding
