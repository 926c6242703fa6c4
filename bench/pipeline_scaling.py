"""The whole pipeline (``gristmill run``, Spark local[2]) on 1x, 2x, 4x and 8x input, where 8x is
a crawl-sized batch of 40,000+ documents: wall time, docs/s per core and the peak memory of the
JVM, the Python driver and the Python workers; decontaminated against the shared benchmark sets,
as a run that trains on its output would be. ``pipeline_vs_extract_floor``: the 8x run's
documents/s per core over bare decompression + extraction of the same WARC files on one core;
the same batch again with the language screen before extraction (``ingest.languages: [en]``).
This is also the load test: the 8x run must finish within the CI machine's 24 GiB, and its peak
RSS is reported next to a 6 GiB bound.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.corpus import benchmark_files, extract_floor
from bench.pipeline_runs import make_corpus, run_pipeline, write_config
from bench.timing import report

MASTER = "local[2]"
CORES = 2
RSS_BOUND_MB = 6 * 1024
FACTORS = (1, 2, 4, 8)  # 8x: 43,000 documents, a crawl-sized batch


def measure(base_copies: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gristmill-scaling-") as tmp:
        root = Path(tmp)
        config = write_config(root)
        copies = make_corpus(root / "input", base_copies * FACTORS[-1])
        runs = {}
        for factor in FACTORS:
            chosen = copies[: base_copies * factor]
            inputs = [f for files, _ in chosen for f in files]
            docs = sum(n for _, n in chosen)
            out = root / f"out-{factor}x"
            run = run_pipeline(inputs, out, config, MASTER, benchmarks=benchmark_files())
            run["documents"] = docs
            run["compressed_mb"] = sum(os.path.getsize(p) for p in inputs) / 1e6
            run["docs_per_s_per_core"] = docs / run["seconds"] / CORES
            runs[f"{factor}x"] = run
        largest = runs[f"{FACTORS[-1]}x"]
        # The crawl-sized batch again with the language screen a crawl run would set
        # (ingest.languages: the default quality.languages, [en]).
        (root / "screened").mkdir()
        screened_config = write_config(root / "screened", {"ingest": {"languages": ["en"]}})
        inputs = [f for files, _ in copies for f in files]
        screened = run_pipeline(
            inputs, root / "out-screened", screened_config, MASTER, benchmarks=benchmark_files()
        )
        screened["docs_per_s_per_core"] = largest["documents"] / screened["seconds"] / CORES
        ingest = json.loads((root / "out-screened" / "stats.json").read_text())["stages"]["ingest"]
        screened["lang_screened"] = ingest["dropped"].get("lang_screened", 0)
        floor = extract_floor([Path(f) for files, _ in copies for f in files])
    floor_per_core = largest["documents"] / (floor["decompress_seconds"] + floor["extract_seconds"])
    return {
        "master": MASTER,
        "runs": runs,
        "scaling_4x_time": runs["4x"]["seconds"] / runs["1x"]["seconds"],
        "scaling_2x_time": runs["2x"]["seconds"] / runs["1x"]["seconds"],
        "scaling_8x_time": largest["seconds"] / runs["1x"]["seconds"],
        "crawl_sized_docs_per_s_per_core": largest["docs_per_s_per_core"],
        "extract_floor": floor | {"docs_per_s_per_core": floor_per_core},
        "pipeline_vs_extract_floor": largest["docs_per_s_per_core"] / floor_per_core,
        "crawl_sized_screened": screened,
        "crawl_sized_screened_docs_per_s_per_core": screened["docs_per_s_per_core"],
        "pipeline_vs_extract_floor_screened": screened["docs_per_s_per_core"] / floor_per_core,
        "load_test": {
            "documents": largest["documents"],
            "peak_rss_total_mb": largest["peak_rss_total_mb"],
            "peak_rss_mb": largest["peak_rss_mb"],
            "bound_mb": RSS_BOUND_MB,
            "within_bound": largest["peak_rss_total_mb"] < RSS_BOUND_MB,
        },
    }


def main() -> int:
    return report("pipeline_scaling", measure())


if __name__ == "__main__":
    raise SystemExit(main())
