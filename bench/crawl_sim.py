"""Eight nights of a crawl, served by a failing HTTP server: what a scheduled user pays per night.

Each night ``gristmill run`` (Spark local[2], in a subprocess) takes that night's new WARC files
(copies of the real pages with cross-night exact and near duplicates, :mod:`bench.pipeline_runs`)
from a server on 127.0.0.1 that fails about a third of the GETs in the first attempts of a file
(503 Slow Down, 429, a reset mid-body, a short body), and is down for one file all of the fifth
night. Measured: each night's wall time (goal: night 8 <= 1.25x night 2), inputs lost (goal 0:
the file down for a night is ingested the next one), bytes of earlier nights' shards rewritten
(goal 0), the output's size against ingest + documents + shards (goal <= 1.5x), and the
per-document answers of the first three nightly batches against one batch of the same files
(quality signals, buckets and decisions, decontamination cuts; dedup only by the documented
earlier-batch-wins rule).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.corpus import benchmark_files
from bench.pipeline_runs import make_corpus, run_pipeline, write_config
from bench.timing import report
from gristmill.pipeline.ledger import Ledger
from tests.flaky_http import CUT, OK, SHORT, SLOW_DOWN, TOO_MANY, flaky_server
from tests.test_batching import DECONTAMINATION, by_doc

MASTER = "local[2]"
NIGHTS = 8
DOWN_NIGHT = 4  # one file is down all night (0-based): set aside, ingested on the next night
COPIES_PER_NIGHT = 3
FAILURES = (SLOW_DOWN, TOO_MANY, CUT, SHORT)
FAIL_SHARE = 0.35  # of a file's first attempts
ATTEMPTS_THAT_MAY_FAIL = 4  # then it serves, within ingest.network.max_retries
# Short back-offs: the bench measures the pipeline, not sleeps; the retry logic is the same.
NETWORK = {"max_retries": 8, "backoff_initial_s": 0.02, "backoff_max_s": 0.2}


class Weather:
    """Which GET fails: a fixed pseudo-random share of each file's first attempts, and every
    attempt of the files that are down tonight."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.failed = 0
        self.total = 0

    def __call__(self, name: str, k: int) -> str:
        self.total += 1
        if name in self.down:
            self.failed += 1
            return SLOW_DOWN
        draw = int.from_bytes(hashlib.sha256(f"{name}/{k}".encode()).digest()[:4], "big") / 2**32
        if k < ATTEMPTS_THAT_MAY_FAIL and draw < FAIL_SHARE:
            self.failed += 1
            return FAILURES[int(draw * 1000) % len(FAILURES)]
        return OK


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def shard_files(out: Path) -> dict[str, tuple[int, int, int]]:
    """(size, inode, mtime_ns) of every shard file, to see whether a later night touched it."""
    return {
        str(p.relative_to(out)): (p.stat().st_size, p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (out / "shards").rglob("batch=*/*")
    }


def answers_differ(whole: Path, nightly: Path) -> dict[str, int]:
    """Documents whose answers differ between one batch and three, per stage."""
    differ = {}
    one, three = by_doc(whole, "quality"), by_doc(nightly, "quality")
    differ["quality"] = sum(three.get(d) != row for d, row in one.items())
    one, three = by_doc(whole, "dedup"), by_doc(nightly, "dedup")
    duplicates = {"exact_duplicate", "fuzzy_duplicate", None}
    differ["dedup_beyond_earlier_wins"] = sum(
        row["drop_reason"] != three[d]["drop_reason"]
        and not {row["drop_reason"], three[d]["drop_reason"]} <= duplicates
        for d, row in one.items()
    )
    one, three = by_doc(whole, "decontaminate"), by_doc(nightly, "decontaminate")
    differ["decontaminate"] = sum(
        {k: one[d][k] for k in (*DECONTAMINATION, "text")}
        != {k: three[d][k] for k in (*DECONTAMINATION, "text")}
        for d in one.keys() & three.keys()
    )
    return differ


def measure(nights: int = NIGHTS, copies_per_night: int = COPIES_PER_NIGHT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gristmill-crawl-sim-") as tmp:
        root = Path(tmp)
        copies = make_corpus(root / "crawl", nights * copies_per_night)
        config = write_config(root, {"ingest": {"network": NETWORK}})
        benchmarks = benchmark_files()
        weather = Weather()
        out = root / "out"
        per_night, shards_after = [], []
        with flaky_server(root / "crawl", weather) as server:
            url = lambda p: f"{server.url}/{p.name}"  # noqa: E731
            for night in range(nights):
                chosen = copies[night * copies_per_night : (night + 1) * copies_per_night]
                files = [f for fs, _ in chosen for f in fs]
                weather.down = {files[0].name} if night == DOWN_NIGHT else set()
                # Tonight's new files; the ledger plans again what a failure set aside.
                run = run_pipeline([url(f) for f in files], out, config, MASTER, benchmarks)
                run["documents"] = sum(n for _, n in chosen)
                per_night.append(run)
                shards_after.append(shard_files(out))
            # The first three nights' files again, as one batch.
            weather.down = set()
            first_three = [url(f) for fs, _ in copies[: 3 * copies_per_night] for f in fs]
            whole = root / "whole"
            run_pipeline(first_three, whole, config, MASTER, benchmarks)
        given = {url(f) for fs, _ in copies for f in fs}
        ledger = Ledger.load(out)
        inputs = [i for b in ledger.batches for i in ledger.inputs(b["batch"])]
        ingested = {i["uri"] for i in inputs}
        waiting = {u for u, r in ledger.retries.items() if not r["given_up"]}
        rewritten = sum(
            size
            for night, before in enumerate(shards_after[:-1])
            for path, (size, ino, mtime) in before.items()
            if path.startswith(f"shards/batch={night + 1:05d}")
            and shards_after[-1].get(path) != (size, ino, mtime)
        )
        base = sum(folder_bytes(out / d) for d in ("stages/ingest", "documents", "shards"))
        total = folder_bytes(out)
        by_folder = {p.name: folder_bytes(p) for p in sorted(out.iterdir()) if p.is_dir()} | {
            f"stages/{p.name}": folder_bytes(p) for p in sorted((out / "stages").iterdir())
        }
        seconds = [r["seconds"] for r in per_night]
        return {
            "master": MASTER,
            "nights": nights,
            "documents_per_night": [r["documents"] for r in per_night],
            "night_seconds": seconds,
            "stage_seconds": [r["stage_seconds"] for r in per_night],
            "night8_vs_night2": seconds[-1] / seconds[1],
            "requests": weather.total,
            "failed_requests": weather.failed,
            "failed_share": weather.failed / max(1, weather.total),
            "inputs_given": len(given),
            "inputs_lost": len(given - ingested - waiting),
            "inputs_given_up": len(ledger.given_up()),
            "inputs_ingested_after_a_failed_night": sum(i.get("attempts", 0) >= 2 for i in inputs),
            "rewritten_shard_bytes": rewritten,
            "output_bytes": total,
            "ingest_documents_shards_bytes": base,
            "output_vs_ingest_documents_shards": total / base,
            "bytes_by_folder": by_folder,
            "one_vs_three_batches_differ": answers_differ(whole, out),
            "peak_rss_mb": per_night[-1]["peak_rss_mb"],
            "cpus": os.cpu_count(),
        }


def main() -> int:
    return report("crawl_sim", measure())


if __name__ == "__main__":
    raise SystemExit(main())
