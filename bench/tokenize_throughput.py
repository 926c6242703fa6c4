"""Tokenization: gristmill's tokenize step vs raw tiktoken ``encode_ordinary``, one text after
another in one thread (what one core does; ``encode_ordinary_batch`` runs 8 threads).

Both run in this process on the same documents with the same encoding. gristmill's figure
includes what the stage does on top of encoding: the numpy token arrays, the split and bucket
assignment and the Arrow batch it hands back to Spark. Target: >= 0.8x of raw tiktoken.
"""

from __future__ import annotations

import sys

import pyarrow as pa

from bench.corpus import documents
from bench.timing import best_seconds, report
from gristmill.pipeline.config import BucketConfig
from gristmill.pipeline.token_shards import tokenize_batches
from gristmill.pipeline.tokenizer import load_encoding


def measure(encoding: str = "gpt2") -> dict[str, float]:
    texts = list(documents())
    enc = load_encoding(encoding)
    batch = pa.RecordBatch.from_pydict(
        {"doc_id": [f"{i:032x}" for i in range(len(texts))], "text": texts}
    )
    batches = [batch.slice(i, 256) for i in range(0, len(texts), 256)]

    def ours() -> None:
        for _ in tokenize_batches(batches, encoding, 0, 0.01, [BucketConfig()]):
            pass

    def raw() -> None:
        for text in texts:
            enc.encode_ordinary(text)

    raw()  # warm the encoder
    t_ours, t_raw = best_seconds(ours), best_seconds(raw)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    return {
        "docs": len(texts),
        "tiktoken_mb_per_s": mb / t_raw,
        "gristmill_mb_per_s": mb / t_ours,
        "tokenize_vs_tiktoken": t_raw / t_ours,
    }


def main() -> int:
    return report("tokenize", measure())


if __name__ == "__main__":
    sys.exit(main())
