"""Quality: a batch's ``stages/ingest`` kept rows -> ``stages/quality`` (every signal, and a drop
reason).

    spark-submit jobs/quality.py --output out/ --config quality.yaml
    spark-submit jobs/quality.py --output out/ --config stricter.yaml --reselect

``--reselect`` re-applies the selection rules of a new config to the stored signals of an
earlier run of this stage on the batch, without rescoring. It applies thresholds, language and
classifier selection and perplexity buckets; a change to C4's line rules or to a model needs a
full run. Documents in a language that the earlier run dropped were not scored: a new config
that admits their language scores them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.filters.fasttext_kernel import compiled_model
from gristmill.filters.perplexity import (
    FIRST_BATCH,
    PERCENTILES,
    CutoffsError,
    cutoffs_files,
    cutoffs_for,
    read_cutoffs,
)
from gristmill.jobs import arguments
from gristmill.jobs.batches import DEFAULT_OPTIONS, StageOptions, check_standalone, run_stage
from gristmill.jobs.options import job_main
from gristmill.jobs.stage_io import (
    EVERY_KEPT_TEXT,
    ROW_KEY,
    aggregated,
    read_kept,
    read_table,
    write_stage,
)
from gristmill.pipeline import langid
from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.layout import Layout, write_json
from gristmill.pipeline.ledger import Ledger, file_sha256
from gristmill.pipeline.quality import (
    SCORED,
    decide_batches,
    recleaned_batches,
    scored_batches,
    signal_batches,
)
from gristmill.schemas.tables import QUALITY, spark_schema

STAGE = "quality"


add_arguments = arguments.quality


# A language's percentiles are exact over its documents up to this many, and over a sample of
# about this many past it (a rank error of about 0.1%: cut-offs move by that share of documents).
PERCENTILE_SAMPLE = 200_000
# The sample keeps the documents whose key hashes below a threshold, out of this range.
_HASH_RANGE = 1 << 31


def perplexity_table(scored: DataFrame, key: str = "doc_id") -> dict[str, list[float]]:
    """Each language's perplexity at every whole percentile 1..99: the frozen distribution the
    buckets are cut from (a row per language reaches the driver, twice). Exact percentiles of
    each language's documents, or of a sample of them, not Spark's percentile_approx, whose
    answer past about 50,000 values in a task depends on how the rows were split into
    partitions and the order their summaries merge: the same batch on 2 or 16 cores froze other
    cut-offs, and with them other buckets, shards and manifest. The sample is drawn by a hash
    of each row's ``key`` (its doc_id), not of its value: pages that share one perplexity (a
    template's boilerplate, before dedup) fall in or out of it one by one, not all together.
    ``scored`` is read twice (counts, then the sample): persist it."""
    finite = scored.where(
        F.col("lang").isNotNull() & F.col("perplexity").isNotNull() & ~F.isnan("perplexity")
    )
    counts = {r["lang"]: r["count"] for r in finite.groupBy("lang").count().collect()}
    if not counts:
        return {}
    kept = F.create_map(
        *[
            F.lit(v)
            for lang, n in sorted(counts.items())
            for v in (lang, math.ceil(_HASH_RANGE * min(1.0, PERCENTILE_SAMPLE / n)))
        ]
    )
    rows = (
        finite.where(F.pmod(F.xxhash64(key), F.lit(_HASH_RANGE)) < kept[F.col("lang")])
        .groupBy("lang")
        .agg(F.percentile("perplexity", [p / 100 for p in PERCENTILES]).alias("q"))
        .collect()
    )
    return {r["lang"]: list(r["q"]) for r in rows}


def check_models(out: Path, cfg: Config) -> None:
    """Before Spark starts: the classifier is a whole fastText model, each perplexity model has
    its cut-offs (or ``first_batch``), and a language's model cut-offs for that language."""
    classifier = cfg.quality.classifier.model
    if classifier:
        if not Path(classifier).is_file():
            fail_usage(f"quality.classifier.model: {classifier}: no such file")
        compiled_model(classifier)  # a damaged file raises ModelFileError, a UsageError
    if cfg.quality.perplexity.cutoffs == FIRST_BATCH:
        return
    for lang, path in cutoffs_files(out, cfg.quality.perplexity).items():
        try:
            data = read_cutoffs(path)
        except CutoffsError as exc:
            fail_usage(
                f"{exc}; gristmill train-lm writes cutoffs.json beside the model, or set "
                f"quality.perplexity.cutoffs to a cut-offs file or to {FIRST_BATCH!r}"
            )
        if lang and lang not in data["languages"]:
            fail_usage(
                f"{path} has no perplexity cut-offs for {lang!r}, the language of "
                f"quality.perplexity.models.{lang} (train-lm --lang {lang})"
            )


