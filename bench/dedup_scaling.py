"""Dedup scaling: wall time and driver memory of the Spark dedup job on N and on 4N documents.

The inputs are quality-stage tables built from the real documents of
:mod:`bench.dedup_quality` (each copy with 30% of its words substituted, so copies are not
duplicates of each other), with 5% planted near-duplicates (1% of words substituted) and 2% exact
copies, the same mix at both sizes. Each size runs in its own process on ``local[2]``, after a
small warm-up run (JVM JIT, Python workers, numba cache), so the figures are the job's own:

- ``seconds``: wall time of ``gristmill.jobs.dedup.run``; the target is 4N within ~4.4x of N;
- ``python_driver_peak_rss_mb``: the driver process's peak resident memory (VmHWM; nothing is
  collected to it, so it should not grow with the input);
- ``jvm_peak_rss_mb``: the JVM's, which in local mode also runs the executors' tasks.

    .venv/bin/python -m bench.dedup_scaling [--docs 8000]
    # writes bench/results/dedup_scaling.json
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.dedup_quality import edit, originals
from bench.timing import report
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger
from gristmill.schemas.tables import INGEST, QUALITY

FILES = 8


def make_input(out: Path, n: int, seed: int = 0) -> None:
    """The ingest and quality stages of n documents under ``out/stages``."""
    rng = random.Random(seed)
    texts = originals()
    rows = []
    while len(rows) < n:
        words = texts[rng.randrange(len(texts))].split()
        text = edit(words, "substitute", 0.3, [], rng)
        rows.append(text)
        if rng.random() < 0.05:
            rows.append(edit(text.split(), "substitute", 0.01, [], rng))
        if rng.random() < 0.02:
            rows.append(text.upper())
    # As the jobs store them: the text in the ingest table, quality's rows without it (quality
    # stores only the texts its cleaning changed); (doc_id, input_file) joins the two.
    ids = [f"{i:032x}" for i in range(n)]
    tables = {
        "ingest": pa.Table.from_pylist(
            [
                {"doc_id": d, "input_file": "bench", "text": t}
                for d, t in zip(ids, rows[:n], strict=True)
            ],
            schema=INGEST,
        ),
        "quality": pa.Table.from_pylist(
            [{"doc_id": d, "input_file": "bench", "quality_score": rng.random()} for d in ids],
            schema=QUALITY,
        ),
    }
    for name, table in tables.items():
        stage = Layout(out).stage(name, 1)
        stage.mkdir(parents=True)
        for k in range(FILES):
            part = table.take(list(range(k, n, FILES)))
            pq.write_table(part, stage / f"part-{k}.parquet")
        (stage / "_stats.json").write_text("{}")


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def child(warmup: Path, out: Path) -> dict:
    """Run in a fresh process: warm up on a small input, then time the dedup of ``out``."""
    from gristmill.jobs import dedup
    from gristmill.pipeline.config import Config, SparkConfig
    from gristmill.pipeline.spark import spark_session

    spark = spark_session(SparkConfig(master="local[2]"))
    ledgers = {}
    for where in (warmup, out):
        ledgers[where] = Ledger.of_imported_batch(where, ["ingest", "quality"])
    dedup.run_batch(spark, warmup, Config(), 1, ledgers[warmup])
    started = time.perf_counter()
    stats = dedup.run_batch(spark, out, Config(), 1, ledgers[out])
    seconds = time.perf_counter() - started
    jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    return {
        "docs": stats["in"],
        "seconds": seconds,
        "fuzzy_duplicates": stats["dedup"]["fuzzy_duplicates"],
        "exact_duplicates": stats["dedup"]["exact_duplicates"],
        "python_driver_peak_rss_mb": peak_rss_mb(),
        "jvm_peak_rss_mb": peak_rss_mb(jvm),
    }


def measure(docs: int = 8000) -> dict:
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as tmp:
        root = Path(tmp)
        make_input(root / "warmup", 200, seed=1)
        runs = []
        for n in (docs, 4 * docs):
            make_input(root / str(n), n)
            command = [sys.executable, "-m", "bench.dedup_scaling", "--child", str(root), str(n)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    small, large = runs
    return {
        "runs": runs,
        "time_ratio_4x_docs": large["seconds"] / small["seconds"],
        "python_driver_memory_ratio_4x_docs": (
            large["python_driver_peak_rss_mb"] / small["python_driver_peak_rss_mb"]
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=8000)
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "N"))
    args = parser.parse_args()
    if args.child:
        root = Path(args.child[0])
        print(json.dumps(child(root / "warmup", root / args.child[1])))
        return 0
    return report("dedup_scaling", measure(args.docs))


if __name__ == "__main__":
    sys.exit(main())
