"""Two runs on one output directory: the second stops at once with a clear message."""

from __future__ import annotations

import fcntl
import subprocess
import sys

from gristmill.jobs.options import EXIT_LOCKED
from gristmill.pipeline.layout import Layout


def test_second_run_on_a_locked_output_exits(tmp_path, shared_data):
    out = tmp_path / "out"
    warc = shared_data / "warc" / "realpages-00004.warc.gz"
    out.mkdir()
    with Layout(out).lock.open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("12345\n")
        held.flush()
        proc = subprocess.run(
            [sys.executable, "-m", "gristmill.pipeline.cli", "run", "--input", str(warc),
             "--output", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == EXIT_LOCKED, proc.stderr
    assert "another gristmill run (pid 12345)" in proc.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == [Layout(out).lock.name], "the second run wrote something"


def test_lock_is_released_when_its_holder_dies(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from jobs.options import output_lock\n"
         f"with output_lock(Path({str(out)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with Layout(out).lock.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if still held
