"""Constrained against unconstrained decoding on MLX: the same prompt and greedy sampler,
40 tokens free, then 40 tokens under an llguidance grammar (a JSON schema whose one
string must be long, so that both runs generate every token), rounds interleaved in one
run. mlx-lm's own `generation_tps` (tokens / decode time) is the figure; the ratio
constrained/free is the per-token cost of the grammar (mask, and waiting for each token
before the next step starts).

Then the budget guard (structured output within max_tokens, `localllm_nb._json_budget`):
the same grammar with the guard against it without (the same JSON constraint spelled as
a rule of its own, which the guard does not take for a JSON answer), interleaved; and the
guard's share of one step measured apart from the model."""

from __future__ import annotations

import statistics

PROMPT = "Write a story about a brave dragon."
TOKENS = 40
ROUNDS = 3
SCHEMA = {
    "type": "object",
    "properties": {"story": {"type": "string", "minLength": 400}},
    "required": ["story"],
}
# The guard's comparison: a joke, whose `setup` the greedy 135M model fills with "A cat
# is a cat..." until the budget ends it, so both runs generate their 40 tokens (the
# guarded one writes the closing `", "punchline": ""}` in its last ones).
JOKE_PROMPT = "Tell me a joke about cats."
JOKE = {
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}


def unguarded(grammar: str) -> str:
    """The same constraint as `json_lark`'s, behind a rule of its own, so the budget
    guard does not follow it (the baseline for the guard's cost)."""
    head, _, rule = grammar.partition("\nstart: ")
    return f"{head}\nstart: answer\nanswer: {rule}"


def _tps(llm, prompt_ids, settings, grammar) -> tuple[float, int]:
    figures = None
    for piece in llm.stream_pieces(prompt_ids, None, settings, grammar):
        figures = piece.figures or figures
    return figures.generation_tps, figures.generation_tokens


def _mask_ms(chat, grammar: str, text: str, max_tokens: int | None = None) -> float:
    """Median milliseconds to compute and apply one step's mask, stepping the matcher
    through `text` (the grammar's share of a step, without the model); with
    `max_tokens`, the budget guard follows the text too."""
    import time

    import mlx.core as mx

    from localllm_nb.backends._mlx_grammar import GrammarLogits, ll_tokenizer

    tokens = ll_tokenizer(chat.tokenizer).tokenize_str(text)
    processor = GrammarLogits(chat.tokenizer, grammar, max_tokens)
    logits = mx.zeros((1, chat.llm.model.args.vocab_size))
    history = mx.array([0])
    times = []
    for token in tokens:
        start = time.perf_counter()
        mx.eval(processor(history, logits))
        times.append(time.perf_counter() - start)
        history = mx.array([token])
    return 1000 * statistics.median(times)


def run() -> dict:
    """Interleave free and constrained rounds; report median tokens/s and their ratio."""
    from langchain_core.messages import HumanMessage

    from localllm_nb._grammar import json_lark
    from localllm_nb.backends._mlx_text import GenerationSettings
    from localllm_nb.backends.mlx import build_mlx_chat

    chat = build_mlx_chat("smollm2:135m", {"max_tokens": TOKENS, "temp": 0.0})
    settings = GenerationSettings.from_kwargs(chat.llm.pipeline_kwargs)
    prompt_ids = chat._to_chat_prompt([HumanMessage(PROMPT)], tokenize=True)
    joke_ids = chat._to_chat_prompt([HumanMessage(JOKE_PROMPT)], tokenize=True)
    # The story's 400 characters do not fit 40 tokens: the guard would refuse the schema,
    # so this comparison runs the grammar unguarded, as before the guard existed.
    grammar = unguarded(json_lark(SCHEMA))
    joke, joke_plain = json_lark(JOKE), unguarded(json_lark(JOKE))
    _tps(chat.llm, prompt_ids, settings, grammar)  # warm-up: tokenizer for llguidance, caches
    free, constrained, plain, guarded = [], [], [], []
    for _ in range(ROUNDS):
        free.append(_tps(chat.llm, prompt_ids, settings, None))
        constrained.append(_tps(chat.llm, prompt_ids, settings, grammar))
        plain.append(_tps(chat.llm, joke_ids, settings, joke_plain))
        guarded.append(_tps(chat.llm, joke_ids, settings, joke))
    story = '{"story": "Once upon a time, a brave dragon named Ember lived in the hills, and'
    mask_ms = _mask_ms(chat, grammar, story)
    setup = '{"setup": "A cat is a cat, right? A cat is a cat, a cat is a cat, a cat is a'
    joke_mask_ms = _mask_ms(chat, joke_plain, setup)
    guard_mask_ms = _mask_ms(chat, joke, setup, max_tokens=10 * TOKENS)
    plain_tps = statistics.median(t for t, _ in plain)
    guarded_tps = statistics.median(t for t, _ in guarded)
    free_tps = statistics.median(t for t, _ in free)
    constrained_tps = statistics.median(t for t, _ in constrained)
    return {
        "tokens_free": [n for _, n in free],
        "tokens_constrained": [n for _, n in constrained],
        "free_tps_runs": [round(t, 2) for t, _ in free],
        "constrained_tps_runs": [round(t, 2) for t, _ in constrained],
        "free_tps": free_tps,
        "constrained_tps": constrained_tps,
        "ratio": constrained_tps / free_tps,
        "ms_per_token_added": 1000 / constrained_tps - 1000 / free_tps,
        "mask_ms_per_token": mask_ms,
        "free_ms_per_token": 1000 / free_tps,
        "tokens_joke_unguarded": [n for _, n in plain],
        "tokens_joke_guarded": [n for _, n in guarded],
        "joke_unguarded_tps_runs": [round(t, 2) for t, _ in plain],
        "joke_guarded_tps_runs": [round(t, 2) for t, _ in guarded],
        # The budget guard's cost on decode speed: guarded / unguarded, same grammar.
        "guard_ratio": guarded_tps / plain_tps,
        "joke_mask_ms_per_token": joke_mask_ms,
        "guard_mask_ms_per_token": guard_mask_ms,
        "guard_ms_per_token_added": guard_mask_ms - joke_mask_ms,
    }
