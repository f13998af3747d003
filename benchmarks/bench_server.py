"""The embedded server against its engine (xllamacpp) called directly in this process,
same GGUF, same prompt, same sampler: tokens/s ratio (target >= 0.95), added time to
first token (target <= 20 ms; it includes the hop to the engine host's process), and the
resident memory of the server and its engine host with the chat model loaded (target
<= 400 MB)."""

from __future__ import annotations

import statistics
import time

PROMPT = "Write a long story about a brave dragon who learns to cook."
TOKENS = 128
ROUNDS = 15


def _direct(llama, tokens: list[int]) -> tuple[float, float, int]:
    """(ttft s, tokens/s, count) for the engine's own streaming completion."""
    from localllm_nb.embedded.engine.llama import sampling
    from localllm_nb.embedded.engine.options import Options

    body = {
        **sampling(Options(temperature=0, seed=1)),
        "prompt": tokens,
        "n_predict": TOKENS,
        "cache_prompt": False,  # the server run pays a full prompt eval too
    }
    stamps = []

    def on_chunk(chunk: dict) -> bool:
        if chunk["choices"][0].get("text"):
            stamps.append(time.perf_counter())
        return False

    start = time.perf_counter()
    llama.handle_completions({**body, "stream": True}, on_chunk)
    end = time.perf_counter()
    first, count = stamps[0], len(stamps)
    return first - start, (count - 1) / (end - first), count


def streamed_generate(client, model: str, prompt: str, **extra) -> tuple[float, float, int, int]:
    """(ttft s, tokens/s, count, logprob entries) seen by ollama-python streaming from the
    server; `extra` goes to the request (`logprobs`, `top_logprobs`)."""
    start = time.perf_counter()
    first = None
    final = None
    entries = 0
    for part in client.generate(
        model=model,
        prompt=prompt,
        raw=True,
        stream=True,
        options={"temperature": 0, "num_predict": TOKENS, "seed": 1},
        **extra,
    ):
        if first is None and part.response:
            first = time.perf_counter()
        entries += len(part.logprobs or [])
        final = part
    end = time.perf_counter()
    count = final.eval_count
    return first - start, (count - 1) / (end - first), count, entries


def run() -> dict:
    import httpx
    import ollama
    import xllamacpp as xlc

    from localllm_nb.embedded import start_server
    from localllm_nb.embedded.engine.host import engine_params
    from localllm_nb.embedded.engine.llama import default_threads
    from localllm_nb.embedded.engine.options import PROMPT_BATCH
    from localllm_nb.embedded.engine.templates import render_chat
    from localllm_nb.embedded.models.registry import SMOLLM2
    from tests.processes import server_memory

    prompt = render_chat(SMOLLM2.template, [{"role": "user", "content": PROMPT}])
    server = start_server()
    llama = None
    try:
        client = ollama.Client(host=server.url)
        # Clear the server's prompt cache between rounds by alternating with another prompt.
        other = render_chat(SMOLLM2.template, [{"role": "user", "content": "Hi"}])
        client.generate(model="smollm2", prompt=other, raw=True, options={"num_predict": 1})
        # The engine in this process, as the server's engine host runs it (with the
        # prompt threads the server chose), without the hop between the two processes.
        threads = default_threads()
        batch = httpx.get(server.url + "/api/ps").json()["models"][0]["num_thread_batch"]
        config = {
            **{"model_path": str(SMOLLM2.path()), "n_ctx": 4096, "parallel": 1},
            **{"threads": threads, "batch_threads": batch, "n_batch": PROMPT_BATCH},
            **{"embedding": False, "pooled": True, "api_key": "bench", "http_threads": 2},
        }
        params = engine_params(xlc, config)
        params.verbosity = -1
        llama = xlc.Server(params)
        tokens = httpx.post(
            llama.listening_address + "/tokenize",
            json={"content": prompt, "add_special": True, "parse_special": True},
            headers={"Authorization": "Bearer bench"},
            trust_env=False,
        ).json()["tokens"]
        direct, served = [], []
        for i in range(ROUNDS):
            # Alternate which side goes first, so neither always runs on a warmer machine.
            if i % 2:
                client.generate(model="smollm2", prompt=other, raw=True, options={"num_predict": 1})
                served.append(streamed_generate(client, "smollm2", prompt))
                direct.append(_direct(llama, tokens))
            else:
                direct.append(_direct(llama, tokens))
                client.generate(model="smollm2", prompt=other, raw=True, options={"num_predict": 1})
                served.append(streamed_generate(client, "smollm2", prompt))
        rss_mb = server_memory(server.process.pid)[0] / 2**20
    finally:
        server.stop()
        llama = None  # frees the direct engine
    d_ttft = statistics.median(x[0] for x in direct)
    s_ttft = statistics.median(x[0] for x in served)
    d_tps = statistics.median(x[1] for x in direct)
    s_tps = statistics.median(x[1] for x in served)
    # The machine's speed drifts between rounds more than the server costs: compare
    # within each interleaved pair, then take the median.
    pairs = list(zip(direct, served, strict=True))
    tps_ratio = statistics.median(sv[1] / dr[1] for dr, sv in pairs)
    added_ttft = statistics.median(sv[0] - dr[0] for dr, sv in pairs)
    return {
        "tokens": TOKENS,
        "direct_tokens_per_s": round(d_tps, 1),
        "server_tokens_per_s": round(s_tps, 1),
        "tokens_per_s_ratio": round(tps_ratio, 3),
        "tokens_per_s_ratio_of_medians": round(s_tps / d_tps, 3),
        "tokens_per_s_target": ">= 0.95",
        "direct_ttft_ms": round(d_ttft * 1000, 1),
        "server_ttft_ms": round(s_ttft * 1000, 1),
        "added_ttft_ms": round(added_ttft * 1000, 1),
        "added_ttft_target": "<= 20 ms",
        "server_rss_mb": round(rss_mb, 1),
        "server_rss_target": "<= 400 MB",
    }
