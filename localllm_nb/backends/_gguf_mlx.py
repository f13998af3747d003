"""Convert a llama-architecture GGUF file into an MLX model directory.

The directory is what `mlx_lm.load` reads: `config.json`, `model.safetensors`,
`tokenizer.json`, `tokenizer_config.json` (with a chat template that renders tools)
and `generation_config.json`. Nothing is dequantized: `mx.load` already maps GGUF's
Q4_0/Q4_1/Q8_0 blocks onto MLX's affine quantization (same group size, scales and
biases), so the weights are renamed, Q/K rows are un-permuted, and saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UnsupportedGGUF

# Bump when the directory layout changes, so cached conversions are redone.
CONVERTER_VERSION = 1

# GGUF tensor name -> Hugging Face llama name (the names mlx-lm's llama model uses).
_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}

# Tokens that end a turn in the chat formats we know, beside the GGUF's declared EOS.
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<|end_of_text|>")

# GGUF token types (llama.cpp's llama_token_type).
_TOKEN_CONTROL, _TOKEN_USER_DEFINED = 3, 4

# ChatML, as SmolLM2's own template, plus tool definitions, assistant tool calls and tool
# results in the Hermes/Qwen convention (<tool_call>/<tool_response>), which mlx-lm's
# `json_tools` parser recognises. The bundled model is not trained on it; the template
# makes tools reach the prompt so that larger ChatML models can use them.
CHATML_TOOLS_TEMPLATE = """\
{%- set default_system = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face' -%}
{%- if messages and messages[0]['role'] == 'system' -%}
{%- set system = messages[0]['content'] -%}{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set system = default_system -%}{%- set loop_messages = messages -%}
{%- endif -%}
<|im_start|>system
{{ system }}
{%- if tools %}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{%- endif %}<|im_end|>
{% for message in loop_messages -%}
{%- if message['role'] == 'tool' -%}
<|im_start|>user
<tool_response>
{{ message['content'] }}
</tool_response><|im_end|>
{% elif message['role'] == 'assistant' and message.get('tool_calls') -%}
<|im_start|>assistant
{%- if message['content'] %}
{{ message['content'] }}
{%- endif %}
{%- for call in message['tool_calls'] %}
{%- set tool_call = call['function'] if call.get('function') else call %}
<tool_call>
{"name": "{{ tool_call.name }}", "arguments": {% if tool_call.arguments is string %}{{ tool_call.arguments }}{% else %}{{ tool_call.arguments | tojson }}{% endif %}}
</tool_call>
{%- endfor %}<|im_end|>
{% else -%}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""


def _scalar(value: Any) -> Any:
    """GGUF metadata scalars arrive as 0-d mlx arrays; turn them into Python values."""
    return value.item() if hasattr(value, "item") else value


def _hf_name(gguf_name: str) -> str:
    stem, _, suffix = gguf_name.rpartition(".")  # suffix: weight, scales or biases
    if stem.startswith("blk."):
        _, layer, part = stem.split(".", 2)
        if part not in _LAYER_NAMES:
            raise UnsupportedGGUF(f"unknown tensor {gguf_name}")
        return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{suffix}"
    if stem not in _TOP_NAMES:
        raise UnsupportedGGUF(f"unknown tensor {gguf_name}")
    return f"{_TOP_NAMES[stem]}.{suffix}"


def _unpermute_rows(w, n_heads: int):
    """Undo llama.cpp's Q/K row permutation (interleaved rotary pairs -> halves).

    Rows are output features and quantization groups run along columns, so packed
    weights, scales and biases can all be reordered by rows alike. With the HF row
    order restored, the standard (non-traditional) RoPE of mlx-lm's llama applies.
    """
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _quantization(weights: dict, hidden: int, ffn: int) -> dict:
    """The mlx-lm `quantization` config entry: the commonest layout as the default and
    per-module entries where a tensor differs (the GGUF's 8-bit embedding table)."""
    layouts: dict[str, dict] = {}
    for name, scales in weights.items():
        if not name.endswith(".scales"):
            continue
        module = name[: -len(".scales")]
        packed = weights[f"{module}.weight"].shape[-1]
        in_dims = ffn if module.endswith("down_proj") else hidden
        layouts[module] = {
            "group_size": in_dims // scales.shape[-1],
            "bits": packed * 32 // in_dims,
        }
    if not layouts:
        return {}
    kinds = [tuple(sorted(v.items())) for v in layouts.values()]
    default = dict(max(set(kinds), key=kinds.count))
    config: dict[str, Any] = {**default, "mode": "affine"}
    config.update({m: {**v, "mode": "affine"} for m, v in layouts.items() if v != default})
    return config


def _build_tokenizer(meta: dict):
    """A byte-level BPE `tokenizers.Tokenizer` from GGUF metadata (GPT-2 style vocab)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise UnsupportedGGUF(f"tokenizer model {meta.get('tokenizer.ggml.model')!r}")
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    types = [int(t) for t in meta["tokenizer.ggml.token_type"].tolist()]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre == "smollm":
        # llama.cpp's "smollm" pre-tokenizer splits every digit before the GPT-2 regex.
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level]
        )
    elif pre in ("default", "gpt2"):
        tok.pre_tokenizer = byte_level
    else:
        raise UnsupportedGGUF(f"pre-tokenizer {pre!r}")
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t, kind in zip(tokens, types, strict=True)
            if kind == _TOKEN_CONTROL
        ]
    )
    tok.add_tokens(
        [
            AddedToken(t, special=False, normalized=False)
            for t, kind in zip(tokens, types, strict=True)
            if kind == _TOKEN_USER_DEFINED
        ]
    )
    return tok, tokens


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Write an MLX model directory for `gguf_path` into `out_dir` (which must exist).

    Raises `UnsupportedGGUF` for anything but a llama architecture with a GPT-2 BPE vocab.
    """
    import mlx.core as mx

    if _version_tuple(mx.__version__) < (0, 32):
        # Older mlx unpacks GGUF 4-bit blocks in another order: the model loads, then
        # writes garbage. Refuse rather than cache a broken conversion.
        raise RuntimeError(
            f"converting GGUF needs mlx >= 0.32 (found {mx.__version__}): "
            "pip install -U 'mlx>=0.32'"
        )
    weights, meta = mx.load(str(gguf_path), return_metadata=True)
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise UnsupportedGGUF(f"architecture {arch!r}")

    def param(key: str, default=None):
        return _scalar(meta.get(f"llama.{key}", default))

    hidden = int(param("embedding_length"))
    n_heads = int(param("attention.head_count"))
    n_kv = int(param("attention.head_count_kv", n_heads))
    ffn = int(param("feed_forward_length"))

    out: dict[str, Any] = {}
    for name, value in weights.items():
        hf = _hf_name(name)
        if ".q_proj." in hf:
            value = _unpermute_rows(value, n_heads)
        elif ".k_proj." in hf:
            value = _unpermute_rows(value, n_kv)
        out[hf] = value
    tied = "lm_head.weight" not in out

    tok, tokens = _build_tokenizer(meta)
    bos = int(_scalar(meta.get("tokenizer.ggml.bos_token_id", 1)))
    eos = int(_scalar(meta["tokenizer.ggml.eos_token_id"]))
    eos_ids = [eos] + [
        tokens.index(t) for t in _END_TOKENS if t in tokens and tokens.index(t) != eos
    ]
    pad = int(_scalar(meta.get("tokenizer.ggml.padding_token_id", eos)))

    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(param("block_count")),
        "intermediate_size": ffn,
        "num_attention_heads": n_heads,
        "num_key_value_heads": n_kv,
        "head_dim": int(param("rope.dimension_count", hidden // n_heads)),
        # GGUF stores float32; print it as the short decimal it was written as.
        "rms_norm_eps": float(f"{float(param('attention.layer_norm_rms_epsilon', 1e-5)):.7g}"),
        "vocab_size": len(tokens),
        "max_position_embeddings": int(param("context_length", 2048)),
        "rope_theta": float(param("rope.freq_base", 10000.0)),
        "rope_traditional": False,
        "tie_word_embeddings": tied,
        "bos_token_id": bos,
        "eos_token_id": eos_ids,
        "pad_token_id": pad,
        "localllm_nb": {"converted_from": gguf_path.name, "converter_version": CONVERTER_VERSION},
    }
    quant = _quantization(out, hidden, ffn)
    if quant:
        config["quantization"] = quant
        config["quantization_config"] = quant

    mx.save_safetensors(str(out_dir / "model.safetensors"), out, metadata={"format": "mlx"})
    tok.save(str(out_dir / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": tokens[bos],
        "eos_token": tokens[eos],
        "pad_token": tokens[pad],
        "unk_token": None,
        "add_bos_token": bool(_scalar(meta.get("tokenizer.ggml.add_bos_token", False))),
        "clean_up_tokenization_spaces": False,
        "model_max_length": config["max_position_embeddings"],
        "chat_template": CHATML_TOOLS_TEMPLATE
        if "<|im_start|>" in tokens
        else meta.get("tokenizer.chat_template"),
    }
    _write_json(out_dir / "tokenizer_config.json", tokenizer_config)
    _write_json(out_dir / "config.json", config)
    _write_json(
        out_dir / "generation_config.json",
        {"bos_token_id": bos, "eos_token_id": eos_ids, "pad_token_id": pad},
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    """Leading numeric parts of a version string.

    >>> _version_tuple("0.32.4.dev20250101")
    (0, 32, 4)
    """
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
