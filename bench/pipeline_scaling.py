"""The whole pipeline (``gristmill run``, Spark local[2]) on 1x, 2x and 4x input, where 4x is
20,000+ documents: wall time, docs/s per core and the peak memory of the JVM, the Python driver
and the Python workers. This is also the load test: the 4x run must finish within the CI
machine's 24 GiB, and its peak RSS is reported next to a 6 GiB bound.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.pipeline_runs import make_corpus, run_pipeline, write_config
from bench.timing import report

MASTER = "local[2]"
CORES = 2
RSS_BOUND_MB = 6 * 1024


def measure(base_copies: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gristmill-scaling-") as tmp:
        root = Path(tmp)
        config = write_config(root)
        copies = make_corpus(root / "input", base_copies * 4)
        runs = {}
        for factor in (1, 2, 4):
            chosen = copies[: base_copies * factor]
            inputs = [f for files, _ in chosen for f in files]
            docs = sum(n for _, n in chosen)
            run = run_pipeline(inputs, root / f"out-{factor}x", config, MASTER)
            run["documents"] = docs
            run["compressed_mb"] = sum(os.path.getsize(p) for p in inputs) / 1e6
            run["docs_per_s_per_core"] = docs / run["seconds"] / CORES
            runs[f"{factor}x"] = run
    four = runs["4x"]
    return {
        "master": MASTER,
        "runs": runs,
        "scaling_4x_time": four["seconds"] / runs["1x"]["seconds"],
        "scaling_2x_time": runs["2x"]["seconds"] / runs["1x"]["seconds"],
        "load_test": {
            "documents": four["documents"],
            "peak_rss_total_mb": four["peak_rss_total_mb"],
            "bound_mb": RSS_BOUND_MB,
            "within_bound": four["peak_rss_total_mb"] < RSS_BOUND_MB,
        },
    }


def main() -> int:
    return report("pipeline_scaling", measure())


if __name__ == "__main__":
    raise SystemExit(main())
