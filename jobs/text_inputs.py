"""Documents for the training jobs (train-quality, train-lm), from any of the layouts users have:
.txt[.gz] (one document per line), .jsonl[.gz] (a ``text`` field), or Parquet files or
directories (a ``text`` column, e.g. a gristmill stage table, of which only kept rows count).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.pipeline.errors import fail_usage

# A WikiText article's title line: " = Title = " (its sections are " = = Heading = = ").
WIKITEXT_TITLE = re.compile(r"^ ?= [^=].* = ?$")
SOURCED_TEXT_SCHEMA = pa.schema([("text", pa.string()), ("source", pa.string())])


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


def _text_sources(
    batches: Iterable[pa.RecordBatch], heading: re.Pattern[str]
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: whole text files in (``path``, ``value``), one row per line out with the
    source it belongs to (see :func:`read_text_documents`)."""
    for batch in batches:
        texts, sources = [], []
        for path, whole in zip(*batch.to_pydict().values(), strict=True):
            lines = (whole or "").splitlines()
            headed = any(heading.match(line) for line in lines)
            article = 0
            for number, line in enumerate(lines):
                if headed and heading.match(line):
                    article += 1
                texts.append(line)
                sources.append(f"{path}#{article if headed else number}")
        yield pa.RecordBatch.from_pydict(
            {"text": texts, "source": sources}, schema=SOURCED_TEXT_SCHEMA
        )


def read_text_documents(
    spark: SparkSession,
    paths: Sequence[str | Path],
    lang: str | None = None,
    sources: bool = False,
    source_field: str | None = None,
) -> DataFrame:
    """All inputs as one DataFrame with a non-null ``text`` column; with ``lang``, also a
    ``lang`` column: a Parquet table's own (a gristmill stage table has one), else ``lang``.

    With ``sources``, also a ``source`` column naming the document a piece of text comes
    from, so that a held-out split keeps a source's pieces on one side: in a .txt file, the
    article a line is in, an article starting at each WikiText title line (`` = Title = ``), or
    each line its own source in a file without them (such a file is read by one task, whole);
    in .jsonl and Parquet, the value of ``source_field`` (say ``url`` or ``title``), null where
    a record has none (each such record is its own source)."""
    frames = []
    for path in paths:
        kind, where = input_kind(path), str(Path(path).resolve())
        if kind == "text" and sources:
            whole = spark.read.text(where, wholetext=True).withColumn("path", F.lit(where))
            frame = whole.select("path", "value").mapInArrow(
                functools.partial(_text_sources, heading=WIKITEXT_TITLE),
                "text STRING, source STRING",
            )
        elif kind == "text":
            frame = spark.read.text(where).select(F.col("value").alias("text"))
        elif kind == "jsonl":
            fields = f"text STRING, `{source_field}` STRING" if source_field else "text STRING"
            frame = spark.read.schema(fields).json(where)
            if sources:
                named = F.col(source_field) if source_field else F.lit(None).cast("string")
                frame = frame.select("text", named.alias("source"))
        else:
            table = spark.read.parquet(where)
            if "drop_reason" in table.columns:
                table = table.where(F.col("drop_reason").isNull())
            own = [F.col("lang").cast("string")] if lang and "lang" in table.columns else []
            if sources:
                present = source_field in table.columns
                column = F.col(source_field) if source_field and present else F.lit(None)
                own.append(column.cast("string").alias("source"))
            frame = table.select(F.col("text").cast("string"), *own)
        if lang and "lang" not in frame.columns:
            frame = frame.withColumn("lang", F.lit(lang))
        frames.append(frame)
    texts = functools.reduce(DataFrame.unionByName, frames)
    return texts.where(F.col("text").isNotNull())
