"""The bundled GGUF converted to an MLX directory: cache behaviour, tokenizer and weights
checked against llama.cpp on the same file."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("mlx_lm")

from localllm_nb.backends._mlx_bundled import bundled_model_path, mlx_model_cache_dir
from localllm_nb.embedded.models.fetch import CACHE_ENV
from localllm_nb.embedded.models.registry import SMOLLM2_GGUF

# Teacher forcing: a chat turn, prose, code and facts, each fed whole to both engines.
TEACHER_PROMPTS = [
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    "<|im_start|>assistant\nThe capital of France is Paris. It is known for the Eiffel Tower.",
    "Once upon a time, there was a little girl who lived in a village near the forest. "
    "Whenever she went out, the little girl wore a red riding cloak.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "The mitochondria is the powerhouse of the cell. Photosynthesis converts light energy "
    "into chemical energy stored in glucose.",
]

TOKENIZER_TEXTS = [
    "What is the capital of France?",
    "Héllo wörld — naïve café 日本語 🙂 12345 + 678 = 13023",
    "  leading spaces\tand\ttabs\n\nnewlines   ",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
]


@pytest.fixture(scope="module")
def mlx_dir(mlx_cache):
    """The converted bundled model, in this test session's own cache root."""
    return bundled_model_path()


@pytest.fixture(scope="module")
def mlx_model(mlx_dir):
    from localllm_nb.backends._mlx_generate import load_model

    return load_model(str(mlx_dir))


@pytest.fixture(scope="module")
def llama():
    """llama.cpp on the same GGUF, through the embedded server's engine (xllamacpp)."""
    pytest.importorskip("xllamacpp")
    from localllm_nb.embedded.engine.instance import LlamaInstance

    instance = LlamaInstance(
        str(SMOLLM2_GGUF.locate()), n_ctx=512, threads=1
    )  # tests run 2 at a time
    yield instance
    instance.close()


def llama_argmax(llama, ids: list[int]) -> np.ndarray:
    """llama.cpp's most likely next token after each prefix of `ids`: greedy decoding of one
    token (temperature 0 picks the argmax of the logits). The prompt cache makes each
    prefix cost one token's evaluation."""
    out = []
    for i in range(1, len(ids) + 1):
        reply = llama.completion(
            {"prompt": ids[:i], "n_predict": 1, "temperature": 0, "n_probs": 1}
        )
        (token,) = reply["choices"][0]["logprobs"]["content"]  # end-of-turn tokens included
        out.append(token["id"])
    return np.array(out)


def test_directory_layout(mlx_dir):
    names = {p.name for p in mlx_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((mlx_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["tie_word_embeddings"] is True
    # GGUF Q4_1 everywhere, but the embedding table stays 8-bit; both in groups of 32.
    quant = config["quantization"]
    assert (quant["bits"], quant["group_size"]) == (4, 32)
    assert quant["model.embed_tokens"]["bits"] == 8
    assert config["eos_token_id"] == [2, 0]  # <|im_end|> and <|endoftext|>
    template = json.loads((mlx_dir / "tokenizer_config.json").read_text())["chat_template"]
    assert "<|im_start|>" in template and "tools" in template


def test_converted_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = bundled_model_path()
    assert first.parent == tmp_path / "mlx"
    stamp = (first / "model.safetensors").stat().st_mtime_ns

    def fail(*args):
        raise AssertionError("converted twice")

    monkeypatch.setattr("localllm_nb.backends._gguf_mlx.convert_gguf", fail)
    assert bundled_model_path() == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp dirs left


def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))

    def half_write(gguf, out):
        (out / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr("localllm_nb.backends._gguf_mlx.convert_gguf", half_write)
    with pytest.raises(OSError, match="disk full"):
        bundled_model_path()
    assert list((tmp_path / "mlx").iterdir()) == []


def test_path_without_converting(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    path = bundled_model_path(convert=False)
    assert not path.exists() and path.parent == mlx_model_cache_dir()


def test_tokenizer_matches_llama_cpp(mlx_model, llama):
    _, tokenizer = mlx_model
    for text in TOKENIZER_TEXTS:
        ours = tokenizer.encode(text, add_special_tokens=False)
        assert ours == llama.tokenize(text, add_bos=False), text
        assert tokenizer.decode(ours) == text


def test_teacher_forcing_agrees_with_llama_cpp(mlx_model, llama):
    import mlx.core as mx

    model, tokenizer = mlx_model
    agree = total = 0
    for prompt in TEACHER_PROMPTS:
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        ours = np.array(mx.argmax(model(mx.array(ids)[None])[0], axis=-1))
        theirs = llama_argmax(llama, ids)
        agree += int((ours == theirs).sum())
        total += len(ids)
    assert agree / total >= 0.90, f"argmax agreement {agree}/{total}"


def test_old_mlx_refuses_to_convert(tmp_path, monkeypatch):
    import mlx.core as mx

    from localllm_nb.backends._gguf_mlx import convert_gguf

    monkeypatch.setattr(mx, "__version__", "0.31.2")
    with pytest.raises(RuntimeError, match=r"mlx >= 0.32"):
        convert_gguf(SMOLLM2_GGUF.locate(), tmp_path)
    assert list(tmp_path.iterdir()) == []
