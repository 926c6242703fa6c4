"""The trainer's start on a long run of nightly batches: what loading the data costs on the first
start, and on the start that resumes after one more night.

A run that trains on a year of nightly crawls reads a manifest of hundreds of thousands of
shards. Each batch's shards are checked against their lists (header, index, last token) once
per run: a resumed run trusts the batches its checkpoint names, so the start after a night
checks that night's shards alone, where it checked every shard of every night before. The
figure is ``resumed_vs_first``: the resumed start's wall time over the first start's (the
lists are read whole on both; goal: well under 1). Document-aligned sampling needs no index
read at the start (the sampler is built from the manifest's document counts).

Shards are tiny (20 documents) and on the local disk, so the check's figures are the CPU's; over
a network file system each check also waits on eight round trips (two opens, two sizes, four
reads), and the checks run in threads (``trainer.data.CHECK_THREADS``).

    .venv/bin/python -m bench.trainer_start [--nights 30] [--shards 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import report
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.layout import MANIFEST_FILE
from gristmill.pipeline.manifest import BatchEntry, Manifest, ShardEntry
from gristmill.pipeline.shards import write_shard
from gristmill.trainer.data import WindowSampler, load_dataset

BUCKETS = ("head", "middle", "tail")
CONFIG = {"tokenize": {"buckets": [{"name": b} for b in BUCKETS]}}
DOCS = 20
BLOCK = 64


def build(root: Path, nights: int, shards: int) -> Path:
    """``nights`` batches of ``shards`` shards each (one in 50 a val shard), and the manifest."""
    rng = np.random.default_rng(0)
    batches = []
    for night in range(nights):
        folder = root / f"batch={night}"
        folder.mkdir(parents=True)
        entries = []
        for k in range(shards):
            docs = [rng.integers(0, 50_000, n) for n in rng.integers(30, 200, DOCS)]
            split, bucket = "val" if k % 50 == 0 else "train", BUCKETS[k % len(BUCKETS)]
            name = f"{split}-{bucket}-{k:06d}.bin"
            info = write_shard(folder / name, docs, eot=50_256, dtype=np.uint16)
            path = f"batch={night}/{name}"
            entries.append(ShardEntry(path, split, bucket, info.tokens, DOCS, k, info.sha256))
        batches.append(BatchEntry.write(folder, night, f"batch={night}/", entries))
    Manifest.build(config_from_dict(CONFIG), batches).write(root / MANIFEST_FILE)
    return root / MANIFEST_FILE


def start(manifest: Path, checked: set[str]) -> float:
    """Wall seconds to load the data and build the aligned and unaligned train samplers."""
    began = time.perf_counter()
    data = load_dataset(manifest, checked)
    for aligned in (False, True):
        WindowSampler(data, "train", BLOCK, 8, 0, align_to_docs=aligned)
    return time.perf_counter() - began


def measure(nights: int = 30, shards: int = 1000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as tmp:
        manifest = build(Path(tmp), nights, shards)
        batches = [b.sha256 for b in Manifest.read(manifest).batches]
        first = min(start(manifest, set()) for _ in range(2))
        resumed = min(start(manifest, set(batches[:-1])) for _ in range(2))
        lists = min(start(manifest, set(batches)) for _ in range(2))
    total = nights * shards
    return {
        "nights": nights,
        "shards": total,
        "first_start_s": first,
        "resumed_start_s": resumed,
        "lists_only_s": lists,
        "check_us_per_shard": (first - lists) / total * 1e6,
        "resumed_vs_first": resumed / first,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--shards", type=int, default=1000)
    args = parser.parse_args()
    return report("trainer_start", measure(args.nights, args.shards))


if __name__ == "__main__":
    raise SystemExit(main())
