"""Decontamination: documents per second per core through both passes (the lookup of every
cutting and labelling n-gram, then the 13-gram cuts of the documents that hold one), against
every benchmark set in ../shared/data/benchmarks; ``decontaminate_vs_extract``: its
per-document cost over resiliparse extraction's on the same pages."""

from __future__ import annotations

import sys
import time

import numpy as np
import pyarrow as pa

from bench.corpus import benchmark_files, documents, extract_floor, warc_files
from bench.timing import best_seconds, report
from gristmill.pipeline.benchmarks import read_benchmark
from gristmill.pipeline.config import DecontaminateConfig
from gristmill.pipeline.decontaminate import (
    CUT,
    NgramIndex,
    build_index,
    decontaminate_batches,
    doc_keys,
    matched_hashes,
)
from gristmill.schemas.tables import DEDUP, with_text


def touched_keys(pairs: pa.Table, index: NgramIndex, cfg: DecontaminateConfig) -> np.ndarray:
    """What the stage's ``cut_documents`` gives the cutting pass, in one process: the keys of
    the documents holding a cutting n-gram that at most ``too_common_docs`` documents hold."""
    grams = pairs.column("ngram").to_numpy().view(np.uint64)
    ngrams, inverse, docs = np.unique(grams, return_inverse=True, return_counts=True)
    cut = (np.asarray(index.kinds)[index.lookup(ngrams)] & CUT) > 0
    acted = (cut & (docs <= cfg.too_common_docs))[inverse]
    return doc_keys(np.unique(pairs.column("doc_id").to_numpy(zero_copy_only=False)[acted]))


def measure() -> dict[str, float]:
    cfg = DecontaminateConfig()
    started = time.perf_counter()
    benchmarks = [read_benchmark(p) for p in benchmark_files()]
    index = build_index(benchmarks, cfg)
    index_s = time.perf_counter() - started
    texts = list(documents())
    rows = [{"doc_id": f"{i:032x}", "text": t} for i, t in enumerate(texts)]
    batch = pa.RecordBatch.from_pylist(rows, schema=with_text(DEDUP))
    batches = [batch.slice(i, 256) for i in range(0, len(rows), 256)]

    def both_passes() -> None:
        pairs = pa.Table.from_batches(list(matched_hashes(batches, index)))
        touched = touched_keys(pairs, index, cfg)
        for _ in decontaminate_batches(batches, index, cfg, touched=touched):
            pass

    seconds = best_seconds(both_passes)
    extract = extract_floor(warc_files())["extract_seconds_per_page"]
    return {
        "docs": len(texts),
        "benchmark_ngrams": len(index.hashes),
        "gram_lengths": list(index.lengths),
        "index_build_s": index_s,
        "decontaminate_docs_per_s_per_core": len(texts) / seconds,
        # Per document, both passes' cost over resiliparse extraction's, same pages.
        "decontaminate_vs_extract": seconds / len(texts) / extract,
    }


def main() -> int:
    return report("decontaminate", measure())


if __name__ == "__main__":
    sys.exit(main())
