"""The key index of earlier batches: lookups equal a plain join, runs merge size-tiered, and a
batch redone is dropped and rebuilt from its record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from gristmill.jobs import key_index
from gristmill.jobs.key_index import FANOUT, KeyIndex
from gristmill.pipeline.key_index import (
    ROW_BYTES,
    RUN_SCHEMA,
    RunFiles,
    matches,
    prefixes,
    write_run_files,
)

QUERY = pa.schema(
    [pa.field("q", pa.int64()), pa.field("key", pa.int64()), pa.field("lo", pa.int64())]
)


def rows_of(batch: int, n: int, rng: np.random.Generator) -> pa.Table:
    """n rows whose keys repeat (multimap) and cover the whole signed range (top bits vary)."""
    keys = rng.integers(-(2**63), 2**63 - 1, size=n // 2, dtype=np.int64)
    keys = np.concatenate([keys, keys[: n - len(keys)]])
    return pa.table(
        {
            "key": keys,
            "lo": rng.integers(0, 3, size=n, dtype=np.int64),
            "doc_id": [f"b{batch}-d{i}" for i in range(n)],
            "batch": pa.array([batch] * n, pa.int32()),
        },
        schema=RUN_SCHEMA,
    )


def expected(stored: list[pa.Table], queries: pa.Table) -> set[tuple[int, str, int]]:
    """The plain join, in Python."""
    by_key: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for table in stored:
        for r in table.to_pylist():
            by_key.setdefault((r["key"], r["lo"]), []).append((r["doc_id"], r["batch"]))
    return {
        (q["q"], doc, batch)
        for q in queries.to_pylist()
        for doc, batch in by_key.get((q["key"], q["lo"]), [])
    }


def queries_for(tables: list[pa.Table], rng: np.random.Generator) -> pa.Table:
    """Keys that are stored (with the right and a wrong lo) and keys that are not."""
    stored = pa.concat_tables(tables)
    picked = stored.take(pa.array(rng.choice(stored.num_rows, 300, replace=False)))
    keys = np.concatenate(
        [picked.column("key").to_numpy()] * 2 + [rng.integers(-(2**63), 2**63 - 1, 100)]
    )
    lo = np.concatenate(
        [picked.column("lo").to_numpy(), picked.column("lo").to_numpy() + 5, np.zeros(100, int)]
    )
    return pa.table({"q": np.arange(len(keys)), "key": keys, "lo": lo}, schema=QUERY)


def found(batches) -> set[tuple[int, str, int]]:
    return {(r["q"], r["earlier_doc"], r["earlier_batch"]) for b in batches for r in b.to_pylist()}


def by_prefix(table: pa.Table, bits: int) -> pa.Table:
    """The rows in the order KeyIndex hands them to a task: sorted by the file they fall in."""
    order = np.argsort(prefixes(table.column("key").to_numpy(), bits), kind="stable")
    return table.take(pa.array(order))


@pytest.mark.parametrize("bits", [0, 3])
def test_sorted_files_answer_like_a_join(tmp_path, bits):
    rng = np.random.default_rng(bits)
    table = rows_of(1, 2000, rng)
    run = RunFiles(str(tmp_path), bits)
    written = list(write_run_files(by_prefix(table, bits).to_batches(max_chunksize=700), run))
    assert sum(b.column("rows")[0].as_py() for b in written) == 2000
    assert len(list(tmp_path.glob("*.arrow"))) == 2**bits
    queries = queries_for([table], rng)
    schema = pa.schema(
        [*QUERY, pa.field("earlier_doc", pa.string()), pa.field("earlier_batch", pa.int32())]
    )
    got = found(matches(queries.to_batches(max_chunksize=128), [run], schema))
    assert got == expected([table], queries)
    assert len(got) > 300  # stored keys are found, repeated keys once per stored row


def test_rows_out_of_prefix_order_are_refused_not_overwritten(tmp_path):
    table = by_prefix(rows_of(1, 2000, np.random.default_rng(1)), 3)
    shuffled = pa.concat_tables([table.slice(1000), table.slice(0, 1000)])
    with pytest.raises(ValueError, match="sorted by prefix"):
        list(write_run_files(shuffled.to_batches(max_chunksize=700), RunFiles(str(tmp_path), 3)))


def test_a_task_holds_one_file_of_rows_at_a_time(tmp_path):
    """Arrow's peak allocation while a task writes 16 files from rows it reads memory-mapped:
    about a file's rows and the copies its sort makes, not all 16 files' (in a fresh process,
    whose pool has allocated nothing before)."""
    n = 400_000
    keys = np.random.default_rng(0).integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    rows = pa.table(
        {
            "key": np.sort(keys.view(np.uint64)).view(np.int64),
            "lo": np.zeros(n, np.int64),
            "doc_id": [f"{i:032x}" for i in range(n)],
            "batch": pa.array(np.ones(n, np.int32)),
        },
        schema=RUN_SCHEMA,
    )
    source = tmp_path / "rows.arrow"
    with pa.OSFile(str(source), "wb") as sink, pa.ipc.new_file(sink, RUN_SCHEMA) as writer:
        writer.write_table(rows, max_chunksize=10_000)
    script = (
        "import sys, pyarrow as pa\n"
        "from gristmill.pipeline.key_index import RunFiles, write_run_files\n"
        "batches = pa.ipc.open_file(pa.memory_map(sys.argv[1])).read_all().to_batches()\n"
        "list(write_run_files(iter(batches), RunFiles(sys.argv[2], 4)))\n"
        "print(pa.default_memory_pool().max_memory())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(source), str(tmp_path / "run")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    share = int(out.stdout) / rows.nbytes
    assert share < 0.4, share  # 0.18; the writer that held its whole partition: 0.84


def nightly(spark, root: Path, tables: dict[int, pa.Table]):
    """An index that batches ``tables`` were added to night after night, each night preparing it
    first as dedup does; the source it rebuilds from, and the batches it rebuilt (a list)."""
    rebuilt: list[list[int]] = []

    def source(batches: list[int]):
        rebuilt.append(batches)
        return spark.createDataFrame(
            pa.concat_tables([tables[b] for b in batches]).combine_chunks().to_pandas()
        )

    index = KeyIndex(spark, root, {"v": 1}, target_bytes=ROW_BYTES * 200)
    for batch in sorted(tables):
        index.prepare(list(range(1, batch)), source)
        index.add(spark.createDataFrame(tables[batch].to_pandas()), batch)
    return index, source, rebuilt


def test_runs_merge_and_a_redone_batch_is_rebuilt(spark, tmp_path):
    rng = np.random.default_rng(7)
    tables = {b: rows_of(b, 600, rng) for b in range(1, FANOUT + 2)}
    root = tmp_path / "index"
    index, source, rebuilt = nightly(spark, root, tables)
    assert rebuilt == []
    manifest = json.loads((root / "manifest.json").read_text())
    levels = sorted((r["level"], tuple(r["batches"])) for r in manifest["runs"])
    assert levels == [(0, (FANOUT + 1,)), (1, tuple(range(1, FANOUT + 1)))]
    # The merged run's count is its runs' sum, not counted again: it must match what it holds.
    merged = next(r for r in manifest["runs"] if r["level"] == 1)
    held = sum(
        pa.ipc.open_file(pa.memory_map(str(f))).read_all().num_rows
        for f in (root / merged["name"]).glob("*.arrow")
    )
    assert merged["rows"] == held == 600 * FANOUT
    assert {p.name for p in root.iterdir() if p.is_dir()} == {r["name"] for r in manifest["runs"]}
    assert all(r["bits"] >= 1 for r in manifest["runs"])  # split into files by key prefix

    queries = queries_for(list(tables.values()), rng)
    qdf = spark.createDataFrame(queries.to_pandas())
    got = {
        (r["q"], r["earlier_doc"], r["earlier_batch"]) for r in index.lookup(qdf, QUERY).collect()
    }
    assert got == expected(list(tables.values()), queries)

    # Batch 3 is redone: the merged run holds it, so it goes, and batches 1-2 come from the record.
    again = KeyIndex(spark, root, {"v": 1}, target_bytes=ROW_BYTES * 200)
    again.prepare([1, 2], source)
    assert rebuilt == [[1, 2]] and again.batches == {1, 2}
    got = {
        (r["q"], r["earlier_doc"], r["earlier_batch"]) for r in again.lookup(qdf, QUERY).collect()
    }
    assert got == expected([tables[1], tables[2]], queries)

    # Other parameters (another MinHash shape): nothing of the old index is used.
    other = KeyIndex(spark, root, {"v": 2}, target_bytes=ROW_BYTES * 200)
    other.prepare([1], source)
    assert rebuilt[-1] == [1] and other.batches == {1}


def test_a_batch_killed_before_its_commit_costs_its_own_run_only(spark, tmp_path):
    """A batch's run is added before its stage is committed. Merged at once, a kill between the
    two left a merged run holding a batch the ledger never recorded, and the next night rebuilt
    every batch of that run from the record; merged at the next prepare, only its own goes."""
    rng = np.random.default_rng(5)
    tables = {b: rows_of(b, 300, rng) for b in range(1, FANOUT + 1)}
    root = tmp_path / "index"
    _, source, rebuilt = nightly(spark, root, tables)
    # The last batch's stage was killed before its commit: the ledger holds the others only.
    again = KeyIndex(spark, root, {"v": 1}, target_bytes=ROW_BYTES * 200)
    again.prepare(list(range(1, FANOUT)), source)
    assert rebuilt == [] and again.batches == set(range(1, FANOUT))
    assert {p.name for p in root.iterdir() if p.is_dir()} == {r.name for r in again.runs}
    queries = queries_for(list(tables.values()), rng)
    got = {
        (r["q"], r["earlier_doc"], r["earlier_batch"])
        for r in again.lookup(spark.createDataFrame(queries.to_pandas()), QUERY).collect()
    }
    assert got == expected([tables[b] for b in range(1, FANOUT)], queries)


def test_a_run_small_enough_for_one_file(spark, tmp_path):
    """A run under one file's size is written unsplit (no prefix bits, nothing to sort by)."""
    rng = np.random.default_rng(3)
    table = rows_of(1, 500, rng)
    index = KeyIndex(spark, tmp_path / "index", {"v": 1}, target_bytes=1 << 30)
    index.add(spark.createDataFrame(table.to_pandas()), 1)
    (run,) = json.loads((tmp_path / "index" / "manifest.json").read_text())["runs"]
    assert run["bits"] == 0 and run["rows"] == 500
    queries = queries_for([table], rng)
    got = {
        (r["q"], r["earlier_doc"], r["earlier_batch"])
        for r in index.lookup(spark.createDataFrame(queries.to_pandas()), QUERY).collect()
    }
    assert got == expected([table], queries)


