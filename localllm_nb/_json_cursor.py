"""Where a JSON answer is, character by character, against its schema, and the shortest
text that completes it into a valid instance (`JsonCursor.completion`); the smallest
valid JSON text of any subschema (`Schemas.smallest`). The heart of structured output
within a token budget (`_json_budget`).

Schemas are those `_grammar.prepared_schema` constrains to (closed objects, compact
separators, properties in order); `pattern` and `format` strings are not completed
(`Unsupported`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

_LITERALS = ("true", "false", "null")
MAX_DEPTH = 12  # $ref recursion cut for the smallest value


class Unsupported(ValueError):
    """A schema whose smallest completion this module cannot write (e.g. a `pattern`)."""


class _NoMatch(Unsupported):
    """The text so far does not fit this alternative of the schema."""


def compact_json(value) -> str:
    """JSON as the grammar writes it: `", "` and `": "` separators, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


class Schemas:
    """A root schema's `$ref`s resolved, and the smallest valid JSON text per subschema."""

    def __init__(self, root: dict):
        self.root = root

    def resolve(self, schema) -> dict:
        for _ in range(MAX_DEPTH):
            if not isinstance(schema, dict):
                return {}
            ref = schema.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = self.root
                for part in ref[2:].split("/"):
                    target = target.get(part, {})
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**target, **rest}
                continue
            all_of = schema.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1:  # pydantic's wrapped $ref
                rest = {k: v for k, v in schema.items() if k != "allOf"}
                schema = {**all_of[0], **rest}
                continue
            return schema
        raise Unsupported("schema references nest too deeply")

    def options(self, schema) -> list[dict]:
        """The alternatives a value may take, one JSON type each.

        >>> Schemas({}).options({"type": ["string", "null"]})
        [{'type': 'string'}, {'type': 'null'}]
        """
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                base = {k: v for k, v in schema.items() if k != key}
                return [o for alt in schema[key] for o in self.options({**base, **alt})]
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return [{**schema, "type": k} for k in kinds]
        return [schema]

    def smallest(self, schema, depth: int = 0) -> str:
        """The shortest valid JSON text for `schema`, with compact separators.

        >>> s = Schemas({})
        >>> s.smallest({"type": "object", "properties": {"a": {"type": "string"},
        ...     "b": {"type": "integer", "minimum": 3}}, "required": ["a", "b"]})
        '{"a": "", "b": 3}'
        >>> s.smallest({"type": "array", "items": {"enum": ["xyz", "q"]}, "minItems": 2})
        '["q", "q"]'
        """
        if depth > MAX_DEPTH:
            raise Unsupported("schema recursion too deep for a smallest value")
        texts = [self._smallest_one(o, depth) for o in self.options(schema)]
        return min(texts, key=len)

    def _smallest_one(self, s: dict, depth: int) -> str:
        if "const" in s:
            return compact_json(s["const"])
        if isinstance(s.get("enum"), list) and s["enum"]:
            return min((compact_json(v) for v in s["enum"]), key=len)
        kind = s.get("type")
        if kind is None and "properties" in s:
            kind = "object"
        if kind == "string":
            if "pattern" in s or "format" in s:
                raise Unsupported("strings with a pattern or format")
            return '"' + "a" * int(s.get("minLength", 0)) + '"'
        if kind in ("integer", "number"):
            return _smallest_number(s, kind)
        if kind == "boolean":
            return "true"
        if kind == "array":
            item = self.smallest(s.get("items", {}), depth + 1) if s.get("minItems") else ""
            return "[" + ", ".join([item] * int(s.get("minItems", 0))) + "]"
        if kind == "object":
            props = s.get("properties", {})
            members = [
                f"{compact_json(k)}: {self.smallest(props.get(k, {}), depth + 1)}"
                for k in _ordered_required(s)
            ]
            return "{" + ", ".join(members) + "}"
        return "null"


def _ordered_required(s: dict) -> list[str]:
    """Required keys in the order of `properties` (the order the grammar writes them)."""
    required = list(s.get("required", []))
    order = list(s.get("properties", {}))
    return sorted(required, key=lambda k: order.index(k) if k in order else len(order))


