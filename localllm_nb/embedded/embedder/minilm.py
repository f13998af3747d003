"""all-MiniLM-L6-v2 in numpy: the 6-layer BERT encoder sentence-transformers runs, without torch.

The model directory is the one sentence-transformers loads (safetensors weights, tokenizer.json,
config.json, 1_Pooling/config.json, modules.json). The forward pass follows Hugging Face's
`BertModel` in float32; pooling and normalisation follow the directory's own module list.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..engine.threads import default_threads
from .blas import single_threaded_blas

# Tokens per forward batch (rows x padded length). Small enough that the [tokens, 1536]
# intermediate stays near cache size, large enough that matmuls run at full speed.
TOKEN_BUDGET = 2048
MAX_BATCH = 128
GELU_ROWS = 256  # tokens per GELU step: its [rows, 1536] temporaries stay near cache size


class InputTooLong(ValueError):
    """An input has more tokens than the model's context and truncation was refused."""


_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(
    np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)


def gelu_(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), computed in place on float32 `x` and returned.

    numpy has no erf and scipy is not a dependency, so erf comes from Abramowitz & Stegun
    7.1.26 (absolute error <= 1.5e-7, below float32 resolution). In-place ufuncs with `out=`
    avoid allocating a fresh [tokens, 1536] array per step, which dominated the cost.

    >>> [round(float(v), 5) for v in gelu_(np.array([-1.0, 0.0, 0.5, 3.0], dtype=np.float32))]
    [-0.15866, 0.0, 0.34573, 2.99595]
    """
    a = np.abs(x) * np.float32(1.0 / math.sqrt(2.0))  # |z|, z = x / sqrt(2)
    t = a * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _ERF_A[0]
    for coef in _ERF_A[1:]:
        poly += coef
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|z|)
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, x, out=poly)  # erf(z)
    poly *= 0.5
    poly += 0.5  # Phi(x)
    x *= poly
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + np.float32(eps)) * weight + bias


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _safetensors_header(path: Path) -> tuple[dict, int]:
    """A safetensors file's tensor table and where its data starts."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor shapes from a safetensors header, without reading the weights."""
    return {k: v["shape"] for k, v in _safetensors_header(path)[0].items()}


_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8"}


def _mapped_tensors(path: Path) -> tuple[dict[str, np.ndarray], mmap.mmap]:
    """A safetensors file's tensors as read-only views of the file's map (a page becomes
    resident only when touched), and the map."""
    header, start = _safetensors_header(path)
    with open(path, "rb") as fh:
        whole = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    out = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: unsupported tensor dtype {info['dtype']} for {name}")
        dtype = np.dtype(_DTYPES[info["dtype"]])
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(
            whole, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=start + begin
        ).reshape(info["shape"])
    return out, whole


def model_info(model_dir: Path) -> dict:
    """Ollama-style `model_info` keys (as Ollama's all-minilm GGUF carries them), read from
    config.json and the safetensors header only."""
    model_dir = Path(model_dir)
    cfg = _read_json(model_dir / "config.json")
    shapes = _safetensors_shapes(model_dir / "model.safetensors")
    params = sum(math.prod(s) for k, s in shapes.items() if not k.endswith("position_ids"))
    return {
        "general.architecture": "bert",
        "general.name": "all-MiniLM-L6-v2",
        "general.file_type": 0,  # F32
        "general.parameter_count": params,
        "bert.attention.causal": False,
        "bert.attention.head_count": cfg["num_attention_heads"],
        "bert.attention.layer_norm_epsilon": cfg["layer_norm_eps"],
        "bert.block_count": cfg["num_hidden_layers"],
        "bert.context_length": cfg["max_position_embeddings"],
        "bert.embedding_length": cfg["hidden_size"],
        "bert.feed_forward_length": cfg["intermediate_size"],
        "bert.pooling_type": 1,  # mean
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.token_type_count": cfg["type_vocab_size"],
    }


