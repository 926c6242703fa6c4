"""The benchmark corpus: real pages from ../shared/data/warc, extracted once and cached.

Every figure in ``make bench`` is measured on these documents (or on copies of them), so the
ratios compare tools on the same text.
"""

from __future__ import annotations

import functools
import os
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from gristmill.pipeline.charset import decode_html
from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import _is_html, ingest_input
from gristmill.pipeline.extract import extractor
from gristmill.pipeline.warc import read_records

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GRISTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))


def input_batch(paths: Sequence[Path | str]) -> pa.RecordBatch:
    """The rows ingest's tasks get: each file's URI and the size the ledger recorded (none here)."""
    uris = [str(p) for p in paths]
    schema = pa.schema({"uri": pa.string(), "size": pa.int64()})
    return pa.RecordBatch.from_pydict({"uri": uris, "size": [None] * len(uris)}, schema=schema)


def warc_files() -> list[Path]:
    files = sorted((SHARED / "warc").glob("realpages-*.warc.gz"))
    if not files:
        raise SystemExit(f"bench: no real pages under {SHARED / 'warc'}")
    return files


@functools.cache
def documents() -> tuple[str, ...]:
    """Main text of every real page that extracts to something."""
    texts = []
    for path in warc_files():
        texts.extend(r["text"] for r in ingest_input(str(path), IngestConfig()) if r.get("text"))
    return tuple(texts)


def decompress(path: Path) -> int:
    """Inflate every gzip member of a file; returns the bytes produced."""
    produced = 0
    data = path.read_bytes()
    while data:
        inflate = zlib.decompressobj(31)
        produced += len(inflate.decompress(data))
        data = inflate.unused_data
    return produced


def extract_floor(paths: Sequence[Path]) -> dict[str, float]:
    """The floor of reading these WARC files on one core: CPU seconds to inflate every byte,
    and to decode and extract (resiliparse, ingest's default) every HTML payload; and the
    payloads' count. What any pipeline that starts from WARC pays before its own work."""
    cfg = IngestConfig()
    extract = extractor(cfg.extractor)
    extract("<html><body><p>warm up: load the extractor</p></body></html>")
    inflate_s = extract_s = 0.0
    pages = 0
    for p in paths:  # one file's payloads in memory at a time (the 8x corpus is gigabytes)
        payloads = [
            (r.payload, r.charset)
            for r in read_records(str(p), cfg.max_record_bytes)
            if r.payload and _is_html(r)
        ]
        started = time.process_time()
        decompress(p)
        inflate_s += time.process_time() - started
        started = time.process_time()
        for payload, charset in payloads:
            extract(decode_html(payload, charset)[0])
        extract_s += time.process_time() - started
        pages += len(payloads)
    return {
        "decompress_seconds": inflate_s,
        "extract_seconds": extract_s,
        "pages": pages,
        "extract_seconds_per_page": extract_s / pages,
    }


def benchmark_files() -> list[Path]:
    return sorted(p for p in (SHARED / "benchmarks").iterdir() if not p.name.endswith(".lst"))
