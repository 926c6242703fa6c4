"""Whole-pipeline runs for the benches: a larger corpus made from the real pages, and
``gristmill run`` in a subprocess with the peak memory of its driver, JVM and Python workers.

Copy ``k`` of the real pages gets new record ids and URLs and, in its text nodes, edits that make
most copies distinct documents (30% of words replaced), every 5th a near duplicate of the
original (1%) and every 7th an exact one: ingest, quality and dedup all have real work.
"""

from __future__ import annotations

import io
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import yaml
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from bench.corpus import warc_files

GRISTMILL = Path(sys.executable).parent / "gristmill"
TEXT_NODE = re.compile(rb">([^<]{40,})<")
# The bench config: no models (quality throughput with models is bench.quality_throughput),
# and no per-stage token counts in the card, so both sides of spark_vs_inprocess do the same work.
CONFIG = {"card": {"stage_tokens": False}}


def edit_rate(copy: int) -> float:
    if copy == 0 or copy % 7 == 0:
        return 0.0
    return 0.01 if copy % 5 == 0 else 0.3


def edited(payload: bytes, rate: float, rng: random.Random) -> bytes:
    if rate == 0.0:
        return payload

    def change(match: re.Match) -> bytes:
        words = match.group(1).split(b" ")
        for i in range(len(words)):
            if rng.random() < rate:
                words[i] = b"w%d" % rng.randrange(10**6)
        return b">" + b" ".join(words) + b"<"

    return TEXT_NODE.sub(change, payload)


def make_corpus(where: Path, copies: int) -> list[tuple[list[Path], int]]:
    """``copies`` copies of the real-page WARCs, one file per original file and copy; per copy,
    its files and its number of response records (the first k copies are the corpus k times the
    size)."""
    where.mkdir(parents=True, exist_ok=True)
    result = []
    for copy in range(copies):
        files, records = [], 0
        for source in warc_files():
            rng = random.Random(f"{source.name}/{copy}")
            target = where / f"{source.name.removesuffix('.warc.gz')}-copy{copy:03d}.warc.gz"
            with source.open("rb") as raw, target.open("wb") as out:
                writer = WARCWriter(out, gzip=True)
                for rec in ArchiveIterator(raw):
                    if rec.rec_type != "response":
                        continue
                    url = rec.rec_headers.get_header("WARC-Target-URI")
                    payload = edited(rec.content_stream().read(), edit_rate(copy), rng)
                    headers = StatusAndHeaders(
                        "200 OK", rec.http_headers.headers, protocol="HTTP/1.1"
                    )
                    headers.remove_header("Content-Length")
                    headers.remove_header("Transfer-Encoding")
                    headers.remove_header("Content-Encoding")
                    writer.write_record(
                        writer.create_warc_record(
                            f"{url}#copy{copy}" if copy else url,
                            "response",
                            payload=io.BytesIO(payload),
                            http_headers=headers,
                            warc_headers_dict={
                                "WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>",  # noqa: E501
                                "WARC-Date": rec.rec_headers.get_header("WARC-Date")
                                or "2024-01-01T00:00:00Z",
                            },
                        )
                    )
                    records += 1
            files.append(target)
        result.append((files, records))
    return result


def write_config(where: Path, extra: dict[str, Any] | None = None) -> Path:
    path = where / "bench-config.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **(extra or {})}))
    return path


class PeakMemory(threading.Thread):
    """Samples the RSS of a process tree every 0.2 s: JVMs, the Python driver (the root) and
    Python workers apart, and their sum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = {"jvm_mb": 0.0, "python_driver_mb": 0.0, "python_workers_mb": 0.0}
        self.peak_total_mb = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now = dict.fromkeys(self.peak, 0.0)
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                try:
                    rss = proc.memory_info().rss / 2**20
                    name = proc.name()
                except psutil.Error:
                    continue
                if "java" in name:
                    now["jvm_mb"] += rss
                elif proc.pid == self.root.pid:
                    now["python_driver_mb"] += rss
                elif "python" in name:
                    now["python_workers_mb"] += rss
            for key, value in now.items():
                self.peak[key] = max(self.peak[key], value)
            self.peak_total_mb = max(self.peak_total_mb, sum(now.values()))
            time.sleep(0.2)


STAGE_LINE = re.compile(r"^(?:batch \d+ )?(\w+): .*\(([\d.]+) s[,)]")


def run_pipeline(
    inputs: list[Path] | list[str],
    out: Path,
    config: Path,
    master: str,
    benchmarks: Sequence[Path] = (),
) -> dict[str, Any]:
    """``gristmill run`` in a subprocess: wall time, each stage's time, peak memory."""
    command = [
        str(GRISTMILL), "run", "--input", *map(str, inputs), "--output", str(out),
        "--config", str(config), "--master", master,
    ]  # fmt: skip
    if benchmarks:
        command += ["--benchmark", *map(str, benchmarks)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid)
    memory.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    memory.done.set()
    memory.join()
    if proc.returncode != 0:
        raise RuntimeError(f"gristmill run failed ({proc.returncode}): {stderr[-3000:]}")
    stages = {
        m.group(1): float(m.group(2))
        for line in stdout.splitlines()
        if (m := STAGE_LINE.match(line.strip()))
    }
    return {
        "seconds": seconds,
        "stage_seconds": stages,
        "peak_rss_mb": {k: round(v, 1) for k, v in memory.peak.items()},
        "peak_rss_total_mb": round(memory.peak_total_mb, 1),
    }
