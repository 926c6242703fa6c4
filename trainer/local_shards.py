"""Shards from a WARC file in one process, with the pipeline's own pure functions (ingest's
extraction, the tokenizer, split and bucket assignment, the shard writer, the manifest), laid
out as ``jobs/tokenize_shards.py`` lays them out, without starting Spark: for the trainer's tests
and its GPU check, on a machine that has a GPU but perhaps no JVM.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from gristmill.pipeline.config import Config
from gristmill.pipeline.documents import ingest_input
from gristmill.pipeline.layout import MANIFEST_FILE
from gristmill.pipeline.manifest import BatchEntry, Manifest, ShardEntry
from gristmill.pipeline.shards import write_shard
from gristmill.pipeline.token_shards import bucket_of, order_key, shard_name, split_of
from gristmill.pipeline.tokenizer import encode_documents, eot_token, load_encoding, token_dtype


def build_shards(warc: Path, out: Path, cfg: Config) -> Path:
    """Documents of ``warc`` -> shards in ``out`` (created); the manifest's path. Buckets are
    assigned on ``n_chars``, the one document column this path has."""
    tok = cfg.tokenize
    rows = [r for r in ingest_input(str(warc), cfg.ingest) if r.get("text")]
    enc = load_encoding(tok.encoding)
    groups: dict[tuple[str, str], list[tuple[int, np.ndarray]]] = defaultdict(list)
    for row, tokens in zip(rows, encode_documents(enc, [r["text"] for r in rows]), strict=True):
        split = split_of(row["doc_id"], cfg.seed, tok.val_fraction)
        bucket = bucket_of({"n_chars": len(row["text"])}, tok.buckets)
        groups[split, bucket].append((order_key(row["doc_id"], cfg.seed), tokens))
    out.mkdir(parents=True)
    files = []
    for (split, bucket), docs in sorted(groups.items()):
        n = max(1, math.ceil(sum(len(t) + 1 for _, t in docs) / tok.shard_tokens))
        for shard in range(n):
            mine = sorted((d for d in docs if d[0] % n == shard), key=lambda d: d[0])
            if not mine:
                continue
            name = shard_name(split, bucket, shard)
            info = write_shard(
                out / name, [t for _, t in mine], eot_token(enc), token_dtype(enc.n_vocab)
            )
            files.append(
                ShardEntry(
                    path=name,
                    split=split,
                    bucket=bucket,
                    tokens=info.tokens,
                    docs=info.docs,
                    shard=shard,
                    sha256=info.sha256,
                )
            )
    batch = BatchEntry.write(out, 0, "", files)
    Manifest.build(cfg, [batch]).write(out / MANIFEST_FILE)
    return out / MANIFEST_FILE
