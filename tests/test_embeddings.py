"""Embeddings on the embedded server: all-minilm against sentence-transformers' own vectors,
Ollama's /api/embed and /api/embeddings semantics, and the unchanged clients over real HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest
from langchain_ollama import OllamaEmbeddings

from tests.models import CHAT, EMBED

MIN_COSINE = 0.999
REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8")
)
TEXTS = [item["text"] for item in REFERENCE["items"]]
LONG = next(item["text"] for item in REFERENCE["items"] if item["tokens"] == 256)


def unit(rows) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float64)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def reference(text: str) -> dict:
    return next(item for item in REFERENCE["items"] if item["text"] == text)


def cosines(vectors, texts) -> np.ndarray:
    ref = unit([reference(t)["vector"] for t in texts])
    return (unit(vectors) * ref).sum(axis=1)


def post(server_url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(server_url + path, json=body, timeout=300)


# --- fidelity --------------------------------------------------------------------------


def test_encoder_in_process_matches_sentence_transformers():
    from localllm_nb.embedded.embedder.minilm import MiniLMEncoder
    from localllm_nb.embedded.models.registry import ALL_MINILM

    encoder = MiniLMEncoder(ALL_MINILM.path())
    vectors, counts = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert cosines(vectors, TEXTS).min() >= MIN_COSINE
    assert counts == [item["tokens"] for item in REFERENCE["items"]]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    pooled, _ = encoder.encode(TEXTS, normalize=False)
    norms = [item["pooled_norm"] for item in REFERENCE["items"]]
    assert np.allclose(np.linalg.norm(pooled, axis=1), norms, rtol=1e-4)
    encoder.close()


def resident_kb(path: Path) -> int:
    """Resident kB of this process's maps of `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps", encoding="utf-8") as fh:
        for line in fh:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                inside = line.rstrip().endswith(str(path))
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_encoder_keeps_the_word_table_out_of_memory_between_requests():
    # The 45 MB word table is a map of the file, gathered by row; the pages a request
    # touched are dropped after it, and gathering them again gives the same vectors.
    from localllm_nb.embedded.embedder.minilm import MiniLMEncoder
    from localllm_nb.embedded.models.registry import ALL_MINILM

    weights = ALL_MINILM.path() / "model.safetensors"
    encoder = MiniLMEncoder(ALL_MINILM.path())
    assert resident_kb(weights) < 1024
    encoder.encode([f"item {k}" for k in range(0, 30_000, 30)])  # ~5,000 pages of rows
    assert resident_kb(weights) < 1024
    again, _ = encoder.encode(TEXTS)
    assert cosines(again, TEXTS).min() >= MIN_COSINE
    assert np.array_equal(encoder.encode(TEXTS)[0], again)
    encoder.close()


def test_embed_over_http_matches_sentence_transformers(client):
    reply = client.embed(EMBED, TEXTS)
    assert reply.model == EMBED and len(reply.embeddings) == len(TEXTS)
    assert cosines(reply.embeddings, TEXTS).min() >= MIN_COSINE
    assert reply.prompt_eval_count == sum(item["tokens"] for item in REFERENCE["items"])
    assert reply.total_duration >= reply.load_duration >= 0


# --- /api/embed --------------------------------------------------------------------------


def test_single_input_is_one_normalised_vector_equal_to_its_batch_row(client):
    text = "The quick brown fox jumps over the lazy dog."
    single = client.embed(EMBED, text).embeddings
    assert len(single) == 1 and len(single[0]) == 384
    assert np.linalg.norm(single[0]) == pytest.approx(1.0, abs=1e-6)
    batch = client.embed(EMBED, ["Hello world.", text, LONG]).embeddings
    assert np.allclose(single[0], batch[1], atol=1e-5)


@pytest.mark.parametrize("name", ["all-minilm:latest", "all-minilm:22m", "ALL-MiniLM"])
def test_every_name_of_the_model_gives_the_same_vectors(client, name):
    reply = client.embed(name, "Hello world.")
    assert reply.model == name
    assert cosines(reply.embeddings, ["Hello world."])[0] >= MIN_COSINE


def test_related_sentences_are_closer_than_unrelated_ones(client):
    cat, rug, stocks = unit(
        client.embed(
            EMBED,
            ["The cat sits on the mat.", "A kitten is lying on a rug.", "Stock markets fell."],
        ).embeddings
    )
    assert cat @ rug > cat @ stocks + 0.2


