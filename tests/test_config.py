from __future__ import annotations

import subprocess
import sys

import pytest

from gristmill.pipeline.config import Config, ConfigError, config_from_dict, load_config


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 7\nquality:\n  languages: [en, de]\n  min_lang_score: 0.5\n")
    cfg = load_config(path)
    assert cfg.seed == 7
    assert cfg.quality.languages == ["en", "de"]
    assert cfg.quality.min_lang_score == 0.5
    assert cfg.tokenize.encoding == "gpt2"
    assert load_config(None) == Config()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"qualty": {}}, "qualty"),
        ({"quality": {"min_lang_scor": 0.5}}, "quality.min_lang_scor"),
        ({"quality": {"min_lang_score": 1.5}}, "quality.min_lang_score"),
        ({"quality": {"min_lang_score": "high"}}, "quality.min_lang_score"),
        ({"quality": {"languages": "en"}}, "quality.languages"),
        ({"dedup": {"exact": "yes"}}, "dedup.exact"),
        ({"tokenize": {"encoding": "bert"}}, "tokenize.encoding"),
        ({"spark": {"shuffle_partitions": 0}}, "spark.shuffle_partitions"),
        ({"seed": True}, "seed"),
        # Infinity is no bound, and a null in a mapping of strings is no path nor setting.
        ({"quality": {"classifier": {"pareto_alpha": float("inf")}}}, "quality.classifier"),
        ({"ingest": {"network": {"backoff_max_s": float("inf")}}}, "backoff_max_s"),
        ({"spark": {"conf": {"spark.executor.cores": None}}}, "spark.conf.spark.executor.cores"),
        ({"quality": {"perplexity": {"models": {"en": None}}}}, "perplexity.models.en"),
        ({"quality": {"bad_words": {"lists": {"en": ["a"]}}}}, "bad_words.lists.en"),
        ({"tokenize": {"buckets": [{"name": "b", "min": {"x": float("nan")}}]}}, "b.min.x"),
    ],
)
def test_bad_values_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[")):
        config_from_dict(data)


def test_a_mapping_of_strings_takes_numbers_and_booleans_as_yaml_wrote_them():
    conf = config_from_dict({"spark": {"conf": {"a": 4, "b": True, "c": 0.5}}}).spark.conf
    assert conf == {"a": "4", "b": "true", "c": "0.5"}


def test_languages_and_perplexity_buckets_are_checked_before_spark():
    """A language code that language ID never answers, or a misspelt perplexity bucket, would
    drop every document or send them all to the last bucket, unseen: refused by name."""
    from gristmill.jobs.quality import check_languages
    from gristmill.jobs.tokenize_shards import check_buckets
    from gristmill.pipeline.errors import UsageError

    check_languages(config_from_dict({"quality": {"languages": ["en", "de", "zh", "als"]}}))
    for key, quality in (
        ("quality.languages", {"languages": ["en", "english"]}),
        ("quality.languages", {"languages": ["EN"]}),
        ("quality.perplexity.models", {"perplexity": {"models": {"zh-cn": "m.arpa"}}}),
        ("quality.bad_words.lists", {"bad_words": {"lists": {"eng": "words.txt"}}}),
    ):
        with pytest.raises(UsageError, match=rf"'{key}': \['\w+(-\w+)?'\] not among"):
            check_languages(config_from_dict({"quality": quality}))
    buckets = [
        {"name": "good", "values": {"perplexity_bucket": ["head", "midle"]}},
        {"name": "rest"},
    ]
    with pytest.raises(UsageError, match=r"\(good\): perplexity_bucket \['midle'\] is none of"):
        check_buckets(config_from_dict({"tokenize": {"buckets": buckets}}))
    buckets[0]["values"] = {"perplexity_bucket": ["head", "middle"]}
    check_buckets(config_from_dict({"tokenize": {"buckets": buckets}}))


def test_digest_ignores_how_the_work_is_executed():
    a = config_from_dict({"spark": {"master": "local[1]"}})
    b = config_from_dict({"spark": {"master": "local[4]"}})
    c = config_from_dict({"seed": 1})
    d = config_from_dict({"ingest": {"batch_size": 3}})
    e = config_from_dict({"dedup": {"local_max_docs": 10}})
    assert a.digest() == b.digest() == d.digest() == e.digest() != c.digest()


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("quality:\n  min_words: -3\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "gristmill.pipeline.cli", "run", "--input", str(tmp_path),
         "--output", str(out), "--config", str(bad)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "quality.min_words" in proc.stderr
    assert not out.exists()


def test_cli_unknown_key_and_bad_yaml_exit_2(tmp_path):
    for text, needle in (("tokenise: {}\n", "tokenise"), ("a: [1,\n", "not valid YAML")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        proc = subprocess.run(
            [sys.executable, "-m", "gristmill.pipeline.cli", "quality",
             "--output", str(tmp_path / "o"), "--config", str(bad)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr


def test_cli_help_documents_every_command():
    proc = subprocess.run(
        [sys.executable, "-m", "gristmill.pipeline.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    for command in ("run", "ingest", "quality", "dedup", "decontaminate", "tokenize", "card"):
        assert command in proc.stdout


def test_shuffle_partitions_follow_the_parallelism_and_are_adaptive(spark):
    from gristmill.pipeline.spark import cluster_parallelism, shuffle_partitions_for

    parallelism = spark.sparkContext.defaultParallelism
    assert cluster_parallelism(spark) == parallelism
    assert shuffle_partitions_for(spark, 4) == 4 * parallelism
    assert spark.conf.get("spark.sql.adaptive.enabled") == "true"
    assert config_from_dict({}).spark.shuffle_partitions is None


def _rows_of_the_task(batches):
    import pyarrow as pa

    rows = sum(batch.num_rows for batch in batches)
    if rows:
        yield pa.RecordBatch.from_pydict({"rows": [rows]})


def test_a_small_shuffle_uses_every_core_and_a_tiny_one_one_task(spark):
    """Far under advisory_partition_mb, a shuffle of a few MB still runs in as many tasks as it
    starts with, a few per core (the stages after a join tokenize and search for benchmark
    n-grams in Python, CPU-heavy per byte, and one task per core leaves a core idle when the
    other's documents are longer), and one under 1 MB in one task."""
    from pyspark.sql import functions as F

    def tasks(rows: int) -> int:
        text = F.sha2(F.col("id").cast("string"), 512).alias("text")
        spread = spark.range(rows).select("id", text).repartition("id")
        return spread.mapInArrow(_rows_of_the_task, "rows long").count()

    assert tasks(100_000) >= int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert tasks(100) == 1


def test_a_persisted_shuffle_is_coalesced_as_any_other(spark):
    """dedup persists a batch's texts after a shuffle (the exact-dedup window) and runs the
    MinHash signatures and its later stages over them: a tiny batch in one task, not in
    spark.sql.shuffle.partitions of a few rows each."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    grouped = spark.range(100).groupBy((F.col("id") % 10).alias("k")).count()
    cached = grouped.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        assert cached.mapInArrow(_rows_of_the_task, "rows long").count() == 1
        assert sorted(r["count"] for r in cached.collect()) == [10] * 10
    finally:
        cached.unpersist()