def models_sha256(cfg: Config) -> str:
    """One digest of every perplexity model file (the default's own sha256 when it is alone)."""
    models = cfg.quality.perplexity.all_models()
    if list(models) == [""]:
        return file_sha256(models[""])
    shas = {lang: file_sha256(path) for lang, path in models.items()}
    return hashlib.sha256(json.dumps(shas, sort_keys=True).encode()).hexdigest()


def check_languages(cfg: Config) -> None:
    """Before Spark starts: every language the config names is one language ID answers, so a
    code it never gives ("english", "EN", "zh-cn") does not drop or pass over every document."""
    q = cfg.quality
    named = {
        "ingest.languages": cfg.ingest.languages,
        "quality.languages": q.languages,
        "quality.perplexity.models": list(q.perplexity.models),
        "quality.bad_words.lists": list(q.bad_words.lists),
    }
    known = langid.labels()
    for key, codes in named.items():
        unknown = sorted({c for c in codes if c not in known})
        if unknown:
            fail_usage(
                f"config key '{key}': {unknown} not among the language ID model's codes "
                f"(lid.176: ISO 639 codes such as {', '.join(sorted(known)[:8])}, ...)"
            )


def check_lists(cfg: Config) -> None:
    """Before Spark starts: every word list and blocklist file the config names is readable."""
    for key, path in cfg.quality.list_files().items():
        if not Path(path).is_file():
            fail_usage(f"config key '{key}': list file {path} not found")


def freezes_cutoffs(out: Path, cfg: Config) -> bool:
    """Whether this batch computes the frozen perplexity distribution from its own scores: with
    ``first_batch``, when no cut-offs were frozen yet for the current model(s)."""
    files = cutoffs_files(out, cfg.quality.perplexity)
    if not files or cfg.quality.perplexity.cutoffs != FIRST_BATCH:
        return False
    path = files[""]
    return not (path.is_file() and read_cutoffs(path).get("model_sha256") == models_sha256(cfg))


def unfrozen_languages(spark: SparkSession, out: Path, cfg: Config, batch: int) -> list[str]:
    """With ``first_batch``, once the distribution is frozen: the languages this batch keeps
    documents of that the frozen table lacks. A language no document of batch 1 was in would
    otherwise never get cut-offs (its documents no bucket, whatever keep_buckets says), so the
    first batch that holds it freezes its own. Where every language the config keeps has its
    row already (``quality.languages: [en]``), no Spark job asks."""
    p = cfg.quality.perplexity
    path = cutoffs_files(out, p).get("")
    if p.cutoffs != FIRST_BATCH or path is None or not path.is_file():
        return []
    frozen = set(read_cutoffs(path)["languages"])
    allowed = set(cfg.quality.languages)
    if allowed and allowed <= frozen:
        return []
    # Only documents the language rule keeps are scored; one it drops (a low language score)
    # would be looked for again every night, in vain.
    passing = F.col("lang_score") >= cfg.quality.min_lang_score
    kept = read_kept(spark, out, "ingest", [batch]).where(passing)
    found = {r["lang"] for r in kept.select("lang").distinct().collect() if r["lang"] is not None}
    return sorted((found & allowed if allowed else found) - frozen)