def test_truncate_cuts_long_input_and_false_refuses_it(client):
    reply = client.embed(EMBED, LONG)  # truncate defaults to true
    assert reply.prompt_eval_count == 256
    assert cosines(reply.embeddings, [LONG])[0] >= MIN_COSINE
    with pytest.raises(ollama.ResponseError) as err:
        client.embed(EMBED, ["short", LONG], truncate=False)
    assert err.value.status_code == 400
    assert err.value.error == "the input length exceeds the context length"
    assert len(client.embed(EMBED, "short", truncate=False).embeddings) == 1


def test_dimensions_truncates_then_renormalises(client):
    text = "Embeddings turn sentences into vectors."
    full = np.asarray(client.embed(EMBED, text).embeddings[0])
    cut = np.asarray(client.embed(EMBED, text, dimensions=64).embeddings[0])
    assert cut.shape == (64,)
    assert np.linalg.norm(cut) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(cut, full[:64] / np.linalg.norm(full[:64]), atol=1e-6)


def test_empty_input_gives_no_embeddings(server_url, client):
    assert client.embed(EMBED, "").embeddings == []
    assert client.embed(EMBED, []).embeddings == []
    reply = post(server_url, "/api/embed", {"model": EMBED})
    assert reply.status_code == 200 and reply.json()["embeddings"] == []
    # An empty string inside a list is still an input: [CLS] [SEP].
    assert cosines(client.embed(EMBED, [""]).embeddings, [""])[0] >= MIN_COSINE


@pytest.mark.parametrize("value", [42, [1, 2], ["ok", None], {"text": "x"}, True])
def test_wrong_input_type_is_400(server_url, value):
    reply = post(server_url, "/api/embed", {"model": EMBED, "input": value})
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid input type"}


def test_unknown_or_missing_model(server_url, client):
    with pytest.raises(ollama.ResponseError) as err:
        client.embed("no-such-model", "hi")
    assert (err.value.status_code, err.value.error) == (404, "model 'no-such-model' not found")
    reply = post(server_url, "/api/embed", {"input": "hi"})
    assert reply.status_code == 400 and reply.json() == {"error": "model is required"}


# --- /api/embeddings (legacy) ----------------------------------------------------------------


def test_legacy_embeddings_are_the_pooled_vector_before_normalisation(client):
    text = "Photosynthesis converts light energy into chemical energy"
    text = next(t for t in TEXTS if t.startswith(text))
    vector = np.asarray(client.embeddings(model=EMBED, prompt=text).embedding)
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(reference(text)["pooled_norm"], rel=1e-4)
    assert cosines([vector], [text])[0] >= MIN_COSINE
    assert client.embeddings(model=EMBED, prompt="").embedding == []


def test_legacy_embeddings_unknown_model(client):
    with pytest.raises(ollama.ResponseError) as err:
        client.embeddings(model="no-such-model", prompt="hi")
    assert err.value.status_code == 404
    assert err.value.error == 'model "no-such-model" not found, try pulling it first'


# --- the model as /api/show and the generation routes see it ---------------------------------


def test_show_reports_embedding_capability_and_bert_metadata(client):
    shown = client.show(EMBED)
    assert shown.capabilities == ["embedding"]
    info = shown.modelinfo
    assert info["general.architecture"] == "bert"
    assert info["bert.embedding_length"] == 384
    assert info["bert.context_length"] == 512
    assert info["bert.block_count"] == 6
    assert info["bert.attention.head_count"] == 12
    assert info["bert.attention.layer_norm_epsilon"] == pytest.approx(1e-12)
    assert 20_000_000 < info["general.parameter_count"] < 25_000_000
    assert shown.details.family == "bert"


def test_chat_and_generate_are_refused(client):
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(EMBED, messages=[{"role": "user", "content": "hi"}])
    assert (err.value.status_code, err.value.error) == (400, '"all-minilm" does not support chat')
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(EMBED, "hi")
    assert (err.value.status_code, err.value.error) == (
        400,
        '"all-minilm" does not support generate',
    )


def test_keep_alive_zero_unloads_after_embedding(client):
    client.embed(EMBED, "load me", keep_alive=0)
    assert EMBED not in {m.model for m in client.ps().models}
    client.embed(EMBED, "load me")
    assert EMBED in {m.model for m in client.ps().models}


