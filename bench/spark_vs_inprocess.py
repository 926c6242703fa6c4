"""Spark's cost: the whole pipeline as ``gristmill run`` (Spark local[2]) against the same stage
functions called one after the other in one Python process without Spark, on the same input
(the 1x corpus of bench.pipeline_scaling) and config.

In-process, every stage is the core function the Spark job runs in ``mapInArrow``, over the
whole table at once: ingest, quality signals and decisions, exact dedup, MinHash bands with
union-find components, decontamination with the broadcast index, tokenization. The Spark run
also writes every stage table and the shards; in-process keeps everything in memory, which is
the floor Spark's overhead is measured against. ``spark_vs_inprocess`` = in-process seconds /
Spark stage seconds (> 1: Spark's two cores beat one Python process).
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.corpus import benchmark_files, input_batch
from bench.pipeline_runs import make_corpus, run_pipeline, write_config
from bench.timing import report
from gristmill.jobs.decontaminate import read_configured
from gristmill.pipeline.config import Config
from gristmill.pipeline.connected_components import components
from gristmill.pipeline.decontaminate import build_index, decontaminate_batches
from gristmill.pipeline.documents import ingest_batches
from gristmill.pipeline.minhash import (
    MinHashParams,
    band_rows,
    signature_matrix,
    signature_rows,
    signature_similarity,
)
from gristmill.pipeline.quality import decide_batches, signal_batches
from gristmill.pipeline.text_hash import with_text_hash
from gristmill.pipeline.token_shards import tokenize_batches
from gristmill.schemas.tables import DEDUP, with_text

CORES = 2


def kept(table: pa.Table) -> pa.Table:
    return table.filter(pc.is_null(table["drop_reason"])).drop_columns(["drop_reason"])


def with_texts(after: pa.Table, before: pa.Table) -> pa.Table:
    """A stage's rows (one per row of ``before``, in order) with the text as the next stage reads
    it: the stage's own where it changed the text (stored), else the text it was given."""
    assert after.num_rows == before.num_rows
    texts = pc.coalesce(after["text"], before["text"])
    return after.set_column(after.schema.get_field_index("text"), "text", texts)


def in_process(files: list[Path], cfg: Config, benchmarks: list[Path]) -> dict[str, float]:
    """The stages' core functions in one process; seconds per stage."""
    seconds = {}
    started = time.perf_counter()
    ingest = pa.Table.from_batches(ingest_batches([input_batch(files)], cfg.ingest))
    errors = ["input_error", "input_retryable"]
    docs = kept(ingest.filter(pc.is_valid(ingest["doc_id"])).drop_columns(errors))
    seconds["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    scored = list(signal_batches(docs.to_batches(max_chunksize=256), cfg.quality))
    quality = pa.Table.from_batches(decide_batches(scored, cfg.quality, cfg.seed, {}))
    docs = kept(with_texts(quality, docs))
    seconds["quality"] = time.perf_counter() - started

    started = time.perf_counter()
    hashed = pa.Table.from_batches(with_text_hash(docs.to_batches(), with_text(DEDUP))).to_pylist()
    firsts = {}
    for row in sorted(hashed, key=lambda r: r["doc_id"]):
        firsts.setdefault(row["text_hash"], row)
    survivors = pa.Table.from_pylist(list(firsts.values()), schema=with_text(DEDUP))
    params = MinHashParams.from_config(cfg)
    signed = list(signature_rows(survivors.to_batches(max_chunksize=256), params))
    bands = pa.Table.from_batches(band_rows(signed, params))
    buckets = defaultdict(list)
    for doc, band, bucket in zip(*(bands[c].to_pylist() for c in bands.column_names), strict=True):
        buckets[(band, bucket)].append(doc)
    edges = [(min(m), d) for m in buckets.values() for d in m if d != min(m)]
    ids = survivors["doc_id"].to_pylist()
    sigs = {
        doc: row
        for batch in signed
        for doc, row in zip(
            batch.column("doc_id").to_pylist(),
            signature_matrix(batch.column("signature"), params.num_perm),
            strict=True,
        )
    }
    if edges and cfg.dedup.verify == "signature":
        left = np.stack([sigs[a] for a, _ in edges])
        right = np.stack([sigs[b] for _, b in edges])
        close = signature_similarity(left, right) >= cfg.dedup.threshold
        edges = [e for e, linked in zip(edges, close, strict=True) if linked]
    label = components(ids, edges)
    keep = {min(g) for g in _groups(label).values()}
    docs = survivors.filter(pa.array([i in keep for i in ids])).drop_columns(
        ["text_hash", "drop_reason"]
    )
    seconds["dedup"] = time.perf_counter() - started

    started = time.perf_counter()
    index = build_index([read_configured(b, cfg) for b in benchmarks], cfg.decontaminate)
    cleaned = pa.Table.from_batches(
        decontaminate_batches(docs.to_batches(max_chunksize=256), index, cfg.decontaminate)
    )
    docs = kept(with_texts(cleaned, docs))
    seconds["decontaminate"] = time.perf_counter() - started

    started = time.perf_counter()
    tok = cfg.tokenize
    tokens = sum(
        pc.sum(b["n_tokens"]).as_py() or 0
        for b in tokenize_batches(
            docs.select(["doc_id", "text"]).to_batches(max_chunksize=256),
            encoding=tok.encoding,
            seed=cfg.seed,
            val_fraction=tok.val_fraction,
            buckets=tok.buckets,
        )
    )
    seconds["tokenize"] = time.perf_counter() - started
    seconds["documents_out"] = docs.num_rows
    seconds["tokens"] = tokens
    return seconds


def _groups(label: dict[str, str]) -> dict[str, list[str]]:
    groups = defaultdict(list)
    for node, root in label.items():
        groups[root].append(node)
    return groups


STAGES = ("ingest", "quality", "dedup", "decontaminate", "tokenize")


def measure(copies: int = 4) -> dict[str, Any]:
    benchmarks = benchmark_files()
    with tempfile.TemporaryDirectory(prefix="gristmill-inprocess-") as tmp:
        root = Path(tmp)
        corpus = make_corpus(root / "input", copies)
        files = [f for fs, _ in corpus for f in fs]
        docs = sum(n for _, n in corpus)
        config = write_config(root, {"decontaminate": {"benchmarks": list(map(str, benchmarks))}})
        spark = run_pipeline(files, root / "out", config, f"local[{CORES}]")
        local = in_process(files, Config(), benchmarks)
    spark_stages = sum(spark["stage_seconds"].get(s, 0.0) for s in STAGES)
    local_stages = sum(local[s] for s in STAGES)
    return {
        "documents": docs,
        "spark": spark,
        "inprocess": local,
        "spark_stage_seconds": spark_stages,
        "inprocess_stage_seconds": local_stages,
        "spark_docs_per_s_per_core": docs / spark_stages / CORES,
        "inprocess_docs_per_s_per_core": docs / local_stages,
        "spark_vs_inprocess": local_stages / spark_stages,
        "spark_vs_inprocess_per_core": local_stages / (spark_stages * CORES),
        "spark_vs_inprocess_wall": local_stages / spark["seconds"],
    }


def main() -> int:
    return report("spark_vs_inprocess", measure())


if __name__ == "__main__":
    raise SystemExit(main())
