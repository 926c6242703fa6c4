"""Independent Spark actions run together: at once, each result in its place, the stage's job
group kept, and a failure raised only once every action has finished."""

from __future__ import annotations

import io
import threading
import time

import pytest

from gristmill.jobs.progress import progress
from gristmill.jobs.together import together


def test_actions_overlap_and_keep_the_job_group(spark):
    sc = spark.sparkContext
    inside = threading.Barrier(2, timeout=60)  # each waits for the other: they must overlap

    def action(n: int) -> tuple[int, str | None]:
        inside.wait()
        count = spark.range(n).count()
        return count, sc.getLocalProperty("spark.jobGroup.id")

    with progress(sc, "batch 7 dedup", stream=io.StringIO()):
        results = together(spark, lambda: action(10), lambda: action(20))
    assert results == [(10, "batch 7 dedup"), (20, "batch 7 dedup")]


def test_a_failure_waits_for_the_others(spark):
    finished = []

    def fails() -> None:
        raise ValueError("first")

    def slow() -> None:
        time.sleep(0.5)
        spark.range(5).count()
        finished.append("slow")

    with pytest.raises(ValueError, match="first"):
        together(spark, fails, slow)
    assert finished == ["slow"]