def frozen_cutoffs(
    out: Path,
    cfg: Config,
    scored: DataFrame | None,
    batch: int,
    adding: Sequence[str] = (),
) -> tuple[dict[str, tuple[float, float]], dict[str, Any] | None]:
    """Each language's (head, middle) perplexity cut-offs, from the frozen distributions (a
    language with a model of its own takes its model's). ``scored``: the batch's scores when it
    is the one that freezes the distribution (:func:`freezes_cutoffs`: with ``first_batch``, the
    first batch to get here, and again only if a model changes, which redoes every batch's
    quality anyway), or that adds the languages ``adding`` to it (:func:`unfrozen_languages`),
    else None."""
    p = cfg.quality.perplexity
    files = cutoffs_files(out, cfg.quality.perplexity)
    if not files:
        return {}, None
    if scored is not None and adding:
        data = read_cutoffs(files[""])
        new = perplexity_table(scored.where(F.col("lang").isin(list(adding))))
        data["languages"] = dict(sorted((data["languages"] | new).items()))
        data["added"] = data.get("added", {}) | {lang: f"batch {batch}" for lang in new}
        write_json(files[""], data)
    elif scored is not None:
        write_json(
            files[""],
            {
                "percentiles": list(PERCENTILES),
                "languages": perplexity_table(scored),
                "source": f"batch {batch} of {out}",
                "model_sha256": models_sha256(cfg),
            },
        )
    table: dict[str, list[float]] = {}
    used: dict[str, Any] = {}
    for lang, path in files.items():
        data = read_cutoffs(path)
        if lang:
            table[lang] = data["languages"][lang]
        elif p.cutoffs == FIRST_BATCH:  # scored by each language's own model, where it has one
            table |= data["languages"]
        else:
            table |= {k: q for k, q in data["languages"].items() if k not in p.models}
        info = {"path": str(path), "sha256": file_sha256(str(path)), "source": data["source"]}
        if data.get("added"):
            info["added"] = data["added"]
        used[lang or "default"] = info
    return cutoffs_for(table, p.head_percentile, p.middle_percentile), used


def _model_info(path: str | None) -> dict[str, str] | None:
    if not path:
        return None
    return {"path": path, "sha256": file_sha256(path)}


def stored_signals(
    spark: SparkSession, out: Path, batch: int, cfg: Config, every_language: bool
) -> DataFrame:
    """The batch's stored signals, for a re-selection. The rows that the scoring run's language
    rule dropped hold none (:func:`~gristmill.pipeline.quality.is_scored`): those that this
    config's language rule admits are scored now, from the ingest table's text (all of them
    with ``every_language``, for a batch that freezes the perplexity cut-offs)."""
    stored = read_table(spark, out, STAGE, [batch]).select(*QUALITY.names)
    unscored = stored.where(F.col(SCORED).isNull()).select(*ROW_KEY)
    texts = read_kept(spark, out, "ingest", [batch]).join(unscored, list(ROW_KEY), "left_semi")
    rescored = texts.mapInArrow(
        functools.partial(signal_batches, cfg=cfg.quality, every_language=every_language),
        spark_schema(QUALITY),
    )
    return stored.where(F.col(SCORED).isNotNull()).unionByName(rescored).drop("drop_reason")


def with_cleaned_texts(
    spark: SparkSession, out: Path, decided: DataFrame, batch: int, cfg: Config
) -> DataFrame:
    """A re-selection may keep documents the first selection dropped, whose cleaned text was
    not stored: clean them again from the ingest table's text."""
    ingest = read_table(spark, out, "ingest", [batch]).where(F.col("text").isNotNull())
    joined = decided.join(
        ingest.select(*ROW_KEY, F.col("text").alias("ingest_text")), list(ROW_KEY), "left"
    )
    return joined.mapInArrow(
        functools.partial(recleaned_batches, cfg=cfg.quality), spark_schema(QUALITY)
    )


def text_changed(written: DataFrame) -> dict[str, int]:
    """What cleaning changed in the kept documents, which no drop count shows: documents C4's
    line rules shortened, documents with addresses masked, and the addresses masked."""
    kept = written.where(F.col("drop_reason").isNull())
    masked = F.col("pii_emails") + F.col("pii_ip_addresses")
    row = aggregated(
        kept.agg(
            F.count(F.when(F.col("c4_chars_removed") > 0, 1)).alias("c4_cleaned_documents"),
            F.count(F.when(masked > 0, 1)).alias("pii_masked_documents"),
            F.coalesce(F.sum("pii_emails"), F.lit(0)).alias("emails_masked"),
            F.coalesce(F.sum("pii_ip_addresses"), F.lit(0)).alias("ip_addresses_masked"),
        )
    )
    return {k: int(v) for k, v in row.asDict().items()}


