"""What `logprobs` costs: decode tokens/s of the embedded server streaming with
`logprobs: true, top_logprobs: 5` against the same request without, same prompt, same
greedy sampler, interleaved in one run (target >= 0.95)."""

from __future__ import annotations

import statistics

from benchmarks.bench_server import PROMPT, TOKENS, streamed_generate

ROUNDS = 7
TOP = 5


def run() -> dict:
    import ollama

    from localllm_nb.embedded import start_server
    from localllm_nb.embedded.engine.templates import render_chat
    from localllm_nb.embedded.models.registry import SMOLLM2

    prompt = render_chat(SMOLLM2.template, [{"role": "user", "content": PROMPT}])
    server = start_server()
    plain, probed = [], []
    entries = 0
    try:
        client = ollama.Client(host=server.url)
        client.generate(model="smollm2", prompt="Hi", options={"num_predict": 1})  # load
        for i in range(ROUNDS):
            # Alternate which goes first, so neither always runs on a warmer machine.
            runs = [(plain, {}), (probed, {"logprobs": True, "top_logprobs": TOP})]
            for out, extra in runs if i % 2 == 0 else runs[::-1]:
                _, rate, _, got = streamed_generate(client, "smollm2", prompt, **extra)
                out.append(rate)
                entries = max(entries, got)
    finally:
        server.stop()
    # The machine's speed drifts between rounds more than logprobs cost: compare within
    # each interleaved pair, then take the median.
    ratio = statistics.median(p / q for q, p in zip(plain, probed, strict=True))
    return {
        "tokens": TOKENS,
        "top_logprobs": TOP,
        "logprob_entries": entries,
        "plain_tokens_per_s": round(statistics.median(plain), 1),
        "logprobs_tokens_per_s": round(statistics.median(probed), 1),
        "tokens_per_s_ratio": round(ratio, 3),
        "tokens_per_s_target": ">= 0.95",
    }
