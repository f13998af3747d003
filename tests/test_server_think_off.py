"""`think: false` on a thinking model: a think block the model writes itself never
reaches content, tags or text (issue 17, item 2), over HTTP through ollama-python and
langchain-ollama. The model is made to write one by continuing an assistant turn that
opens it: asked with thinking on, the same request puts that text in `thinking`."""

from __future__ import annotations

import ollama
from langchain_core.messages import AIMessage, HumanMessage
from langchain_ollama import ChatOllama

from tests.models import THINK

QUESTION = "What is 3 times 4?"
OPENS_A_THOUGHT = "<think>The user wants"
OPTIONS = {"temperature": 0, "num_predict": 60}


def test_a_think_block_the_model_writes_is_dropped_with_think_false(server_url):
    client = ollama.Client(host=server_url)
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": OPENS_A_THOUGHT},
    ]
    on = client.chat(model=THINK, messages=messages, think=True, options=OPTIONS)
    off = client.chat(model=THINK, messages=messages, think=False, options=OPTIONS)
    assert on.message.thinking  # the model did write a thought, then closed it
    assert not off.message.thinking
    assert "<think>" not in off.message.content and "</think>" not in off.message.content
    assert on.message.thinking not in off.message.content
    assert off.message.content == on.message.content  # the answer after the thought

    # Streamed, chunk by chunk: no tag and no thought in any piece either.
    pieces = [
        chunk.message.content
        for chunk in client.chat(
            model=THINK, messages=messages, think=False, options=OPTIONS, stream=True
        )
    ]
    assert "".join(pieces) == off.message.content
    assert not any("think>" in piece for piece in pieces)


def test_reasoning_false_keeps_langchain_content_free_of_thoughts(server_url):
    messages = [HumanMessage(QUESTION), AIMessage(OPENS_A_THOUGHT)]
    model = dict(model=THINK, base_url=server_url, temperature=0, num_predict=60)
    on = ChatOllama(**model, reasoning=True).invoke(messages)
    off = ChatOllama(**model, reasoning=False).invoke(messages)
    assert on.additional_kwargs.get("reasoning_content")
    assert "reasoning_content" not in off.additional_kwargs
    assert "think>" not in off.content
    assert off.content == on.content
