"""MinHash signatures, documents per second per core: gristmill's numba kernel vs datasketch.

Same documents (the real pages of :mod:`bench.corpus` and the 697 CC-MAIN-2019-30 documents),
same 112 permutations (FineWeb's 14 x 8), same word 5-gram shingles, one process:

- ``gristmill``: :func:`gristmill.pipeline.minhash.signatures` from the raw text, Arrow
  lower-casing and shingling included, in batches of 1,024 documents as mapInArrow hands them over;
- ``datasketch_update_batch``: ``MinHash.update_batch`` over shingles already built and UTF-8
  encoded outside the timing, with datasketch's default SHA-1 hash and the permutations passed in
  (its documented fast construction): only hashing and the minimum are timed, the ratio against
  this is the conservative one;
- ``datasketch_end_to_end``: the same plus building the shingles (lower, split, join, encode), as
  a datasketch user does.

    .venv/bin/python -m bench.minhash_vs_datasketch   # writes bench/results/minhash.json
"""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pyarrow as pa
from datasketch import MinHash

from bench.corpus import SHARED, documents
from bench.timing import best_seconds, report
from gristmill.pipeline.config import Config
from gristmill.pipeline.minhash import MinHashParams, permutations, shingles, signatures

CC_DOCS = SHARED / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
BATCH = 1024


def corpus() -> list[str]:
    with gzip.open(CC_DOCS, "rt", encoding="utf-8") as f:
        cc = [json.loads(line)["text"] for line in f]
    return list(documents()) + cc


def python_shingles(text: str, n: int) -> list[bytes]:
    words = text.lower().split()
    n = min(n, len(words))
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)] if words else []


def measure(repeats: int = 3) -> dict[str, float]:
    texts = corpus()
    params = MinHashParams.from_config(Config())
    arrays = [pa.array(texts[i : i + BATCH], pa.string()) for i in range(0, len(texts), BATCH)]
    encoded = [[s.encode() for s in shingles(t, params)] for t in texts]
    perms = np.array(permutations(params.num_perm, params.seed))
    signatures(arrays[0][:1], params)  # numba: load or compile outside the timing

    def ours() -> None:
        for array in arrays:
            signatures(array, params)

    def update_batch() -> None:
        for shingle_bytes in encoded:
            sketch = MinHash(params.num_perm, permutations=perms, scheme="affine32")
            sketch.update_batch(shingle_bytes)

    def end_to_end() -> None:
        for text in texts:
            sketch = MinHash(params.num_perm, permutations=perms, scheme="affine32")
            sketch.update_batch(python_shingles(text, params.ngram))

    ours_s = best_seconds(ours, repeats)
    batch_s = best_seconds(update_batch, repeats)
    e2e_s = best_seconds(end_to_end, repeats)
    n = len(texts)
    return {
        "docs": n,
        "mean_chars": sum(map(len, texts)) / n,
        "shingles": sum(map(len, encoded)),
        "num_perm": params.num_perm,
        "gristmill_docs_per_s_per_core": n / ours_s,
        "datasketch_update_batch_docs_per_s_per_core": n / batch_s,
        "datasketch_end_to_end_docs_per_s_per_core": n / e2e_s,
        "minhash_vs_datasketch_update_batch": batch_s / ours_s,
        "minhash_vs_datasketch_end_to_end": e2e_s / ours_s,
    }


def main() -> int:
    return report("minhash", measure())


if __name__ == "__main__":
    sys.exit(main())
