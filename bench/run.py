"""``make bench``: every measurement, written to bench/results/latest.json and latest.md.

Each figure is a ratio of two things measured in this same run, or docs/s per core.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

from bench import (
    decontaminate_throughput,
    dedup_quality,
    dedup_scaling,
    minhash_vs_datasketch,
    quality_throughput,
    tokenize_throughput,
)

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("gristmill", "pyspark", "tiktoken", "fastwarc", "resiliparse", "numpy", "datasketch")


def main() -> int:
    tok = tokenize_throughput.measure()
    dec = decontaminate_throughput.measure()
    mh = minhash_vs_datasketch.measure()
    qual = quality_throughput.measure()
    quality = dedup_quality.measure()
    scaling = dedup_scaling.measure(docs=25_000)
    results = {
        "ratios": {
            "tokenize_vs_tiktoken": tok["tokenize_vs_tiktoken"],
            "minhash_vs_datasketch": mh["minhash_vs_datasketch_update_batch"],
            "scaling_4x_time": scaling["time_ratio_4x_docs"],
        },
        "docs_per_s_per_core": {
            "decontaminate": dec["decontaminate_docs_per_s_per_core"],
            "minhash_signatures": mh["gristmill_docs_per_s_per_core"],
            "quality_all_signals": qual["quality_docs_per_s_per_core"],
        },
        "quality_share_of_time": qual["share_of_time"],
        "dedup_quality": quality,
        "details": {
            "tokenize": tok,
            "decontaminate": dec,
            "minhash": mh,
            "quality": qual,
            "scaling": scaling,
        },
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "versions": {p: metadata.version(p) for p in PACKAGES},
        "command": "make bench",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    lines = ["| figure | value |", "|---|---:|"]
    lines += [f"| {k} (ratio) | {v:.2f} |" for k, v in results["ratios"].items()]
    lines += [
        f"| {k} docs/s per core | {v:,.0f} |" for k, v in results["docs_per_s_per_core"].items()
    ]
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
