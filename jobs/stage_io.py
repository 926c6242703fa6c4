"""Reading and committing stage tables: the only place that knows the output layout on disk.

A stage is written to a hidden temporary directory beside its final place, its counts are taken
from what was actually written, and only then is it renamed into ``stages/<stage>/``. A run killed
mid-stage leaves a ``<stage>.tmp-*`` directory, never a half-written table under the final name.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.stats import STAGE_STATS_FILE, check_counts, stage_counts


def stage_path(out: Path, stage: str) -> Path:
    return out / "stages" / stage


def temp_path(final: Path) -> Path:
    # Not dot- or underscore-prefixed: Spark's reader treats such paths as hidden and skips them.
    return final.parent / f"{final.name}.tmp-{uuid.uuid4().hex[:8]}"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), keys sorted so equal data gives equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    tmp.replace(path)


def commit(tmp: Path, final: Path, out: Path) -> None:
    """Move a finished temp directory into place, replacing an older result of the same stage."""
    final_resolved = final.resolve()
    if out.resolve() not in final_resolved.parents:
        raise ValueError(f"refusing to replace {final}: it is not inside the output {out}")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def read_kept(spark: SparkSession, out: Path, stage: str) -> DataFrame:
    """The documents a stage kept: its table's rows with a null drop_reason, without the column."""
    path = stage_path(out, stage)
    if not (path / STAGE_STATS_FILE).is_file():
        raise FileNotFoundError(f"stage '{stage}' has no complete output in {path}; run it first")
    df = spark.read.parquet(str(path.resolve()))
    return df.where(F.col("drop_reason").isNull()).drop("drop_reason")


def write_stage(
    df: DataFrame,
    out: Path,
    stage: str,
    extra: Callable[[DataFrame], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write a stage table, count it by drop_reason, write _stats.json, commit; return the stats.

    ``extra`` is called with the written table after it is written and before the commit, for
    stage-specific stats and side outputs that need the computed data.
    """
    final = stage_path(out, stage)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    df.write.parquet(str(tmp.resolve()))
    spark = df.sparkSession
    written = spark.read.parquet(str(tmp.resolve()))
    by_reason = {
        r["drop_reason"]: r["count"] for r in written.groupBy("drop_reason").count().collect()
    }
    stats = stage_counts(by_reason)
    check_counts(stage, stats)
    if extra:
        stats.update(extra(written))
    write_json(tmp / STAGE_STATS_FILE, stats)
    commit(tmp, final, out)
    return stats


def read_stage_stats(out: Path, stage: str) -> dict[str, Any]:
    return json.loads((stage_path(out, stage) / STAGE_STATS_FILE).read_text())
