"""Prompt templates: the model's chat template (Jinja, as in GGUF files) and the small
subset of Ollama's Go templates that `/api/generate` accepts in its `template` field."""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2
import jinja2.sandbox

_SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

# SmolLM2-Instruct's ChatML (with its default system prompt) plus tool support in the
# Hermes style Ollama's smollm2 uses: the tools' JSON in the system turn, calls as
# <tool_call>{json}</tool_call>, results as <tool_response> in a user turn. The pieces are
# shared by the plain and the thinking template.
_SYSTEM_TURN = (
    """\
{%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else '"""
    + _SMOL_SYSTEM
    + """' -%}
<|im_start|>system
{{ system }}"""
)

_TOOLS_LIST = """
{%- if tools %}

You are a function calling AI model. You may call one or more functions to assist with the user query. Here are the available tools:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>
For each function call, return a JSON object with the function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{%- endif %}<|im_end|>
"""

_TURNS = """\
{% for message in messages %}
{%- if message['role'] == 'system' and loop.first %}
{%- elif message['role'] == 'tool' %}
<|im_start|>user
<tool_response>
{{ message['content'] }}
</tool_response><|im_end|>
{% elif message['role'] == 'assistant' and message.get('tool_calls') %}
<|im_start|>assistant
{% for call in message['tool_calls'] %}<tool_call>
{{ {'name': call['function']['name'], 'arguments': call['function']['arguments']} | tojson }}
</tool_call>
{% endfor %}<|im_end|>
{% else %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endif %}
{%- endfor %}
<|im_start|>assistant
"""

TOOLS_TEMPLATE = _SYSTEM_TURN + _TOOLS_LIST + _TURNS

# A thinking variant with the same tools, as qwen3's template has both: it opens a <think>
# block unless `thinking` is false, in which case it closes the block empty, as thinking
# models' templates do; a continued assistant turn (`continued`) opens none. Earlier
# turns' thinking is not replayed.
THINK_TEMPLATE = (
    _SYSTEM_TURN
    + """
Before answering, think step by step inside <think> </think> tags, then give a short answer."""
    + _TOOLS_LIST
    + _TURNS
    + """\
{% if continued %}{% elif thinking is false %}<think>

</think>

{% else %}<think>
{% endif %}"""
)


# A rendered prompt longer than this is refused: a Go template repeating {{ .Prompt }}
# could otherwise turn a small body into gigabytes.
MAX_PROMPT_CHARS = 2 * 1024 * 1024


class TemplateError(ValueError):
    """A template could not be parsed or rendered."""


class PromptTooLong(TemplateError):
    """The rendered prompt exceeds MAX_PROMPT_CHARS (a client error, unlike a bad template)."""

    def __init__(self) -> None:
        super().__init__(
            f"prompt too long: the rendered prompt exceeds {MAX_PROMPT_CHARS:,} characters"
        )


def _check_prompt(text: str) -> str:
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptTooLong()
    return text


@lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined
    )
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(source)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"invalid template: {exc}") from exc


def _tojson(value, indent=None):
    import json

    return json.dumps(value, indent=indent, ensure_ascii=False)


def continued_turn(messages: list[dict]) -> str | None:
    """The text of a final assistant message the model continues (prefill), or None.

    Ollama continues a chat whose last message is the assistant's (its templates leave
    that turn open) instead of starting a new turn; a turn with tool calls is closed.

    >>> continued_turn([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel"}])
    'Hel'
    >>> continued_turn([{"role": "user", "content": "Hi"}]) is None
    True
    """
    last = messages[-1] if messages else {}
    if last.get("role") != "assistant" or last.get("tool_calls"):
        return None
    return last.get("content") or ""


def render_chat(template: str, messages: list[dict], **context) -> str:
    """Render a Jinja chat template over Ollama-style messages, ending with the
    assistant's turn opened. When the last message is the assistant's
    (`continued_turn`), its text follows the opened turn, exactly where the model's own
    output would be (templates see `continued` and open no think block)."""
    norm = [{**m, "content": m.get("content") or ""} for m in messages]
    prefill = continued_turn(norm)
    if prefill is not None:
        norm, context = norm[:-1], {**context, "continued": True}
    try:
        text = _compile(template).render(messages=norm, add_generation_prompt=True, **context)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template error: {exc}") from exc
    return _check_prompt(text + (prefill or ""))


# --- Ollama Go-template subset -------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def render_go_template(source: str, values: dict[str, str]) -> str:
    """Render the part of Ollama's Go-template language that prompt templates use:
    `{{ .Name }}`, `{{ if .Name }}...{{ else }}...{{ end }}` and `{{-`/`-}}` trimming.
    Text after `{{ .Response }}` is dropped: the model writes the response.

    >>> render_go_template("{{ if .System }}S:{{ .System }} {{ end }}U:{{ .Prompt }} A:", {"Prompt": "hi"})
    'U:hi A:'
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(source):
        text = source[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        if tokens and tokens[-1][0] == "trim_next":
            tokens.pop()
            text = text.lstrip()
        tokens.append(("text", text))
        tokens.append(("action", m.group(2)))
        if m.group(3):
            tokens.append(("trim_next", ""))
        pos = m.end()
    tail = source[pos:]
    if tokens and tokens[-1][0] == "trim_next":
        tokens.pop()
        tail = tail.lstrip()
    tokens.append(("text", tail))

    out: list[str] = []
    size = 0  # characters so far: a template repeating {{ .Prompt }} must stay bounded
    # Stack of (branch taken?, parent emitting?)
    stack: list[tuple[bool, bool]] = []
    emitting = True
    for kind, value in tokens:
        if kind == "text":
            if emitting:
                out.append(value)
            continue
        words = value.split()
        if not words:
            continue
        head = words[0]
        if head == "if":
            cond = _truthy(words[1:], values)
            stack.append((cond, emitting))
            emitting = emitting and cond
        elif head == "else":
            if not stack:
                raise TemplateError("template: unexpected {{ else }}")
            cond, parent = stack[-1]
            stack[-1] = (True, parent)
            emitting = parent and not cond
        elif head == "end":
            if not stack:
                raise TemplateError("template: unexpected {{ end }}")
            _, emitting = stack.pop()
        elif head.startswith("."):
            if head == ".Response":
                if emitting:
                    break
                continue
            if emitting:
                out.append(str(values.get(head[1:], "")))
                size += len(out[-1])
                if size > MAX_PROMPT_CHARS:
                    raise PromptTooLong()
        else:
            raise TemplateError(f"template: unsupported action {{{{ {value} }}}}")
    else:
        if stack:
            raise TemplateError("template: unexpected EOF, missing {{ end }}")
    return "".join(out)


def _truthy(words: list[str], values: dict[str, str]) -> bool:
    if len(words) != 1 or not words[0].startswith("."):
        raise TemplateError(f"template: unsupported condition {' '.join(words)!r}")
    return bool(values.get(words[0][1:]))
