"""The ledger's and the shard manifest's cost of a night, on an output that holds 1 and 30
earlier nights of a whole crawl.

A night of the user we build for plans 80,000 new WARC files of a crawl: it loads the ledger,
finds which of tonight's files are new, records the batch, saves the ledger after each stage
(five batch stages, two final ones), and rewrites ``shards/manifest.json`` over every batch
(each night wrote 1,500 shards: a whole crawl at 10^8 tokens a shard). That cost must be the
night's, not the corpus's: the figure
is ``night30_vs_night1``, the wall time of that work on an output of 30 earlier nights over the
same on an output of one (goal: about 1), with each night's peak RSS, each measured in a fresh
process. Each earlier night read a crawl of its own; tonight's files are the last night's crawl
again, 80,000 files of which the last night read none (a crawl's manifest is planned in slices,
or its files come back after a failure).

    .venv/bin/python -m bench.ledger_scale [--files 80000]
    # writes bench/results/ledger_scale.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.dedup_scaling import peak_rss_mb
from bench.timing import report
from gristmill.jobs.tokenize_shards import write_manifest
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.layout import Layout, batch_dir
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.manifest import BatchEntry, ShardEntry
from gristmill.pipeline.stages import BATCH_STAGES, FINAL_STAGES

WARC = "s3://commoncrawl/crawl-data/{crawl}/segments/1707947473347.{night}/warc/{n:05d}.warc.gz"


def described(crawl: str, night: int, files: int) -> list[dict]:
    return [
        {"uri": WARC.format(crawl=crawl, night=night, n=n), "size": 10**9 + n, "checksum": "etag:x"}
        for n in range(files)
    ]


SHARDS_PER_NIGHT = 1_500
CONFIG = config_from_dict({})


def write_shard_list(out: Path, batch: int, shards: int) -> None:
    """A batch's files.json and summary.json, as the tokenize stage writes them."""
    prefix = f"{batch_dir(batch)}/"
    buckets = [b.name for b in CONFIG.tokenize.buckets]
    entries = [
        ShardEntry(f"{prefix}train-{buckets[k % len(buckets)]}-{k:06d}.bin", "train",
                   buckets[k % len(buckets)], 10**8, 90_000, k, "ab" * 32)
        for k in range(shards)
    ]  # fmt: skip
    folder = Layout(out).shards(batch)
    folder.mkdir(parents=True, exist_ok=True)
    BatchEntry.write(folder, batch, prefix, entries)


def earlier_nights(out: Path, nights: int, files: int) -> str:
    """``nights`` batches of ``files`` inputs each; returns the last one's crawl."""
    ledger = Ledger.load(out)
    for night in range(nights):
        crawl = f"CC-MAIN-{2000 + night // 50}-{night % 50 + 1:02d}"
        batch = ledger.add_batch(described(crawl, night, files))
        for stage in BATCH_STAGES:
            ledger.mark(batch, stage, {"in": 1, "out": 1, "dropped": {}}, "d", "first run")
        write_shard_list(out, batch, SHARDS_PER_NIGHT)
    ledger.save()
    return crawl


def tonight(out: Path, crawl: str, files: int) -> dict:
    """The ledger's share of one night, in this process."""
    start = time.perf_counter()
    ledger = Ledger.load(out)
    fresh = ledger.new_inputs(i["uri"] for i in described(crawl, 999, files))
    batch = ledger.add_batch(described(crawl, 999, files)[: len(fresh)])
    ledger.save()
    for stage in BATCH_STAGES:
        ledger.mark(batch, stage, {"in": 1, "out": 1, "dropped": {}}, "d", "first run")
        ledger.save()
    write_shard_list(out, batch, SHARDS_PER_NIGHT)
    manifest_start = time.perf_counter()
    write_manifest(out, CONFIG, ledger.complete())
    manifest_seconds = time.perf_counter() - manifest_start
    for stage in FINAL_STAGES:
        ledger.mark_final(stage, {}, "d")
        ledger.save()
    return {
        "seconds": time.perf_counter() - start,
        "manifest_seconds": manifest_seconds,
        "new_inputs": len(fresh),
        "peak_rss_mb": peak_rss_mb(),
    }


def measure(files: int = 80_000) -> dict:
    runs = {}
    with tempfile.TemporaryDirectory(prefix="gristmill-ledger-") as tmp:
        for nights in (1, 30):
            out = Path(tmp) / f"after-{nights}"
            crawl = earlier_nights(out, nights, files)
            child = [sys.executable, "-m", "bench.ledger_scale", "--tonight", str(out), crawl]
            done = subprocess.run([*child, str(files)], check=True, capture_output=True, text=True)
            runs[nights] = json.loads(done.stdout)
            runs[nights]["ledger_json_bytes"] = (out / "ledger.json").stat().st_size
            runs[nights]["manifest_json_bytes"] = Layout(out).manifest.stat().st_size
    return {
        "files_per_night": files,
        "shards_per_night": SHARDS_PER_NIGHT,
        "after_1_night": runs[1],
        "after_30_nights": runs[30],
        "night30_vs_night1": runs[30]["seconds"] / runs[1]["seconds"],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=80_000)
    parser.add_argument("--tonight", nargs=3, metavar=("OUT", "CRAWL", "FILES"))
    args = parser.parse_args(argv)
    if args.tonight:
        out, crawl, files = args.tonight
        print(json.dumps(tonight(Path(out), crawl, int(files))))
        return 0
    return report("ledger_scale", measure(args.files))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