def test_top_runs_are_not_merged_and_tasks_hold_a_few_files(spark, tmp_path, monkeypatch):
    """Runs of the top level stay as they are, so no night rewrites the whole index; a run's
    files are written and read by tasks of FILES_PER_TASK files each, and the lookups still
    equal the plain join."""
    monkeypatch.setattr(key_index, "FANOUT", 2)
    monkeypatch.setattr(key_index, "TOP_LEVEL", 1)
    monkeypatch.setattr(key_index, "FILES_PER_TASK", 2)
    rng = np.random.default_rng(11)
    tables = {b: rows_of(b, 400, rng) for b in range(1, 6)}
    root = tmp_path / "index"
    index = KeyIndex(spark, root, {"v": 1}, target_bytes=ROW_BYTES * 50)
    for batch in sorted(tables):
        index.prepare(list(range(1, batch)), lambda _: None)  # nothing to rebuild
        index.add(spark.createDataFrame(tables[batch].to_pandas()), batch)
    # Unbounded, the two runs of level 1 would have merged into one of level 2.
    assert sorted((r.level, r.batches) for r in index.runs) == [(0, (5,)), (1, (1, 2)), (1, (3, 4))]
    top = [r for r in index.runs if r.level == 1]
    assert all(r.bits == 4 for r in top)  # 800 rows in files of 50
    assert index._read(top).rdd.getNumPartitions() == 2 * 2**4 // 2
    assert index._read(top).count() == 400 * 4
    cores = int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert index._tasks(2**10) == max(cores, 2**9) and index._tasks(1) == 1
    queries = queries_for(list(tables.values()), rng)
    got = {
        (r["q"], r["earlier_doc"], r["earlier_batch"])
        for r in index.lookup(spark.createDataFrame(queries.to_pandas()), QUERY).collect()
    }
    assert got == expected(list(tables.values()), queries)
