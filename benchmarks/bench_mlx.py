"""`ChatMLX.stream` against mlx-lm's own `stream_generate`: same converted bundled model,
same prompt tokens, same (greedy) sampler, rounds interleaved in one run. Target: the
tokens/s ratio ours/direct >= 0.95."""

from __future__ import annotations

import statistics
import time

PROMPT = "Write a long story about a brave dragon who learns to cook."
TOKENS = 64
ROUNDS = 3


def _direct(model, tokenizer, prompt_ids: list[int]) -> tuple[float, float, int]:
    """(tokens/s from first to last token, total tokens/s, tokens) for mlx-lm itself."""
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    start = time.perf_counter()
    first = last = None
    count = 0
    for response in stream_generate(
        model, tokenizer, mx.array(prompt_ids), max_tokens=TOKENS, sampler=make_sampler(temp=0.0)
    ):
        last = time.perf_counter()
        first = first or last
        count = response.generation_tokens
    return (count - 1) / (last - first), count / (last - start), count


def _ours(chat, messages) -> tuple[float, float, int]:
    """The same figures through the LangChain chat model's stream."""
    start = time.perf_counter()
    first = last = None
    count = 0
    for chunk in chat.stream(messages):
        last = time.perf_counter()
        first = first or last
        count = chunk.response_metadata.get("generation_tokens", count)
    return (count - 1) / (last - first), count / (last - start), count


def run() -> dict:
    """Interleave direct and ChatMLX rounds; report median rates and their ratios."""
    from langchain_core.messages import HumanMessage

    from localllm_nb.backends.mlx import build_mlx_chat

    chat = build_mlx_chat("smollm2:135m", {"max_tokens": TOKENS, "temp": 0.0})
    model, tokenizer = chat.llm.model, chat.llm.tokenizer
    messages = [HumanMessage(PROMPT)]
    prompt_ids = chat._to_chat_prompt(messages, tokenize=True)

    _direct(model, tokenizer, prompt_ids)  # warm-up: first-call allocations and caches
    direct, ours = [], []
    for _ in range(ROUNDS):
        direct.append(_direct(model, tokenizer, prompt_ids))
        ours.append(_ours(chat, messages))

    def median(rows, i):
        return statistics.median(r[i] for r in rows)

    return {
        "tokens_per_round": ours[0][2],
        "same_token_count": all(d[2] == o[2] for d, o in zip(direct, ours, strict=True)),
        "direct_decode_tps": median(direct, 0),
        "chatmlx_decode_tps": median(ours, 0),
        "decode_ratio": median(ours, 0) / median(direct, 0),
        "direct_total_tps": median(direct, 1),
        "chatmlx_total_tps": median(ours, 1),
        "total_ratio": median(ours, 1) / median(direct, 1),
        "target_ratio": 0.95,
    }
