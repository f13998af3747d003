"""Constrained decoding for the MLX backend: which grammar a chat call gets (tools,
`tool_choice`, `format`), and an mlx-lm logits processor that enforces it with llguidance.

The rules are the embedded server's (`embedded/api/generation.py`): with tools bound, a user
turn is answered with exactly one call whose arguments validate against the tool's
schema; after a tool result the model answers in text. `tool_choice` refines this:
"auto" lets the model choose between text and a (well-formed) call, a tool's name forces
that tool, "none" takes the tools away. `format` ("json" or a JSON schema) constrains a
text answer, as Ollama's `format` does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .._grammar import (
    ANY_JSON_OBJECT,
    TOOL_CLOSE,
    TOOL_OPEN,
    grammar_error,
    json_lark,
    json_target,
    tool_call_lark,
)
from .._json_budget import BudgetGuard, Unsupported

_FORCED = ("any", "required")


@dataclass(frozen=True)
class ChatConstraint:
    """How one chat call is generated: the llguidance grammar (None: free text), the
    tools rendered into the template (and parsed out of the reply), and whether the
    answer is a `format` JSON answer (closed if cut short)."""

    grammar: str | None = None
    tools: list[dict] | None = None
    json_answer: bool = False


def _tool_name(tool: dict) -> str:
    return tool.get("function", tool)["name"]


def chosen_tools(tools: list[dict], tool_choice: Any) -> tuple[str, list[dict]]:
    """`tool_choice` as a mode ("none", "auto" or "required") and the tools a call may
    use. Unset means "required", the embedded server's default.

    >>> tools = [{"type": "function", "function": {"name": "add"}}, {"name": "mul"}]
    >>> chosen_tools(tools, None)[0], chosen_tools(tools, "auto")[0], chosen_tools(tools, False)[0]
    ('required', 'auto', 'none')
    >>> [_tool_name(t) for t in chosen_tools(tools, {"type": "function", "function": {"name": "mul"}})[1]]
    ['mul']
    """
    if tool_choice is None or tool_choice is True or tool_choice in _FORCED:
        return "required", tools
    if tool_choice is False or tool_choice == "none":
        return "none", []
    if tool_choice == "auto":
        return "auto", tools
    name = tool_choice
    if isinstance(tool_choice, dict):  # OpenAI's {"type": "function", "function": {...}}
        name = tool_choice.get("function", tool_choice).get("name")
    picked = [t for t in tools if _tool_name(t) == name]
    if not isinstance(name, str) or not picked:
        known = [_tool_name(t) for t in tools]
        raise ValueError(
            f"tool_choice {tool_choice!r} names no bound tool; tools: {known}, or one of "
            '"auto", "none", "any", "required"'
        )
    return "required", picked


def format_schema(fmt: Any) -> dict | None:
    """Ollama's `format`: "json" is any JSON object, a dict is a JSON schema."""
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return ANY_JSON_OBJECT  # bounded keys, strings and numbers, as on the server
    if isinstance(fmt, dict):
        return fmt
    raise ValueError(f'format must be "json" or a JSON schema dict, not {fmt!r}')


def plan_chat(
    tools: list[dict] | None,
    tool_choice: Any = None,
    fmt: Any = None,
    after_tool_result: bool = False,
    markers: tuple[str, str] | None = (TOOL_OPEN, TOOL_CLOSE),
) -> ChatConstraint:
    """Decide the grammar of one chat call (see the module docstring). `markers` wrap a
    `{"name", "arguments"}` JSON call; None means the model writes calls in another
    syntax, which is then left unconstrained.

    >>> t = [{"type": "function", "function": {"name": "f"}}]
    >>> plan_chat(t).grammar.splitlines()[1], plan_chat(t, after_tool_result=True).grammar
    ('start: tool_call', None)
    >>> plan_chat(t, "none", fmt="json").tools, plan_chat(None, fmt="json").json_answer
    (None, True)
    """
    schema = format_schema(fmt)
    answer = ChatConstraint(grammar=json_lark(schema) if schema else None, json_answer=bool(schema))
    if not tools:
        return answer
    mode, callable_tools = chosen_tools(tools, tool_choice)
    if mode == "none":
        return answer
    if after_tool_result:
        return ChatConstraint(answer.grammar, tools, answer.json_answer)
    if markers is None:
        return ChatConstraint(None, tools)
    grammar = tool_call_lark(callable_tools, *markers, or_text=mode == "auto")
    return ChatConstraint(grammar, tools)


# llguidance's view of a tokenizer takes ~0.4 s to build: one per loaded tokenizer.
_LL_TOKENIZERS: dict[int, tuple[Any, Any]] = {}
_LL_LOCK = threading.Lock()


def ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's `LLTokenizer` for an mlx-lm `TokenizerWrapper`, with every EOS id."""
    with _LL_LOCK:
        hit = _LL_TOKENIZERS.get(id(tokenizer))
        if hit is not None and hit[0] is tokenizer:
            return hit[1]
    import llguidance.hf

    eos = sorted(getattr(tokenizer, "eos_token_ids", None) or [tokenizer.eos_token_id])
    built = llguidance.hf.from_tokenizer(tokenizer._tokenizer, eos_token=eos)
    with _LL_LOCK:
        # Keeping the wrapper referenced keeps its id from being reused by another.
        _LL_TOKENIZERS[id(tokenizer)] = (tokenizer, built)
        while len(_LL_TOKENIZERS) > 4:
            _LL_TOKENIZERS.pop(next(iter(_LL_TOKENIZERS)))
    return built


def _checked_grammar(grammar: str) -> str:
    error = grammar_error(grammar)
    if error:
        raise ValueError(f"cannot constrain to this schema: {error}")
    return grammar


class GrammarLogits:
    """An mlx-lm logits processor: tokens the grammar does not allow get -inf.

    mlx-lm calls it once per step with every token so far (the prompt on the first
    call) and the next token's logits; from the second call on, the last token is the
    one sampled under the previous mask, which advances the matcher. Reading that token
    waits for it, so constrained steps do not overlap as unconstrained ones do.

    With `max_tokens`, a JSON answer stays valid within it: a `BudgetGuard` follows the
    text, and when the tokens left only just hold the smallest valid completion, the
    mask forces that completion's tokens one by one.
    """

    def __init__(self, tokenizer: Any, grammar: str, max_tokens: int | None = None):
        from llguidance import LLMatcher

        self._ll = ll_tokenizer(tokenizer)
        self._matcher = LLMatcher(self._ll, _checked_grammar(grammar))
        if self._matcher.is_error():
            raise ValueError(f"cannot constrain to this grammar: {self._matcher.get_error()}")
        self._started = False
        self._guard = budget_guard(self._ll, grammar, max_tokens)
        self._forced: list[int] = []  # the completion's tokens still to write
        self._bytes = b""  # a token's bytes that end inside a UTF-8 character

    def __call__(self, tokens: Any, logits: Any) -> Any:
        import mlx.core as mx
        import numpy as np

        matcher = self._matcher
        if self._started:
            token = int(tokens[-1].item())
            if not matcher.consume_token(token):
                raise RuntimeError(f"constrained decoding failed: {matcher.get_error()}")
            self._follow(token)
        else:
            self._plan()  # a budget that holds only the smallest answer forces it all
        self._started = True
        # Once the grammar is complete the mask holds only the EOS ids, which ends the
        # reply (mlx-lm may compute one more step past the EOS; it is not used).
        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little").astype(bool)
        if self._forced:
            only = np.zeros_like(allowed)
            only[self._forced.pop(0)] = True
            allowed &= only
        vocab = logits.shape[-1]
        if allowed.size < vocab:  # the model's embedding may be padded past the tokenizer
            allowed = np.concatenate([allowed, np.zeros(vocab - allowed.size, dtype=bool)])
        return mx.where(mx.array(allowed[:vocab]), logits, -mx.inf)

    def _follow(self, token: int) -> None:
        """Tell the budget guard about a sampled token; once the budget left only just
        holds the smallest valid completion, its tokens are what the next steps write."""
        if self._guard is None:
            return
        raw = self._bytes + self._ll.decode_bytes([token])
        text = raw.decode("utf-8", "ignore")
        self._bytes = raw[len(text.encode()) :]
        self._plan(text)

    def _plan(self, text: str | None = None) -> None:
        try:
            if text is not None:  # one token, perhaps ending inside a character
                self._guard.feed(text)
            closing = self._guard.closing() if self._guard is not None else None
        except ValueError:  # a value the guard cannot complete (a `pattern` string)
            self._guard = None
            return
        if closing:
            forced = self._ll.tokenize_str(closing)
            # The grammar has the last word: a completion it would refuse is not forced.
            if self._matcher.validate_tokens(forced) == len(forced):
                self._forced, self._guard = forced, None  # written as is: nothing to follow


def budget_guard(ll: Any, grammar: str, max_tokens: int | None) -> BudgetGuard | None:
    """A guard keeping a JSON answer (or tool call) valid within `max_tokens`; None when
    there is no budget or the grammar is not one JSON value. A budget below the
    smallest valid answer raises `SchemaBudgetError`."""
    target = json_target(grammar) if max_tokens and max_tokens > 0 else None
    if target is None:
        return None
    try:
        return BudgetGuard(target, max_tokens, lambda t: len(ll.tokenize_str(t)), "max_tokens")
    except Unsupported:  # e.g. a pattern string: decoded as before, unguarded
        return None


def grammar_processor(
    tokenizer: Any, grammar: str | None, max_tokens: int | None = None
) -> list[Any]:
    """The logits processors that enforce `grammar` (none when it is None) within
    `max_tokens` (see `GrammarLogits`)."""
    return [GrammarLogits(tokenizer, grammar, max_tokens)] if grammar else []
