"""Documents for the training jobs (train-quality, train-lm), from any of the layouts users have:
.txt[.gz] (one document per line), .jsonl[.gz] (a ``text`` field), or Parquet files or
directories (a ``text`` column, e.g. a gristmill stage table, of which only kept rows count).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import pyarrow.dataset as ds
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.pipeline.errors import fail_usage


def input_kind(path: str | Path) -> str:
    """'text', 'jsonl' or 'parquet' from the name (a directory is a Parquet table)."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir() or name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".txt", ".txt.gz")):
        return "text"
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "jsonl"
    raise ValueError(
        f"{path}: unknown input format (expected .txt, .txt.gz, .jsonl, .jsonl.gz, .parquet "
        "or a Parquet directory)"
    )


def check_text_inputs(paths: Sequence[str | Path], option: str) -> None:
    """Usage errors (exit 2) before Spark starts: missing inputs, unknown formats, Parquet
    without a ``text`` column."""
    for path in map(Path, paths):
        if not path.exists():
            fail_usage(f"{option} input not found: {path}")
        try:
            if input_kind(path) == "parquet" and "text" not in ds.dataset(path).schema.names:
                fail_usage(f"{path}: the Parquet table has no 'text' column")
        except (ValueError, OSError) as exc:
            fail_usage(str(exc))


def read_text_documents(
    spark: SparkSession, paths: Sequence[str | Path], lang: str | None = None
) -> DataFrame:
    """All inputs as one DataFrame with a non-null ``text`` column; with ``lang``, also a
    ``lang`` column: a Parquet table's own (a gristmill stage table has one), else ``lang``."""
    frames = []
    for path in paths:
        kind, where = input_kind(path), str(Path(path).resolve())
        if kind == "text":
            frame = spark.read.text(where).select(F.col("value").alias("text"))
        elif kind == "jsonl":
            frame = spark.read.schema("text STRING").json(where)
        else:
            table = spark.read.parquet(where)
            if "drop_reason" in table.columns:
                table = table.where(F.col("drop_reason").isNull())
            own = [F.col("lang").cast("string")] if lang and "lang" in table.columns else []
            frame = table.select(F.col("text").cast("string"), *own)
        if lang and "lang" not in frame.columns:
            frame = frame.withColumn("lang", F.lit(lang))
        frames.append(frame)
    texts = functools.reduce(DataFrame.unionByName, frames)
    return texts.where(F.col("text").isNotNull())
