"""Closing a JSON answer cut short by the token budget, so that it always parses.

A grammar keeps every token of a `format` answer on the way to valid JSON, but a small
model can stay inside one string until `num_predict` runs out. Ollama returns such an
answer cut off; we append the fewest characters that make the prefix parse (close the
string, complete a literal or number, give a dangling key a null value, close every open
array and object) and keep `done_reason: "length"`, which says what happened. The text
already streamed is never changed, only extended.
"""

from __future__ import annotations

_LITERALS = ("true", "false", "null")


def close_json(prefix: str) -> str:
    """The suffix that turns `prefix` (the start of a JSON value) into valid JSON.

    >>> close_json('{"name": "Tom the c')
    '"}'
    >>> close_json('{"a": [1, 2, tr')
    'ue]}'
    >>> close_json('{"a": 1, "b')
    '": null}'
    >>> close_json('[1.')
    '0]'
    >>> close_json('{"a": "x\\\\')
    '\\\\"}'
    >>> close_json('{"done": true}'), close_json("")
    ('', 'null')
    """
    stack: list[str] = []  # "{" or "["
    in_string = False
    escape = ""  # the escape sequence being read inside a string ("\\", "\\u12", ...)
    expect_value = True  # at the start, after ":", after "," in an array
    key_pending = False  # a key has been read, its ":" has not
    is_key = False  # the open string is an object key
    token = ""  # a number or literal being read
    for ch in prefix:
        if in_string:
            if escape:
                escape += ch
                if escape[1] != "u" or len(escape) == 6:
                    escape = ""
            elif ch == "\\":
                escape = "\\"
            elif ch == '"':
                in_string = False
                key_pending = is_key
            continue
        if token and ch not in "+-.0123456789eEtrufalsn":
            token = ""
        if ch == '"':
            in_string, escape = True, ""
            is_key = bool(stack) and stack[-1] == "{" and not expect_value
            expect_value = False
        elif ch in "{[":
            stack.append(ch)
            expect_value = ch == "["
        elif ch in "}]":
            stack.pop()
            expect_value = False
        elif ch == ":":
            key_pending, expect_value = False, True
        elif ch == ",":
            expect_value = stack[-1] == "[" if stack else False
        elif not ch.isspace():
            token += ch
            expect_value = False
    out = ""
    if in_string:
        if escape:
            out += (
                "0" * (6 - len(escape)) if escape[1:2] == "u" else ("\\" if escape == "\\" else "")
            )
        out += '"'
        if is_key:
            out += ": null"
    elif token:
        out += _finish_token(token)
    elif key_pending:
        out += ": null"
    elif expect_value:
        out += "null"
    elif stack and stack[-1] == "{" and prefix.rstrip().endswith(","):
        out += '"": null'  # a comma already streamed needs a member after it
    for opener in reversed(stack):
        out += "}" if opener == "{" else "]"
    return out


def _finish_token(token: str) -> str:
    for literal in _LITERALS:
        if literal.startswith(token):
            return literal[len(token) :]
    if token[-1] in "+-eE.":
        return "0"
    return ""
