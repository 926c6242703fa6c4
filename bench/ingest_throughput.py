"""Ingest on one core (read + charset + extract + language ID: :func:`ingest_batches`, the body of
the Spark ingest task) against its floor on the same files: gzip decompression of every byte plus
the extractor alone on every HTML payload. ``ingest_vs_floor`` = floor time / ingest time; 1.0
would mean ingest costs nothing beyond decompressing and extracting. The same files are read
again as a crawl run reads them, with the language screen (``ingest.languages: [en]``), which
drops a page plainly in another language before extracting it (``screened_*``).
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow.compute as pc

from bench.corpus import extract_floor, input_batch, warc_files
from bench.timing import report
from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import ingest_batches
from gristmill.pipeline.language_screen import SCREENED


def measure() -> dict[str, Any]:
    paths = warc_files()
    files = [str(p) for p in paths]
    size = sum(p.stat().st_size for p in paths)
    cfg = IngestConfig()
    floor = extract_floor(paths)
    inflate_s, extract_s = floor["decompress_seconds"], floor["extract_seconds"]

    list(ingest_batches([input_batch(files[:1])], cfg))  # warm: lid.176
    started = time.process_time()
    rows = sum(b.num_rows for b in ingest_batches([input_batch(files)], cfg))
    ingest_s = time.process_time() - started
    floor_s = inflate_s + extract_s
    started = time.process_time()
    batches = list(ingest_batches([input_batch(files)], IngestConfig(languages=["en"])))
    screened_s = time.process_time() - started
    screened = sum(
        pc.sum(pc.equal(b.column("drop_reason"), SCREENED)).as_py() or 0 for b in batches
    )
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
        "screened_seconds": screened_s,
        "screened_docs_per_s_per_core": sum(b.num_rows for b in batches) / screened_s,
        "screened_pages": screened,
    }


def main() -> int:
    return report("ingest_throughput", measure())


if __name__ == "__main__":
    raise SystemExit(main())
