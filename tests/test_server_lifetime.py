"""A model is never freed while a request uses it or waits for it (issue 15's crashes).

Each test drives its own embedded server over real HTTP with overlapping requests that
change the context size, unload the model or let its keep-alive run out mid-work, and
then checks that every request got its whole answer and the server still answers.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from localllm_nb.embedded import start_server
from localllm_nb.embedded.engine.llama import EMBEDDER_IDLE
from tests.models import CHAT, EMBED
from tests.processes import engine_host, server_processes


@pytest.fixture(scope="module")
def server():
    server = start_server()
    yield server
    server.stop()


def chat(url: str, prompt: str, keep_alive=None, started=None, **options) -> dict:
    """A streamed chat: its text and last line (an `error` line if the server sent one).
    `started` (an Event) is set when the first line arrives."""
    body = {"model": CHAT, "messages": [{"role": "user", "content": prompt}], "options": options}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    with httpx.stream("POST", url + "/api/chat", json=body, timeout=300) as resp:
        assert resp.status_code == 200, resp.read()
        lines = []
        for raw in resp.iter_lines():
            if raw:
                lines.append(json.loads(raw))
                if started is not None:
                    started.set()
    text = "".join(x.get("message", {}).get("content", "") for x in lines)
    return {"text": text, "last": lines[-1]}


def alive(url: str) -> bool:
    return httpx.get(url + "/api/version", timeout=10).status_code == 200


def loaded(url: str) -> list[dict]:
    """The chat model's row in /api/ps, if it is loaded (embedding tests load others)."""
    models = httpx.get(url + "/api/ps", timeout=10).json()["models"]
    return [m for m in models if m["name"] == CHAT]


def test_overlapping_chats_with_alternating_num_ctx_all_finish(server):
    # Was a segfault within ~3 s: a num_ctx change closed the model under a running chat.
    sizes = [4096, 2048, 4096, 2048]
    with ThreadPoolExecutor(len(sizes)) as pool:
        answers = list(
            pool.map(
                lambda n: chat(server.url, "Count to five.", num_ctx=n, num_predict=24, seed=1),
                sizes,
            )
        )
    for answer in answers:
        assert answer["last"].get("done") is True, answer["last"]
        assert answer["last"]["eval_count"] > 0
    assert alive(server.url)
    (model,) = loaded(server.url)
    assert model["context_length"] in (2048, 4096)


@pytest.mark.parametrize("model", [CHAT, EMBED])
def test_embeddings_with_alternating_num_ctx_do_not_fail_each_other(server, model):
    # Was "model ... was unloaded" for one of each pair.
    sizes = [512, 256] * 3 if model == EMBED else [2048, 1024] * 3

    def embed(num_ctx: int):
        return httpx.post(
            server.url + "/api/embed",
            json={"model": model, "input": ["a cat", "a dog"], "options": {"num_ctx": num_ctx}},
            timeout=300,
        )

    with ThreadPoolExecutor(len(sizes)) as pool:
        replies = list(pool.map(embed, sizes))
    for reply in replies:
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["embeddings"]) == 2
    assert alive(server.url)


def gguf_mappings(pid: int) -> int:
    """How many times the chat model's weights are mapped into the server's processes."""
    from localllm_nb.embedded.models.registry import SMOLLM2

    path = str(SMOLLM2.path())
    count = 0
    for proc in server_processes(pid):
        with open(f"/proc/{proc.pid}/maps", encoding="utf-8") as fh:
            count += sum(1 for line in fh if line.rstrip().endswith(path))
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
def test_chat_model_embeddings_map_its_weights_again_only_for_long_inputs(server):
    # A second instance maps the 94 MB GGUF again (RSS counts it twice): short inputs
    # use the generating instance; the second one is freed once idle.
    def embed(texts):
        reply = httpx.post(
            server.url + "/api/embed", json={"model": CHAT, "input": texts}, timeout=300
        )
        assert reply.status_code == 200, reply.text

    embed(["a cat"])
    pid = server.process.pid
    base = gguf_mappings(pid)
    assert base >= 1
    embed(["a cat", "a dog on a mat"])
    assert gguf_mappings(pid) == base
    embed(["a cat", "word " * 200])
    assert gguf_mappings(pid) > base
    deadline = time.monotonic() + EMBEDDER_IDLE + 30
    while gguf_mappings(pid) > base and time.monotonic() < deadline:
        time.sleep(1)
    assert gguf_mappings(pid) == base
    assert alive(server.url)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP")
def test_the_server_answers_while_its_engine_loads_a_model(server):
    # xllamacpp's constructor holds the GIL for the whole load: in the server's own
    # process that froze every client 0.4-0.9 s per load. Loads run in the engine host;
    # with the host frozen while a request waits for a reload, the server still answers.
    assert chat(server.url, "Hi", num_predict=1)["last"]["done"] is True
    host = engine_host(server.process.pid)
    assert host is not None, "llama.cpp runs outside an engine host"
    assert host.pid != server.process.pid
    result = {}
    os.kill(host.pid, signal.SIGSTOP)
    try:
        worker = threading.Thread(
            target=lambda: result.update(chat(server.url, "Hi", num_predict=2, num_ctx=1536))
        )
        worker.start()
        worker.join(timeout=1)  # on its way to the frozen engine
        assert alive(server.url)
        assert httpx.get(server.url + "/api/ps", timeout=10).status_code == 200
        assert worker.is_alive()  # nothing of its answer can come from a frozen engine
    finally:
        os.kill(host.pid, signal.SIGCONT)
    worker.join(timeout=300)
    assert result["last"]["done"] is True
    assert loaded(server.url)[0]["context_length"] == 1536
    assert engine_host(server.process.pid).pid == host.pid  # one host for every load


