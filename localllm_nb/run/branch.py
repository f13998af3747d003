"""Branch a run at one of its tokens: the same request, continued from the answer's text
up to that token with one of its alternatives in its place.

A chat model continues a final assistant message (Ollama does so when the last message
is the assistant's, and so does the embedded server); a text-completion model
(kind='llm') gets its prompt plus the text so far, sent `raw` so that no template wraps
it. Pure functions: the view starts the run.

>>> from localllm_nb.run.tokens import parse_logprobs
>>> toks = parse_logprobs([{"token": t, "logprob": -0.1} for t in ["The", " cat", " sat"]])
>>> point = branch_point(toks, 1, " dog")
>>> point.prefix, point.text
('The', 'The dog')
>>> branch_input("Tell a story.", point, chat=True)[0][-1]
{'role': 'assistant', 'content': 'The dog'}
>>> branch_input("Once upon", point, chat=False)
('Once uponThe dog', {'raw': True})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .tokens import TokenLogprob, text_of


@dataclass(frozen=True)
class BranchPoint:
    """Where a branch leaves its run: token `index` (into `Run.logprobs`), the
    `alternative` chosen in place of `original`, and the answer's text before it."""

    index: int
    alternative: str
    original: str
    prefix: str

    @property
    def text(self) -> str:
        """What the branch starts from: the prefix and the alternative."""
        return self.prefix + self.alternative


def branch_point(entries: Sequence[TokenLogprob], index: int, alternative: str) -> BranchPoint:
    """The branch point at answer token `index` with `alternative` in its place.

    Raises ValueError for an index outside the tokens, a token that is not part of the
    answer (thinking, tool calls), or an empty alternative.
    """
    if not isinstance(index, int) or not 0 <= index < len(entries):
        raise ValueError(f"no token {index}: the run has {len(entries)} tokens with logprobs")
    entry = entries[index]
    if entry.channel != "content":
        raise ValueError(
            f"token {index} is {entry.channel}, not answer text: branch from the answer"
        )
    if not isinstance(alternative, str) or not alternative:
        raise ValueError("the alternative must be a non-empty string")
    prefix = text_of([e for e in entries[:index] if e.channel == "content"])
    return BranchPoint(index, alternative, entry.token, prefix)


def branch_input(prompt: Any, point: BranchPoint, chat: bool) -> tuple[Any, dict[str, Any]]:
    """(input, extra keyword arguments) of the branch run for a run whose input was
    `prompt`: a chat continues an assistant turn that holds the text so far; a
    completion prompt gets the text appended and goes `raw`."""
    if chat:
        messages = (
            [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        )
        return [*messages, {"role": "assistant", "content": point.text}], {}
    if not isinstance(prompt, str):
        raise TypeError(f"a text-completion run's prompt is a string, not {type(prompt).__name__}")
    return prompt + point.text, {"raw": True}
