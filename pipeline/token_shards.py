"""Tokenizing documents and laying them out in shards, independent of Spark's partitioning.

Each document gets an ``order_key`` and a split from hashes of its doc_id and the run's seed. A
document's shard is ``order_key mod shard_count`` and documents sit in a shard in ``order_key``
order, so which executor tokenized what, and in which order, cannot change a single byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa

from gristmill.pipeline.config import BucketConfig
from gristmill.pipeline.shards import write_shard
from gristmill.pipeline.tokenizer import encode_documents, eot_token, load_encoding, token_dtype

TOKENIZED = pa.schema(
    [
        pa.field("doc_id", pa.string()),
        pa.field("split", pa.string()),
        pa.field("bucket", pa.string()),
        pa.field("order_key", pa.int64()),
        pa.field("n_tokens", pa.int64()),  # including the EOT that ends the document in a shard
        pa.field("tokens", pa.binary()),
    ]
)

SHARD_FILES = pa.schema(
    [
        pa.field("split", pa.string()),
        pa.field("bucket", pa.string()),
        pa.field("shard", pa.int64()),
        pa.field("path", pa.string()),
        pa.field("tokens", pa.int64()),
        pa.field("docs", pa.int64()),
        pa.field("sha256", pa.string()),
    ]
)


def _hash64(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def order_key(doc_id: str, seed: int) -> int:
    """A signed 64-bit key (Spark has no unsigned longs)."""
    return _hash64(f"order:{seed}:{doc_id}") - (1 << 63)


def split_of(doc_id: str, seed: int, val_fraction: float) -> str:
    return "val" if _hash64(f"split:{seed}:{doc_id}") / 2**64 < val_fraction else "train"


# printf-style so Spark's format_string can build the same names for the stage table.
SHARD_NAME = "%s-%s-%06d.bin"


def shard_name(split: str, bucket: str, shard: int) -> str:
    return SHARD_NAME % (split, bucket, shard)


def bucket_columns(buckets: list[BucketConfig]) -> list[str]:
    """The signal columns the bucket rules read."""
    names = {c for b in buckets for c in (*b.min, *b.max, *b.values)}
    return sorted(names)


def bucket_of(row: dict, buckets: list[BucketConfig]) -> str:
    """The first bucket whose conditions the row meets (a null signal meets none); else the last."""
    for b in buckets:
        if (
            all(row.get(k) is not None and row[k] >= v for k, v in b.min.items())
            and all(row.get(k) is not None and row[k] < v for k, v in b.max.items())
            and all(row.get(k) in v for k, v in b.values.items())
        ):
            return b.name
    return buckets[-1].name


def tokenize_batches(
    batches: Iterable[pa.RecordBatch],
    encoding: str,
    seed: int,
    val_fraction: float,
    buckets: list[BucketConfig],
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: documents (and the signals the buckets read) in; tokens (EOT not
    included), split, bucket and placement key out."""
    enc = load_encoding(encoding)
    for batch in batches:
        doc_ids = batch.column("doc_id").to_pylist()
        tokens = encode_documents(enc, batch.column("text").to_pylist())
        signals = batch.select(bucket_columns(buckets)).to_pylist()
        yield pa.RecordBatch.from_pydict(
            {
                "doc_id": doc_ids,
                "split": [split_of(d, seed, val_fraction) for d in doc_ids],
                "bucket": [bucket_of(row, buckets) for row in signals],
                "order_key": [order_key(d, seed) for d in doc_ids],
                "n_tokens": [len(t) + 1 for t in tokens],
                "tokens": [t.tobytes() for t in tokens],
            },
            schema=TOKENIZED,
        )


def _keyed_tokens(
    batches: Iterable[pa.RecordBatch],
) -> Iterator[tuple[tuple[str, str, int], bytes]]:
    """((split, bucket, shard), tokens) of each row, one Arrow batch in memory at a time."""
    for batch in batches:
        cols = batch.to_pydict()
        keys = zip(cols["split"], cols["bucket"], cols["shard"], strict=True)
        yield from zip(keys, cols["tokens"], strict=True)


def write_shard_batches(
    batches: Iterable[pa.RecordBatch], shard_dir: str, encoding: str
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body over rows sorted by (shard_id, order_key): write each shard's file.

    Each document goes to its shard's file as its batch arrives (the file is renamed into place
    when the shard's last document is in), so a task holds one Arrow batch, not a shard: at
    the default ``tokenize.shard_tokens`` a shard is 200 MB of gpt2 tokens (400 MB with a
    larger vocabulary's uint32), and the setting may go up to 2**31 tokens.
    """
    enc = load_encoding(encoding)
    eot, dtype = eot_token(enc), token_dtype(enc.n_vocab)
    for (split, bucket, shard), rows in groupby(_keyed_tokens(batches), key=itemgetter(0)):
        docs = (np.frombuffer(tokens, dtype=dtype) for _, tokens in rows)
        info = write_shard(Path(shard_dir) / shard_name(split, bucket, shard), docs, eot, dtype)
        yield pa.RecordBatch.from_pylist(
            [
                {
                    "split": split,
                    "bucket": bucket,
                    "shard": shard,
                    "path": Path(info.path).name,
                    "tokens": info.tokens,
                    "docs": info.docs,
                    "sha256": info.sha256,
                }
            ],
            schema=SHARD_FILES,
        )
