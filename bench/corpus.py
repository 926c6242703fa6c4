"""The benchmark corpus: real pages from ../shared/data/warc, extracted once and cached.

Every figure in ``make bench`` is measured on these documents (or on copies of them), so the
ratios compare tools on the same text.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import ingest_input

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GRISTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))


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


def benchmark_files() -> list[Path]:
    return sorted(p for p in (SHARED / "benchmarks").iterdir() if not p.name.endswith(".lst"))