def max_seq_length(model_dir: Path) -> int:
    """The truncation length sentence-transformers uses for this model directory."""
    path = Path(model_dir) / "sentence_bert_config.json"
    if path.exists():
        return int(_read_json(path)["max_seq_length"])
    return int(_read_json(Path(model_dir) / "config.json")["max_position_embeddings"])


class _Layer:
    """One encoder block's weights, transposed once so that activations multiply on the left."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str):
        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[f"{prefix}.{name}.weight"].T)

        def b(name: str) -> np.ndarray:
            return w[f"{prefix}.{name}.bias"]

        # Q, K and V in one matmul: fewer, larger BLAS calls.
        self.qkv_w = np.ascontiguousarray(
            np.concatenate(
                [t("attention.self.query"), t("attention.self.key"), t("attention.self.value")],
                axis=1,
            )
        )
        self.qkv_b = np.concatenate(
            [b("attention.self.query"), b("attention.self.key"), b("attention.self.value")]
        )
        self.out_w, self.out_b = t("attention.output.dense"), b("attention.output.dense")
        self.ln1 = (
            w[f"{prefix}.attention.output.LayerNorm.weight"],
            w[f"{prefix}.attention.output.LayerNorm.bias"],
        )
        self.up_w, self.up_b = t("intermediate.dense"), b("intermediate.dense")
        self.down_w, self.down_b = t("output.dense"), b("output.dense")
        self.ln2 = (w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"])


_WORDS = "embeddings.word_embeddings.weight"


class MiniLMEncoder:
    """Sentence embeddings from a sentence-transformers BERT directory (all-MiniLM-L6-v2).

    Not thread-safe (the tokenizer and scratch state are shared): callers serialise access.
    """

    def __init__(self, model_dir: Path | str, max_tokens: int | None = None, threads: int = 0):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        cfg = _read_json(model_dir / "config.json")
        self._check_modules(model_dir)
        self.dim = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        limit = max_seq_length(model_dir)
        self.max_tokens = min(limit, max_tokens) if max_tokens else limit
        # The word table (45 MB of the 87 MB file) is only ever gathered by row, so it
        # stays a view of the file's map: the rows no input uses never take memory. The
        # other matrices are transposed, concatenated or summed into arrays of their own
        # straight from the map, and the vectors copied, so loading never holds the
        # weights twice.
        tensors, self._file = _mapped_tensors(model_dir / "model.safetensors")
        w = {
            k: (v.copy() if v.ndim == 1 else v).astype(np.float32, copy=False)
            for k, v in tensors.items()
        }
        self._word = w[_WORDS]
        # Every sentence is segment 0, so the token-type row folds into the positions.
        self._pos = (
            w["embeddings.position_embeddings.weight"]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [
            _Layer(w, f"encoder.layer.{i}") for i in range(int(cfg["num_hidden_layers"]))
        ]
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json ships with padding and truncation at 128; we pad per batch and
        # truncate to max_seq_length ourselves, as sentence-transformers does.
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.workers = threads or default_threads()  # the CPUs we may really use
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="minilm")
        self._forget_pages()

    def _forget_pages(self) -> None:
        """Drop the file map's resident pages (the copies made from it at load, the rows
        gathered since). They stay in the page cache, so gathering a row again costs a
        minor fault, and RSS comes back to its steady level after many distinct tokens
        (16,384 inputs left 29 MB of the table resident)."""
        if hasattr(self._file, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            self._file.madvise(mmap.MADV_DONTNEED)

    @staticmethod
    def _check_modules(model_dir: Path) -> None:
        modules = _read_json(model_dir / "modules.json")
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = _read_json(model_dir / "1_Pooling" / "config.json")
        if kinds[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(
                f"{model_dir}: expected a Transformer + mean Pooling model, got {kinds}"
            )
        # Normalize is applied by encode(normalize=True); it is listed in modules.json.
        if any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
            raise ValueError(f"{model_dir}: unsupported sentence-transformers modules {kinds}")

    def tokenize(self, texts: list[str], truncate: bool = True) -> list[list[int]]:
        """Token ids with [CLS] and [SEP]; over-long inputs are cut to `max_tokens` (keeping
        the final [SEP], as the Hugging Face tokenizer does) or raise `InputTooLong`."""
        out = []
        for enc in self._tokenizer.encode_batch(list(texts)):
            ids = enc.ids
            if len(ids) > self.max_tokens:
                if not truncate:
                    raise InputTooLong("the input length exceeds the context length")
                ids = [*ids[: self.max_tokens - 1], ids[-1]]
            out.append(ids)
        return out

    def encode(
        self, texts: list[str], truncate: bool = True, normalize: bool = True
    ) -> tuple[np.ndarray, list[int]]:
        """Embed `texts`: ([n, dim] float32 vectors, token count per text).

        Vectors are mean-pooled over the real tokens, then L2-normalised unless
        `normalize` is false. Texts are sorted by length and padded per batch.
        """
        ids = self.tokenize(texts, truncate)
        counts = [len(x) for x in ids]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        batches = self._plan(counts)
        # numpy releases the GIL in matmuls and ufuncs, so batches run in parallel.
        with single_threaded_blas():
            pooled = self._pool.map(lambda rows: self._pooled([ids[i] for i in rows]), batches)
            for rows, vectors in zip(batches, pooled, strict=True):
                out[rows] = vectors
        self._forget_pages()
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, np.float32(1e-12))
        return out, counts

    def _plan(self, counts: list[int]) -> list[list[int]]:
        """Row indices per batch: sorted by length (little padding), at most TOKEN_BUDGET
        padded tokens each, and at least one batch per worker when there is enough work."""
        budget = min(TOKEN_BUDGET, max(sum(counts) // self.workers, 1))
        order = sorted(range(len(counts)), key=counts.__getitem__)
        batches, start = [], 0
        while start < len(order):
            stop = start + 1
            # Sorted ascending, so the last row of a batch sets its padded length.
            while (
                stop < len(order)
                and stop - start < MAX_BATCH
                and (stop - start + 1) * counts[order[stop]] <= budget
            ):
                stop += 1
            batches.append(order[start:stop])
            start = stop
        return batches

    def _pooled(self, batch: list[list[int]]) -> np.ndarray:
        length = max(len(x) for x in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        hidden = self._forward(ids, mask)
        summed = np.einsum("bld,bl->bd", hidden, mask)
        return summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        rows, length = ids.shape
        x = self._word[ids] + self._pos[:length]
        x = _layer_norm(x, *self._emb_ln, self.eps).reshape(rows * length, self.dim)
        # Padding keys get the most negative float, as Hugging Face's extended mask does.
        bias = (1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min
        for layer in self._layers:
            x = self._block(x, bias, layer, rows, length)
        return x.reshape(rows, length, self.dim)

    def _block(
        self, x: np.ndarray, bias: np.ndarray, layer: _Layer, rows: int, length: int
    ) -> np.ndarray:
        heads, size = self.heads, self.dim // self.heads
        qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(rows, length, 3, heads, size)
        # Contiguous heads: numpy hands strided stacks to a much slower matmul loop.
        q, k, v = (np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3))
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1.0 / math.sqrt(size)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows * length, self.dim)
        x = _layer_norm(context @ layer.out_w + layer.out_b + x, *layer.ln1, self.eps)
        hidden = x @ layer.up_w
        hidden += layer.up_b
        # GELU needs three temporaries the size of its input: by row blocks they stay
        # small (whole, a 2,048-token batch took 38 MB more per worker).
        for start in range(0, len(hidden), GELU_ROWS):
            gelu_(hidden[start : start + GELU_ROWS])
        return _layer_norm(hidden @ layer.down_w + layer.down_b + x, *layer.ln2, self.eps)

    def close(self) -> None:
        """Drop the weights (the object is unusable afterwards)."""
        self._pool.shutdown(wait=True)
        self._layers = []
        self._word = self._pos = None