def _smallest_number(s: dict, kind: str) -> str:
    low = s.get("minimum", s.get("exclusiveMinimum"))
    high = s.get("maximum", s.get("exclusiveMaximum"))
    value = 0
    if low is not None and (value < low or (value == low and "exclusiveMinimum" in s)):
        value = math.floor(low) + 1 if "exclusiveMinimum" in s else math.ceil(low)
    elif high is not None and (value > high or (value == high and "exclusiveMaximum" in s)):
        value = math.ceil(high) - 1 if "exclusiveMaximum" in s else math.floor(high)
    return str(int(value))


@dataclass
class _Frame:
    """One open JSON value: an object, an array, a string or a number/literal."""

    kind: str  # "{", "[", '"', "token"
    options: list[dict]
    state: str = "start"  # object/array: start, value, after, colon (object only)
    keys: list[str] = field(default_factory=list)  # an object's keys so far
    key: str | None = None  # the key whose value is being read
    count: int = 0  # an array's items so far
    text: str = ""  # a string's characters (escapes kept raw) or a token's
    is_key: bool = False


class JsonCursor:
    """Where a JSON answer is after the characters fed so far, and the shortest text
    that completes it into a valid instance of the schema (`completion`).

    >>> c = JsonCursor({"type": "object", "properties": {"setup": {"type": "string"},
    ...     "punchline": {"type": "string"}}, "required": ["setup", "punchline"]})
    >>> c.feed('{"setup": "A cat is a c')
    >>> c.completion()
    '", "punchline": ""}'
    >>> c.feed('at", "punch')
    >>> c.completion()
    'line": ""}'
    """

    def __init__(self, schema: dict):
        self.schemas = Schemas(schema)
        self.stack: list[_Frame] = []
        self.root = schema
        self.started = False
        self.done = False
        self.last = ""  # the last non-string character (a separator wants its space)

    def feed(self, text: str) -> None:
        for ch in text:
            self._char(ch)

    # -- reading -----------------------------------------------------------------------

    def _char(self, ch: str) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and top.kind == '"':
            self._string_char(top, ch)
            return
        if top is not None and top.kind == "token":
            if ch in "+-.0123456789eEtrufalsn":
                top.text += ch
                return
            self._pop()
            top = self.stack[-1] if self.stack else None
        self.last = ch
        if ch.isspace():
            return
        if top is None or (top.state in ("start", "value", "key") and ch not in "}]"):
            if top is not None and top.kind == "{" and top.state == "start":
                top.state = "key"
            if top is not None and top.kind == "{" and top.state == "key":
                self.stack.append(_Frame('"', [], is_key=True))
                return
            self._open_value(ch, self._value_options(top))
        elif ch == ":":
            top.state = "value"
        elif ch == ",":
            top.state = "key" if top.kind == "{" else "value"
        elif ch in "}]":
            self._pop()

    def _value_options(self, top: _Frame | None) -> list[dict]:
        if top is None:
            return self.schemas.options(self.root)
        if top.kind == "[":
            return [o for s in top.options for o in self.schemas.options(s.get("items", {}))]
        return [o for s in top.options for o in self.schemas.options(_member(s, top.key))]

    def _open_value(self, ch: str, options: list[dict]) -> None:
        self.started = True
        kind = {"{": "{", "[": "[", '"': '"'}.get(ch, "token")
        frame = _Frame(kind, _fitting(options, kind) or options)
        if kind == "token":
            frame.text = ch
        self.stack.append(frame)

    def _string_char(self, top: _Frame, ch: str) -> None:
        if _finish_escape(top.text):  # inside an escape sequence
            top.text += ch
        elif ch == '"':
            self._pop()
        else:
            top.text += ch

    def _pop(self) -> None:
        frame = self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            self.done = True
            return
        if frame.is_key:
            parent.key = json.loads('"' + frame.text + '"')
            parent.keys.append(parent.key)
            parent.state = "colon"
            return
        parent.state = "after"
        if parent.kind == "[":
            parent.count += 1
        elif parent.kind == "{":
            raw = '"' + frame.text + '"' if frame.kind == '"' else frame.text
            _narrow(parent, self.schemas, raw if frame.kind in ('"', "token") else None)

    # -- completing --------------------------------------------------------------------

    def completion(self) -> str:
        """The shortest text that makes what was fed a valid instance of the schema."""
        if self.done:
            return ""
        if not self.started:
            return self.schemas.smallest(self.root)
        # Under an object with alternatives (a call to one of several tools), the open
        # value must be completed the way one alternative allows: try each.
        j = max(
            (i for i, f in enumerate(self.stack) if f.kind == "{" and len(f.options) > 1),
            default=None,
        )
        if j is None:
            return self._complete(list(self.stack))
        found = []
        for option in self.stack[j].options:
            frames = [*self.stack[:j], replace(self.stack[j], options=[option])]
            if j + 1 < len(self.stack):
                child = self.stack[j + 1]
                if not child.is_key:
                    fits = _fitting(
                        self.schemas.options(_member(option, frames[j].key)), child.kind
                    )
                    if not fits:
                        continue
                    child = replace(child, options=fits)
                frames += [child, *self.stack[j + 2 :]]
            try:
                found.append(self._complete(frames))
            except _NoMatch:
                continue
        if not found:
            raise Unsupported("no alternative of the schema completes this answer")
        return min(found, key=len)

    def _complete(self, frames: list[_Frame]) -> str:
        out = ""
        top = frames[-1]
        if top.kind == '"' and top.is_key:
            frames.pop()
            key, out = self._close_key(top.text, frames[-1])
            frames[-1] = _Frame("{", frames[-1].options, "after", [*frames[-1].keys, key])
        inner = bool(out)
        for frame in reversed(frames):
            if inner:  # the value it was reading is closed by now
                frame = replace(frame, state="after", count=frame.count + 1)
            out += self._close(frame, out)
            inner = True
        return out

    def _space(self, written: str) -> str:
        """A separator's space, when the separator was the last character written."""
        return " " if not written and self.last in ":," else ""

    def _close(self, f: _Frame, written: str) -> str:
        if f.kind == "token":
            return _finish_number(f.text, f.options)
        if f.kind == '"':
            return self._close_string(f)
        if f.kind == "[":
            return self._close_array(f, written)
        return min((self._close_object(f, o, written) for o in f.options), key=len)

    def _close_array(self, f: _Frame, written: str) -> str:
        s = self.schemas
        item = next((o["items"] for o in f.options if "items" in o), {})
        least = max((int(o.get("minItems", 0)) for o in f.options), default=0)
        text, count = "", f.count
        if f.state == "value":  # after a comma an item must follow
            text, count = self._space(written) + s.smallest(item), count + 1
        for _ in range(max(0, least - count)):
            text += (", " if count else "") + s.smallest(item)
            count += 1
        return text + "]"

    def _close_object(self, f: _Frame, option: dict, written: str) -> str:
        s = self.schemas
        text = ""
        if f.state == "colon":
            text = ": " + s.smallest(_member(option, f.key))
        elif f.state == "value":
            text = self._space(written) + s.smallest(_member(option, f.key))
        missing = [k for k in _ordered_required(option) if k not in f.keys]
        if f.state == "key" and not missing:  # after a comma a member must follow
            missing = [_shortest_member(option, f.keys, s)]
        for i, key in enumerate(missing):
            if i == 0 and f.state == "key":
                sep = self._space(written)
            else:
                sep = ", " if (f.keys or i) else ""
            text += sep + compact_json(key) + ": " + s.smallest(_member(option, key))
        return text + "}"

    def _close_string(self, f: _Frame) -> str:
        tail = _finish_escape(f.text)
        texts = []
        for o in f.options:
            values = [o["const"]] if "const" in o else o.get("enum")
            if isinstance(values, list):
                texts += [
                    compact_json(v)[1 + len(f.text) :]
                    for v in values
                    if isinstance(v, str) and compact_json(v)[1:].startswith(f.text)
                ]
                continue
            if "pattern" in o or "format" in o:
                raise Unsupported("strings with a pattern or format")
            written = len(json.loads('"' + f.text + tail + '"'))
            texts.append(tail + "a" * max(0, int(o.get("minLength", 0)) - written) + '"')
        if not texts:
            raise _NoMatch(f.text)
        return min(texts, key=len)

    def _close_key(self, raw: str, owner: _Frame) -> tuple[str, str]:
        """Finish an object key being written: (the key, the text that ends it and gives
        it its smallest value), for the shortest property it can still become."""
        s = self.schemas
        best: tuple[str, str] | None = None
        for option in owner.options:
            required = _ordered_required(option)
            names = [k for k in option.get("properties", {}) if k not in owner.keys]
            names = [k for k in names if compact_json(k)[1:].startswith(raw)]
            names.sort(key=lambda k: (k not in required, len(k)))
            found = [(k, compact_json(k)[1 + len(raw) :]) for k in names[:1]]
            if not found and option.get("patternProperties"):
                key = json.loads('"' + raw + '"') or "a"
                found = [(key, ("a" if not raw else "") + '"')]
            for key, rest in found:
                text = rest + ": " + s.smallest(_member(option, key))
                if best is None or len(text) < len(best[1]):
                    best = (key, text)
        if best is None:
            raise _NoMatch(raw)
        return best


