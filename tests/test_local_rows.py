"""DataFrames of the driver's rows, made without Python workers."""

from __future__ import annotations

import pyarrow as pa

from gristmill.jobs.local_rows import local_frame, one_row_per_task


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


def test_each_task_gets_one_row_in_order(spark):
    """Ingest's tasks each read one input, in the batch's order; a DataFrame over a Python RDD
    would convert its rows in a second Python worker in every task (its plan scans that RDD)."""
    rows = pa.table({"uri": [f"s3://b/{i}.warc.gz" for i in range(7)], "size": [None] * 7})
    rows = rows.cast(pa.schema({"uri": pa.string(), "size": pa.int64()}))
    files = one_row_per_task(spark, rows)
    assert files.columns == ["uri", "size"]
    parts = files.rdd.glom().map(lambda part: [(r["uri"], r["size"]) for r in part]).collect()
    assert parts == [[(f"s3://b/{i}.warc.gz", None)] for i in range(7)]
    plan = _plan(files)
    assert "ExistingRDD" not in plan and "LocalTableScan" in plan and "BroadcastHashJoin" in plan


def test_a_column_named_id_is_kept(spark):
    rows = pa.table({"id": ["a", "b"], "n": [1, 2]})
    assert [tuple(r) for r in one_row_per_task(spark, rows).collect()] == [("a", 1), ("b", 2)]


def test_local_frame_keeps_types_and_takes_no_rows(spark):
    schema = pa.schema([("order", pa.int32()), ("ngram", pa.string()), ("earlier", pa.bool_())])
    full = local_frame(spark, pa.table({"order": [1], "ngram": ["<s>"], "earlier": [True]}, schema))
    assert full.dtypes == [("order", "int"), ("ngram", "string"), ("earlier", "boolean")]
    assert [tuple(r) for r in full.collect()] == [(1, "<s>", True)]
    empty = local_frame(spark, schema.empty_table())
    assert empty.dtypes == full.dtypes and empty.count() == 0
    assert "ExistingRDD" not in _plan(full)
