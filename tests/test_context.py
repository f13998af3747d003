"""Context use per run: prompt + generated tokens against num_ctx, and a prompt cut to
fit, reported explicitly by the embedded server and inferred from counts otherwise."""

from __future__ import annotations

import httpx

from localllm_nb import ModelSpec, RunHistory, stream_run
from localllm_nb.run import RunRecorder
from localllm_nb.run.chunks import ChunkParts
from localllm_nb.widgets import StreamView

CHAT = "smollm2:135m"


def long_history(n: int = 8) -> list[tuple[str, str]]:
    turns = [("system", "You are terse.")]
    for i in range(n):
        turns += [("human", f"Fact {i}: the sky has {i} clouds, each far away."), ("ai", "Noted.")]
    return [*turns, ("human", "How many clouds?")]


def spec(server_url: str, **params) -> ModelSpec:
    return ModelSpec(model=CHAT, base_url=server_url, temperature=0, num_predict=6, **params)


def test_a_history_that_fits_fills_part_of_the_context(server_url):
    run = stream_run(spec(server_url, num_ctx=2048), long_history())
    use = run.context
    assert use.limit == 2048 and not use.truncated and use.explicit
    assert use.used == run.stats.prompt_tokens + run.stats.eval_tokens > 0
    assert use.needed == use.prompt_tokens and 0 < use.fraction < 0.5


def test_a_history_too_long_is_cut_and_said_so(server_url):
    run = stream_run(spec(server_url, num_ctx=128), long_history())
    use = run.context
    assert use.truncated and use.explicit and use.limit == 128
    assert use.needed > use.prompt_tokens and use.used <= 128
    assert f"needed {use.needed} tokens and was cut to {use.prompt_tokens}" in use.message()


def test_the_server_reports_the_cut_in_headers_and_final_line(server_url):
    messages = [
        {"role": "user" if r == "human" else r.replace("ai", "assistant"), "content": c}
        for r, c in long_history()
    ]
    body = {"model": CHAT, "messages": messages, "stream": False}
    cut = httpx.post(
        server_url + "/api/chat", json={**body, "options": {"num_ctx": 128}}, timeout=120
    )
    whole = httpx.post(
        server_url + "/api/chat", json={**body, "options": {"num_ctx": 2048}}, timeout=120
    )
    report = cut.json()["prompt_truncated"]
    assert report["prompt_tokens"] == int(cut.headers["x-prompt-tokens"])
    assert report["kept_tokens"] == cut.json()["prompt_eval_count"] < report["prompt_tokens"]
    assert report["dropped_messages"] >= 2 and report["num_ctx"] == 128
    # A prompt that fits keeps Ollama's shape: no extra field in the line.
    assert "prompt_truncated" not in whole.json() and whole.headers["x-num-ctx"] == "2048"
    assert int(whole.headers["x-prompt-tokens"]) == whole.json()["prompt_eval_count"]


def test_a_long_generate_prompt_is_cut_too(server_url):
    llm = ModelSpec(model=CHAT, kind="llm", base_url=server_url, num_ctx=64, num_predict=4)
    use = stream_run(llm, "tell me about clouds " * 40).context
    assert use.truncated and use.needed > use.prompt_tokens and use.limit == 64


def test_the_limit_comes_from_the_server_when_the_spec_sets_none(server_url):
    run = stream_run(spec(server_url), "Hi")
    shown = httpx.post(server_url + "/api/show", json={"model": CHAT}).json()["parameters"]
    assert f"num_ctx {run.context.limit}" in " ".join(shown.split())


def test_without_the_servers_report_a_full_context_is_inferred_cut():
    # A real Ollama returns only counts (no Ollama server can run here): fed as it sends them.
    def ollama_run(prompt: int, generated: int):
        recorder = RunRecorder(model_name=CHAT, spec=ModelSpec(model=CHAT, num_ctx=2048))
        recorder.start()
        recorder.feed(
            ChunkParts(
                content="ok",
                metadata={
                    "prompt_eval_count": prompt,
                    "eval_count": generated,
                    "done_reason": "stop",
                },
            )
        )
        recorder.finish()
        return recorder.run.context

    full, roomy = ollama_run(2040, 8), ollama_run(300, 8)
    assert full.truncated and not full.explicit and "probably cut" in full.message()
    assert not roomy.truncated and roomy.used == 308 and roomy.limit == 2048


def test_stream_view_shows_the_fill_and_the_cut(server_url):
    view = StreamView(spec(server_url, num_ctx=128))
    view.history = RunHistory()
    view.run(long_history())
    view.wait(120)
    assert view.context["truncated"] and view.context["limit"] == 128
    assert "was cut to" in view.context["message"]
    snapshot = view.display_bundle()["text/html"]
    assert 'class="llnb-context" data-truncated="true"' in snapshot
    view.run("Hi")
    view.wait(120)
    assert not view.context["truncated"] and 0 < view.context["fraction"] < 1


def test_a_chat_view_warns_before_the_conversation_outgrows_the_context(server_url):
    # Size the context from a first run so the same answer fills about 90% of it.
    turn = "Here are my notes. " + " ".join(f"Note {i}: clouds are far." for i in range(12))
    probe = stream_run(spec(server_url, num_ctx=2048), [("human", turn)]).context
    num_ctx = -(-probe.used * 10 // 9)
    chat = StreamView(spec(server_url, num_ctx=num_ctx), chat=True)
    chat.run(turn)
    chat.wait(120)
    assert chat.context["near_full"] and not chat.context["truncated"]
    assert "the next turns will drop the oldest messages" in chat.context["message"]
    single = StreamView(spec(server_url, num_ctx=num_ctx))  # one-off runs: no warning
    single.run(turn)
    single.wait(120)
    assert not single.context["near_full"] and single.context["used"] == probe.used