def _member(schema: dict, key: str | None) -> dict:
    props = schema.get("properties", {})
    if key in props:
        return props[key]
    patterns = schema.get("patternProperties") or {}
    if patterns:
        return next(iter(patterns.values()))
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _shortest_member(option: dict, keys: list[str], s: Schemas) -> str:
    names = [k for k in option.get("properties", {}) if k not in keys]
    if not names and option.get("patternProperties"):  # a free key: any word will do
        return next("a" * n for n in range(1, len(keys) + 2) if "a" * n not in keys)
    if not names:
        raise _NoMatch("a comma with no member left to write")
    return min(names, key=lambda k: len(k) + len(s.smallest(option["properties"][k])))


def _narrow(parent: _Frame, s: Schemas, raw: str | None) -> None:
    """Keep the object alternatives whose `const`/`enum` for this key allow the value."""
    if raw is None or len(parent.options) < 2:
        return
    try:
        value = json.loads(raw)
    except ValueError:
        return
    kept = []
    for option in parent.options:
        member = s.resolve(_member(option, parent.key))
        allowed = [member["const"]] if "const" in member else member.get("enum")
        if parent.key in option.get("properties", {}) and (allowed is None or value in allowed):
            kept.append(option)
    parent.options = kept or parent.options


_WANTED = {"{": ("object",), "[": ("array",), '"': ("string",)}
_SCALARS = ("integer", "number", "boolean", "null")