def scoring_digest(cfg: Config, models: dict[str, dict[str, str] | None]) -> str:
    """A hash of what the stored signals and cleaned texts came from, which a re-selection
    reuses: the models' and lists' bytes (``models``: their info, hashed once a batch), C4's
    line rules and the PII masking."""
    q = cfg.quality
    parts = {
        "models": {k: v and v["sha256"] for k, v in models.items()},
        "lists": {k: file_sha256(p) for k, p in q.list_files().items()},
        "c4": {k: getattr(q.c4, k) for k in q.c4.LINE_RULES},
        "pii": dataclasses.asdict(q.pii),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def check_reselect(out: Path, cfg: Config, batch: int, digest: str) -> None:
    """Refuse a re-selection where a model, a list, C4's line rules or the PII masking changed
    since the batch's stored signals were scored (``digest``: this config's scoring digest):
    the card would name a model that scored nothing, and texts be cleaned by two rule sets."""
    stored = json.loads(Layout(out).stage_stats(STAGE, batch).read_text()).get("scoring_digest")
    if stored not in (None, digest):  # None: scored before this record was kept
        fail_usage(
            f"batch {batch} was scored with other models, lists, C4 line rules or PII masking "
            f"(scoring digest {stored}, this config's {digest}): --reselect reuses its scores; "
            "run the quality stage without it"
        )


def _models(cfg: Config) -> dict[str, dict[str, str] | None]:
    return {
        "classifier": _model_info(cfg.quality.classifier.model),
        "perplexity": _model_info(cfg.quality.perplexity.model),
    } | {
        f"perplexity_{lang}": _model_info(path)
        for lang, path in sorted(cfg.quality.perplexity.models.items())
    }


def run_batch(
    spark: SparkSession,
    out: Path,
    cfg: Config,
    batch: int,
    ledger: Ledger,
    options: StageOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    reselect = options.reselect
    models = _models(cfg)  # hashes the model files: once a batch
    scoring = scoring_digest(cfg, models)
    if reselect:
        check_reselect(out, cfg, batch, scoring)
    # Once a batch: it hashes the perplexity models, which may be gigabytes.
    freeze = freezes_cutoffs(out, cfg)
    adding = [] if freeze else unfrozen_languages(spark, out, cfg, batch)
    scored: DataFrame | None = None
    if reselect:  # the stored signals, and the rows a new language list admits scored now
        scored = stored_signals(spark, out, batch, cfg, freeze)
    elif freeze or adding:  # read twice over: for the cut-offs, then the decisions
        scored = read_kept(spark, out, "ingest", [batch]).mapInArrow(
            functools.partial(signal_batches, cfg=cfg.quality, every_language=freeze),
            spark_schema(QUALITY),
        )
    if scored is not None:
        scored = scored.persist(StorageLevel.DISK_ONLY)
    try:
        freezing = freeze or bool(adding)
        cutoffs, frozen = frozen_cutoffs(out, cfg, scored if freezing else None, batch, adding)
        if scored is None:
            decided = read_kept(spark, out, "ingest", [batch]).mapInArrow(
                functools.partial(scored_batches, cfg=cfg.quality, seed=cfg.seed, cutoffs=cutoffs),
                spark_schema(QUALITY),
            )
        else:
            decided = scored.mapInArrow(
                functools.partial(decide_batches, cfg=cfg.quality, seed=cfg.seed, cutoffs=cutoffs),
                spark_schema(QUALITY),
            )
        extra = {
            "perplexity_cutoffs": {lang: list(c) for lang, c in sorted(cutoffs.items())},
            "perplexity_distribution": frozen,
            "models": models,
            "scoring_digest": scoring,
            "reselected": reselect,
            EVERY_KEPT_TEXT: True,
        }
        if reselect:
            decided = with_cleaned_texts(spark, out, decided, batch, cfg)
        return write_stage(
            decided, out, STAGE, lambda t, _c: {**extra, "text_changed": text_changed(t)}, batch
        )
    finally:
        if scored is not None:
            scored.unpersist()


def check(args: argparse.Namespace, cfg: Config) -> None:
    check_standalone(args, STAGE)
    check_models(args.output, cfg)
    check_lists(cfg)
    check_languages(cfg)


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    options = StageOptions(reselect=args.reselect)
    return run_stage(STAGE, spark, args.output, cfg, batch=args.batch, options=options)


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