def test_encoding_does_not_block_the_event_loop(server_url, client):
    client.embed(EMBED, "load me")  # loaded: the batch below is all encoding
    texts = [f"Sentence number {i} about the weather in city {i % 40}." for i in range(200)]
    # Two numbers per vector: the reply is sent at once, so the batch's total_duration
    # is the time the server spent on it until just before the reply arrived.
    body = {"model": EMBED, "input": texts, "dimensions": 2}
    batch = {}

    def embed() -> None:
        reply = post(server_url, "/api/embed", body)
        batch.update(returned=time.perf_counter(), total=reply.json()["total_duration"] / 1e9)

    worker = threading.Thread(target=embed)
    worker.start()
    probes = []  # (sent, answered) of /api/version, back to back while the batch runs
    with httpx.Client(timeout=300) as http:
        while worker.is_alive():
            sent = time.perf_counter()
            assert http.get(server_url + "/api/version").status_code == 200
            probes.append((sent, time.perf_counter()))
    worker.join()
    # The server began the batch no later than `begun`. A probe sent after its first
    # quarter and answered before its half was served while it encoded: were the encoder
    # on the event loop, every probe sent in that time would wait for the batch's end.
    begun, total = batch["returned"] - batch["total"], batch["total"]
    during = [p for p in probes if p[0] >= begun + total / 4 and p[1] <= begun + total / 2]
    assert during, (batch, len(probes), probes[:3])


# --- a chat model embeds too, as Ollama allows -----------------------------------------------


def test_chat_model_embeds(client):
    reply = client.embed(CHAT, ["Hello world.", "The cat sits on the mat."])
    assert reply.model == CHAT and len(reply.embeddings) == 2
    vectors = np.asarray(reply.embeddings)
    assert vectors.shape == (2, 576)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert reply.prompt_eval_count > 0
    again = np.asarray(client.embed(CHAT, "Hello world.").embeddings[0])
    assert np.allclose(again, vectors[0], atol=1e-4)
    legacy = np.asarray(client.embeddings(model=CHAT, prompt="Hello world.").embedding)
    assert not np.isclose(np.linalg.norm(legacy), 1.0)
    assert np.allclose(legacy / np.linalg.norm(legacy), vectors[0], atol=1e-4)


def test_chat_model_vectors_agree_between_its_two_instances(client):
    # Short inputs are pooled by the generating instance, a batch with a long one by a
    # second instance in embedding mode (engine.SHARED_EMBED_TOKENS): same vectors.
    short = ["Hello world.", "The cat sits on the mat."]
    alone = np.asarray(client.embed(CHAT, short).embeddings)
    reply = client.embed(CHAT, [*short, LONG])
    assert reply.prompt_eval_count > 64  # the long input took the second instance
    assert np.allclose(np.asarray(reply.embeddings[:2]), alone, atol=1e-4)


def test_chat_model_embeds_at_most_512_tokens_per_input(client):
    # llama.cpp keeps logits for every token it pools (~0.4 MB each): inputs are cut at
    # 512 tokens (a 2,000-token input took the server to 1.24 GB), or refused.
    words = "word " * 1200
    short = client.embed(CHAT, "a cat").prompt_eval_count
    reply = client.embed(CHAT, [words, "a cat"])
    assert reply.prompt_eval_count == 512 + short
    cut = np.asarray(reply.embeddings[0])
    assert np.allclose(cut, client.embed(CHAT, "word " * 600).embeddings[0], atol=1e-4)
    with pytest.raises(ollama.ResponseError) as err:
        client.embed(CHAT, words, truncate=False)
    assert err.value.status_code == 400
    assert err.value.error == "the input length exceeds the context length"


# --- langchain-ollama ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lc_embeddings(server_url) -> OllamaEmbeddings:
    return OllamaEmbeddings(model=EMBED, base_url=server_url)


def test_langchain_embed_query_and_documents(lc_embeddings):
    query = lc_embeddings.embed_query("Hello world.")
    assert len(query) == 384 and cosines([query], ["Hello world."])[0] >= MIN_COSINE
    docs = lc_embeddings.embed_documents(TEXTS[:6])
    assert len(docs) == 6 and cosines(docs, TEXTS[:6]).min() >= MIN_COSINE


def test_langchain_async_embed_query_and_documents(lc_embeddings):
    async def both():
        return await asyncio.gather(
            lc_embeddings.aembed_query("Hello world."),
            lc_embeddings.aembed_documents(TEXTS[6:12]),
        )

    query, docs = asyncio.run(both())
    assert cosines([query], ["Hello world."])[0] >= MIN_COSINE
    assert len(docs) == 6 and cosines(docs, TEXTS[6:12]).min() >= MIN_COSINE
