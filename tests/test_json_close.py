"""Every prefix of a JSON document, closed by close_json, parses; complete documents are
left alone. Then the server: a JSON answer cut by num_predict still parses."""

from __future__ import annotations

import json

import pytest

from localllm_nb.embedded.engine.json_close import close_json
from tests.models import CHAT

DOCS = [
    {"name": 'Tom "the" cat', "age": 3, "tags": ["a", "b\\c"], "ok": True, "x": None},
    [1, -2.5e3, {"k": [False, {"deep": "é ✓ \u00e9"}]}, "", 0],
    {"unicode": "\u2603 snow", "n": -0.001, "empty": {}, "list": []},
    "just a string",
    12.5,
]


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_every_prefix_closes_into_valid_json(doc):
    for text in (json.dumps(doc), json.dumps(doc, ensure_ascii=False), json.dumps(doc, indent=1)):
        for end in range(len(text) + 1):
            prefix = text[:end]
            closed = prefix + close_json(prefix)
            try:
                json.loads(closed)
            except ValueError as exc:
                raise AssertionError(f"{prefix!r} + {close_json(prefix)!r}: {exc}") from None
        assert close_json(text) == ""


def test_a_cut_json_answer_still_parses(server_url):
    import ollama

    client = ollama.Client(host=server_url)
    reply = client.chat(
        model=CHAT,
        format="json",
        options={"seed": 1, "num_predict": 12, "temperature": 0.8},
        messages=[{"role": "user", "content": "Describe a cat in detail."}],
    )
    assert reply.done_reason == "length"
    assert isinstance(json.loads(reply.message.content), (dict, list))