def _fitting(options: list[dict], frame_kind: str) -> list[dict]:
    """The alternatives a value opened as `frame_kind` ("{", "[", '"', "token") may be."""
    wanted = _WANTED.get(frame_kind, _SCALARS)
    return [o for o in options if _kind(o) in wanted or _kind(o) is None]


def _kind(option: dict) -> str | None:
    if "const" in option:
        return _json_kind(option["const"])
    if isinstance(option.get("enum"), list) and option["enum"]:
        return _json_kind(option["enum"][0])
    if option.get("type") is None and "properties" in option:
        return "object"
    return option.get("type")


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _escaped_at(text: str, i: int) -> bool:
    """The backslash at `i` starts an escape (it is not itself escaped)."""
    run = len(text[:i]) - len(text[:i].rstrip("\\"))
    return run % 2 == 0


def _finish_escape(text: str) -> str:
    i = text.rfind("\\u")
    if i >= 0 and len(text) - i < 6 and _escaped_at(text, i):
        return "0" * (6 - (len(text) - i))
    run = len(text) - len(text.rstrip("\\"))
    return "\\" if run % 2 else ""


def _finish_number(token: str, options: list[dict]) -> str:
    """Finish a literal or number; a number's digits so far may still fall short of
    its bound (`1` where the minimum is 5 is on its way to `10`).

    >>> _finish_number("1", [{"type": "integer", "minimum": 5}]), _finish_number("-", [])
    ('0', '0')
    """
    out = _finish_token(token)
    if token[:1] not in "-0123456789" or any(c in token for c in ".eE"):
        return out
    low = min((o.get("minimum", -math.inf) for o in options), default=-math.inf)
    high = max((o.get("maximum", math.inf) for o in options), default=math.inf)
    while len(token + out) < 18 and not low <= int(token + out) <= high:
        out += "0"
    return out


def _finish_token(token: str) -> str:
    for literal in _LITERALS:
        if literal.startswith(token):
            return literal[len(token) :]
    return "0" if token[-1] in "+-eE." else ""
