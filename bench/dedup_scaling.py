"""Dedup scaling: wall time and driver memory of the Spark dedup job on N and on 4N documents.

The inputs are quality-stage tables built from the real documents of
:mod:`bench.dedup_quality` (each copy with 30% of its words substituted, so copies are not
duplicates of each other), with 5% planted near-duplicates (1% of words substituted) and 2% exact
copies, the same mix at both sizes. Each size runs in its own process on ``local[2]``, after a
small warm-up run (JVM JIT, Python workers, numba cache), so the figures are the job's own:

- ``seconds``: wall time of ``gristmill.jobs.dedup.run``; the target is 4N within ~4.4x of N;
- ``python_driver_peak_rss_mb``: the driver process's peak resident memory (VmHWM; on the Spark
  path nothing is collected to it, so it should not grow with the input);
- ``jvm_peak_rss_mb``: the JVM's, which in local mode also runs the executors' tasks.

Each size runs twice, side by side: with the candidate pairs, verification and components in
Spark (``dedup.local_max_docs: 0``, what a batch over that bound gets) and on the driver (what a
batch under it gets; here at every size, to show how the driver's time and memory grow:
448 bytes of signature a document, and its band rows); ``driver_vs_spark`` is the ratio of
their times at each size.

    .venv/bin/python -m bench.dedup_scaling [--docs 8000]
    # writes bench/results/dedup_scaling.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


# dedup.local_max_docs of each: every size in Spark, and every size on the driver (past the
# default bound of 50,000, to show how its time and memory grow).
PATHS = {"spark": 0, "driver": 10**9}


def child(warmup: Path, out: Path, path: str) -> dict:
    """Run in a fresh process: warm up on a small input, then time the dedup of ``out``, its
    pairs found by ``path`` (a key of :data:`PATHS`)."""
    from gristmill.jobs import dedup
    from gristmill.pipeline.config import SparkConfig, config_from_dict
    from gristmill.pipeline.spark import spark_session

    spark = spark_session(SparkConfig(master="local[2]"))
    cfg = config_from_dict({"dedup": {"local_max_docs": PATHS[path]}})
    ledgers = {}
    for where in (warmup, out):
        ledgers[where] = Ledger.of_imported_batch(where, ["ingest", "quality"])
    dedup.run_batch(spark, warmup, cfg, 1, ledgers[warmup])
    started = time.perf_counter()
    stats = dedup.run_batch(spark, out, cfg, 1, ledgers[out])
    seconds = time.perf_counter() - started
    jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    return {
        "path": path,
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
        runs: dict[str, list[dict]] = {path: [] for path in PATHS}
        for n in (docs, 4 * docs):
            make_input(root / str(n), n)
            for path in PATHS:
                for name in (str(n), "warmup"):  # each run writes its outputs beside the input
                    for written in ("dedup", "stages/dedup"):
                        shutil.rmtree(root / name / written, ignore_errors=True)
                command = [sys.executable, "-m", "bench.dedup_scaling", "--child", str(root)]
                command += [str(n), path]
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                runs[path].append(json.loads(done.stdout.strip().splitlines()[-1]))
    result: dict[str, Any] = {"runs": [run for path in PATHS for run in runs[path]]}
    for path, (small, large) in runs.items():
        prefix = "" if path == "spark" else f"{path}_"
        result[f"{prefix}time_ratio_4x_docs"] = large["seconds"] / small["seconds"]
        result[f"{prefix}python_driver_memory_ratio_4x_docs"] = (
            large["python_driver_peak_rss_mb"] / small["python_driver_peak_rss_mb"]
        )
    result["driver_vs_spark"] = [
        driver["seconds"] / spark["seconds"]
        for spark, driver in zip(runs["spark"], runs["driver"], strict=True)
    ]
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=8000)
    parser.add_argument("--child", nargs=3, metavar=("ROOT", "N", "PATH"))
    args = parser.parse_args()
    if args.child:
        root = Path(args.child[0])
        print(json.dumps(child(root / "warmup", root / args.child[1], args.child[2])))
        return 0
    return report("dedup_scaling", measure(args.docs))


if __name__ == "__main__":
    sys.exit(main())
