"""Ingest on one core (read + charset + extract + language ID: :func:`ingest_batches`, the body of
the Spark ingest task) against its floor on the same files: gzip decompression of every byte plus
the extractor alone on every HTML payload. ``ingest_vs_floor`` = floor time / ingest time; 1.0
would mean ingest costs nothing beyond decompressing and extracting.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import pyarrow as pa

from bench.corpus import warc_files
from bench.timing import report
from gristmill.pipeline.charset import decode_html
from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import _is_html, ingest_batches
from gristmill.pipeline.extract import extractor
from gristmill.pipeline.warc import read_records


def decompress(path: str) -> int:
    """Inflate every gzip member of a file; returns the bytes produced."""
    produced = 0
    with open(path, "rb") as handle:
        data = handle.read()
    while data:
        inflate = zlib.decompressobj(31)
        produced += len(inflate.decompress(data))
        data = inflate.unused_data
    return produced


def measure() -> dict[str, Any]:
    files = [str(p) for p in warc_files()]
    size = sum(p.stat().st_size for p in warc_files())
    cfg = IngestConfig()
    payloads = [
        (r.payload, r.charset)
        for f in files
        for r in read_records(f, cfg.max_record_bytes)
        if r.payload and _is_html(r)
    ]
    extract = extractor(cfg.extractor)
    extract(decode_html(*payloads[0])[0])  # warm: load the extractor

    started = time.process_time()
    for f in files:
        decompress(f)
    inflate_s = time.process_time() - started
    started = time.process_time()
    for payload, charset in payloads:
        extract(decode_html(payload, charset)[0])
    extract_s = time.process_time() - started

    batch = pa.RecordBatch.from_pydict({"uri": files})
    list(ingest_batches([pa.RecordBatch.from_pydict({"uri": files[:1]})], cfg))  # warm: lid.176
    started = time.process_time()
    rows = sum(b.num_rows for b in ingest_batches([batch], cfg))
    ingest_s = time.process_time() - started
    floor_s = inflate_s + extract_s
    return {
        "files": len(files),
        "compressed_mb": size / 1e6,
        "documents": rows,
        "ingest_seconds": ingest_s,
        "ingest_docs_per_s_per_core": rows / ingest_s,
        "ingest_mb_per_s_per_core": size / 1e6 / ingest_s,
        "floor_seconds": floor_s,
        "floor_decompress_seconds": inflate_s,
        "floor_extract_seconds": extract_s,
        "floor_docs_per_s_per_core": rows / floor_s,
        "ingest_vs_floor": floor_s / ingest_s,
    }


def main() -> int:
    return report("ingest_throughput", measure())


if __name__ == "__main__":
    raise SystemExit(main())
