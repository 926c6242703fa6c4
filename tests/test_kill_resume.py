"""kill -9 in the middle of a stage, again and again, then one more run: the output is the same
as an uninterrupted run's, and at no point does a partial result sit under a final name."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from gristmill.pipeline.layout import STAGE_STATS_FILE, Layout
from tests.conftest import result_inputs
from tests.test_pipeline import shard_files

GRISTMILL = Path(sys.executable).parent / "gristmill"
# Names of the temporaries (under <output>/tmp/) whose appearance means that stage is writing:
# the run is killed then, mid-write. Each restart gets further than the one before.
KILL_WHEN_WRITING = ("stages-ingest-", "stages-quality-", "dedup-clusters-", "shards-")


def kill_when_writing(command: list[str], out: Path, prefix: str, seconds: float = 300) -> None:
    """Start a run, SIGKILL its whole process group (the Python driver and Spark's JVM) as soon
    as a temporary named ``prefix...`` appears."""
    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            tmp = Layout(out).tmp
            if tmp.is_dir() and any(p.name.startswith(prefix) for p in tmp.iterdir()):
                return
            if proc.poll() is not None:
                raise AssertionError(
                    f"the run ended (rc {proc.returncode}) before writing {prefix}*: "
                    f"{proc.stderr.read().decode()[-2000:]}"
                )
            time.sleep(0.02)
        raise AssertionError(f"no {prefix}* after {seconds} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def assert_nothing_partial(out: Path) -> None:
    """Every table under a final name is committed (has its stats), and the ledger records only
    committed stages."""
    for stage_dir in (out / "stages").glob("*/batch=*"):
        assert (stage_dir / STAGE_STATS_FILE).is_file(), stage_dir
    if (out / "shards").exists():
        assert (out / "shards" / "manifest.json").is_file()
    ledger = json.loads(Layout(out).ledger.read_text())
    for batch in ledger["batches"]:
        for stage in batch["stages"]:
            done = out / "stages" / stage / f"batch={batch['batch']:05d}" / STAGE_STATS_FILE
            assert done.is_file(), done


def test_killed_runs_resume_to_the_output_of_an_uninterrupted_run(
    result, sample, shared_data, demo_config, tmp_path
):
    reference = result[0]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(demo_config))
    inputs, benchmarks = result_inputs(sample, shared_data)
    out = tmp_path / "out"
    command = [
        str(GRISTMILL), "run", "--input", *map(str, inputs), "--benchmark",
        *map(str, benchmarks), "--config", str(config), "--output", str(out),
        "--master", "local[2]",
    ]  # fmt: skip
    for prefix in KILL_WHEN_WRITING:
        kill_when_writing(command, out, prefix)
        assert_nothing_partial(out)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    # No Spark log lines or start-up banner unless --verbose (the JVM's own one-line notice of
    # its incubator modules is not Spark's to silence).
    assert not re.search(r"\b(WARN|INFO)\b \w+:", finished.stderr), finished.stderr[-3000:]
    assert "log4j" not in finished.stderr and "default log level" not in finished.stderr

    assert shard_files(out) == shard_files(reference)
    ours, theirs = (json.loads((o / "stats.json").read_text()) for o in (out, reference))
    for stage, counts in theirs["stages"].items():
        for key in ("in", "out", "dropped"):
            assert ours["stages"][stage][key] == counts[key], (stage, key)
    report = "decontamination/report.json"
    assert json.loads((out / report).read_text()) == json.loads((reference / report).read_text())
    assert not Layout(out).tmp.exists() or not any(Layout(out).tmp.iterdir())