def test_unload_during_a_stream_waits_for_it_to_end(server):
    # `keep_alive: 0` used to free the model 30 s into a running request: segfault.
    result, started = {}, threading.Event()
    worker = threading.Thread(
        target=lambda: result.update(
            chat(server.url, "Tell me a story.", started=started, num_predict=160)
        )
    )
    worker.start()
    assert started.wait(timeout=120)
    reply = httpx.post(
        server.url + "/api/generate", json={"model": CHAT, "keep_alive": 0}, timeout=60
    )
    assert reply.json()["done_reason"] == "unload"
    worker.join(timeout=300)
    assert result["last"].get("done") is True, result["last"]
    assert result["last"]["eval_count"] > 0
    # Then the model goes, as soon as the stream gave it back.
    deadline = time.time() + 30
    while loaded(server.url) and time.time() < deadline:
        time.sleep(0.2)
    assert loaded(server.url) == []
    assert alive(server.url)


def test_keep_alive_never_expires_under_queued_work(server):
    # Two requests with a 1 s keep-alive: the first ends, the second still runs past
    # the first one's expiry (and past the 5 s reaper), and /api/ps asked meanwhile
    # runs the reaper again. Was: the model freed under the second request.
    started = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(
            chat, server.url, "Hi.", keep_alive="1s", started=started, num_predict=4
        )
        assert started.wait(timeout=120)
        second = pool.submit(
            chat,
            server.url,
            "List the numbers from 1 to 1000, separated by commas: 1, 2, 3, 4, 5,",
            keep_alive="1s",
            num_predict=500,
            temperature=0,
        )
        first.result(timeout=300)
        seen_while_running = []
        while not second.done():
            seen_while_running.append(len(loaded(server.url)))
            time.sleep(0.5)
        answer = second.result()
    assert answer["last"].get("done") is True, answer["last"]
    assert seen_while_running and all(n == 1 for n in seen_while_running)
    deadline = time.time() + 30
    while loaded(server.url) and time.time() < deadline:
        time.sleep(0.5)
    assert loaded(server.url) == [], "the keep-alive should run out once the work ended"


def test_requests_abandoned_while_waiting_for_a_reload_give_their_turn_back(server):
    # A request waiting for another context size, whose client leaves before the first
    # byte, must neither keep the model (later reloads would wait forever) nor take its
    # turn later and reload the model for nobody.
    long = threading.Thread(
        target=chat, args=(server.url, "Tell me a story."), kwargs={"num_predict": 120}
    )
    long.start()
    time.sleep(0.3)
    body = {"model": CHAT, "messages": [{"role": "user", "content": "Hi"}]}
    for stream in (True, False):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                server.url + "/api/chat",
                json={**body, "stream": stream, "options": {"num_ctx": 1024}},
                timeout=httpx.Timeout(0.5, connect=5),
            )
    long.join(timeout=300)
    answer = chat(server.url, "Hi", num_ctx=1536, num_predict=4)
    assert answer["last"].get("done") is True
    # The abandoned requests gave up their turn: nothing reloads the model after this.
    assert [m["context_length"] for m in loaded(server.url)] == [1536]


def test_json_mode_answer_that_crashed_the_server(server):
    # Reproduced 2 of 2 on the first engine (SIGSEGV): keep the exact request.
    reply = httpx.post(
        server.url + "/api/chat",
        json={
            "model": CHAT,
            "format": "json",
            "stream": False,
            "options": {"temperature": 0, "num_predict": 400},
            "messages": [{"role": "user", "content": "Give a JSON object describing a cat."}],
        },
        timeout=300,
    )
    assert reply.status_code == 200, reply.text
    assert isinstance(json.loads(reply.json()["message"]["content"]), dict)
    assert reply.json()["done_reason"] in ("stop", "length")
    assert alive(server.url)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL, /proc")
def test_an_engine_host_that_dies_ends_its_streams_and_the_next_request_reloads(server):
    # Killed (the OOM killer, a crash in llama.cpp): the server lives on. A stream
    # running in it ends with an error line that says what happened, and the next
    # request loads the model again in a new host instead of failing until the
    # keep-alive runs out.
    assert chat(server.url, "Hi", num_predict=1)["last"]["done"] is True
    host = engine_host(server.process.pid)
    result, started = {}, threading.Event()
    worker = threading.Thread(
        target=lambda: result.update(
            chat(server.url, "Tell me a long story.", started=started, num_predict=400)
        )
    )
    worker.start()
    assert started.wait(120)
    os.kill(host.pid, signal.SIGKILL)
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert "engine process ended" in result["last"]["error"]
    again = chat(server.url, "Hi", num_predict=2)
    assert again["last"]["done"] is True and again["text"]
    assert engine_host(server.process.pid).pid != host.pid
    assert "Traceback" not in server.log()


def test_sigterm_ends_running_streams_with_an_error_line_and_then_the_server():
    own = start_server()
    try:
        results = [{}, {}]
        started = threading.Event()

        def run(i: int) -> None:
            try:
                results[i].update(
                    chat(own.url, "Count from 1 to 1000.", started=started, num_predict=2000)
                )
            except httpx.HTTPError as exc:  # a connection cut without a last line
                results[i]["failure"] = repr(exc)

        workers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for worker in workers:  # the second one waits in the queue behind the first
            worker.start()
        assert started.wait(timeout=120)
        own.process.send_signal(signal.SIGTERM)
        own.process.wait(timeout=60)  # bounded: was ignored while the server was stalled
        for worker in workers:
            worker.join(timeout=60)
    finally:
        own.stop()
    for result in results:
        assert "failure" not in result, result
        assert result["last"] == {"error": "server is shutting down"}
    # uvicorn ends by re-raising the signal it caught: the conventional status.
    assert own.process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in own.log()
