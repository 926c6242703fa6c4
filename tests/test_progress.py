"""The live progress line: on a terminal it names the stage and counts Spark's tasks; elsewhere
it writes nothing, so logs stay one line per stage."""

from __future__ import annotations

import io
import time

from gristmill.jobs.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def slow_rows(rows):
    for row in rows:
        time.sleep(0.1)
        yield row


def test_progress_counts_tasks_on_a_terminal_only(spark):
    work = spark.sparkContext.parallelize(range(80), 8).mapPartitions(slow_rows)
    shown = Terminal()
    with progress(spark.sparkContext, "batch 1 dedup", stream=shown):
        assert work.count() == 80
    lines = [line for line in shown.getvalue().split("\r\033[K") if line]
    assert lines and all(line.startswith("batch 1 dedup: ") for line in lines)
    assert any("tasks " in line and "/8" in line for line in lines)
    assert shown.getvalue().endswith("\r\033[K")  # the line is cleared when the stage ends

    quiet = io.StringIO()
    with progress(spark.sparkContext, "batch 1 dedup", stream=quiet):
        work.count()
    assert quiet.getvalue() == ""
