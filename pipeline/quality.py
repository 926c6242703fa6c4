"""The quality stage's core: signals first, then the config's decision over them.

Signals are columns of the stage table, so a later selection with other thresholds re-reads them
instead of recomputing (dolma's taggers and mixer split the same way). Two passes, because one
rule needs the whole corpus: :func:`signal_batches` scores every document in a language the run
keeps (URL lists, heuristics, classifier, perplexity; :func:`is_scored`), the job computes each
language's perplexity percentiles, and :func:`decide_batches` applies the rule sets of
:mod:`gristmill.filters.rule_sets` in their order (FineWeb's, datatrove's
``examples/fineweb.py``), then the classifier and the perplexity bucket.

Two steps change the text, both in :func:`cleaned_text`: C4's line cleaning, then PII masking
(e-mail and public IP addresses). Each rule set reads the text its table entry names; the
classifier and the LM see the cleaned text, as in datatrove's FineWeb recipe. The table stores
the cleaned text of every document it keeps, and no other: cleaning changes nearly every real
page (99.3% of those kept in the crawl-sized bench batch lose a line or two), so storing the
few it leaves as they were costs little, and the later stages read their texts here without
joining the ingest table, every document's text, to find those few
(:func:`gristmill.jobs.stage_io.read_kept_texts`).
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from gristmill.filters import c4, language, pii
from gristmill.filters.lines import whitespace_words
from gristmill.filters.perplexity import perplexities
from gristmill.filters.quality_classifier import pareto_keep, scores
from gristmill.filters.rule_sets import CLEANED, EXTRACTED, RULE_SETS, URL, RuleSet
from gristmill.pipeline.config import QualityConfig
from gristmill.schemas.tables import QUALITY

CLASSIFIER_REJECTED = "classifier_rejected"
PERPLEXITY_BUCKET = "perplexity_bucket_not_kept"
PERPLEXITY_NOT_FINITE = "perplexity_not_finite"
BUCKETS = ("head", "middle", "tail")


def _scores(
    texts: list[str], langs: list[str | None], cfg: QualityConfig
) -> tuple[list[Any], list[Any]]:
    """Classifier scores and perplexities for a batch (None where no model is configured): each
    document's perplexity under its language's model."""
    quality: list[Any] = [None] * len(texts)
    perplexity: list[Any] = [None] * len(texts)
    if cfg.classifier.model:
        quality = _read_model("quality.classifier.model", scores, texts, cfg.classifier.model)
    by_model: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        model = cfg.perplexity.model_for(lang)
        if model:
            by_model.setdefault(model, []).append(i)
    keys = {path: f"quality.perplexity.models.{k}" for k, path in cfg.perplexity.models.items()}
    for model, docs in by_model.items():
        key = keys.get(model, "quality.perplexity.model")
        found = _read_model(key, perplexities, [texts[i] for i in docs], model)
        for i, value in zip(docs, found, strict=True):
            perplexity[i] = value
    return quality, perplexity


def _read_model(
    key: str, score: Callable[[list[str], str], list[float]], texts: list[str], path: str
) -> list[float]:
    """``score(texts, path)``, where a model missing on this machine names the config key and
    the host: the driver checks every model before Spark starts, so a model missing here is one
    on the driver's disk only, which on a cluster the executors cannot read."""
    try:
        return score(texts, path)
    except OSError as exc:
        if os.path.exists(path):
            raise
        raise FileNotFoundError(
            f"{key}: {path}: not found on executor host {socket.gethostname()}; every "
            "executor reads the models at the config's path: put them on a mount that every "
            "machine shares, or at that path on each"
        ) from exc


def cleaned_text(original: str, cfg: QualityConfig) -> tuple[str, dict[str, int]]:
    """The text the later rules, the models and the next stages see: C4's kept lines with PII
    masked; and how many addresses were masked."""
    text, _ = c4.clean(original, cfg.c4)
    return pii.mask(text, cfg.pii)


def is_scored(row: dict[str, Any], cfg: QualityConfig) -> bool:
    """Whether the signal pass reads a row past the URL filter: not where the language rule
    drops it. Half of a crawl is in a language a run does not keep (71% of the crawl-sized
    bench batch with the default ``languages: [en]``), and every signal after that rule (the
    heuristics, C4's cleaning, the classifier, the LM) is computed for a decision that the
    language rule has made already: datatrove, CCNet and NeMo Curator filter languages first
    for the same reason. Such a row keeps its URL signals (the URL filter decides before the
    language rule, so its reason stays the first) and holds no other signal: ``n_chars``, set
    for every scored row, is null (:data:`SCORED`). A re-selection that admits its language
    scores it then (``jobs/quality.py``). The batch that freezes the perplexity cut-offs scores
    every row (``every_language``), so that the frozen distribution covers every language and
    language score, as it did before: the cut-offs of a language admitted later, and those of a
    kept language, whose distribution its low-confidence documents are part of."""
    return language.decide(row, cfg) is None


# The column that is null exactly where the signal pass did not score a row (:func:`is_scored`).
SCORED = "n_chars"
_BEFORE_LANGUAGE = RULE_SETS[: [r.module for r in RULE_SETS].index(language)]


def _signal_rows(
    batch: pa.RecordBatch, cfg: QualityConfig, every_language: bool = False
) -> list[dict[str, Any]]:
    """Kept ingest rows in, rows with every signal out (the URL filter's alone where the
    language rule drops the row, :func:`is_scored`, unless ``every_language``) and the cleaned
    text of those it keeps."""
    rows = batch.to_pylist()
    scored = []
    for row in rows:
        texts = {URL: row["url"], EXTRACTED: row["text"]}
        if not every_language and not is_scored(row, cfg):
            _add_signals(row, _BEFORE_LANGUAGE, texts, cfg)
            row["text"] = row["quality_score"] = row["perplexity"] = None
            continue
        scored.append(row)
        cleaned, masked = cleaned_text(row["text"], cfg)
        texts[CLEANED] = cleaned
        _add_signals(row, RULE_SETS, texts, cfg)
        row["text"] = cleaned
        row.update(masked)
        row["n_words"], row["n_chars"] = whitespace_words(cleaned), len(cleaned)
    quality, perplexity = _scores([r["text"] for r in scored], [r["lang"] for r in scored], cfg)
    for row, q, p in zip(scored, quality, perplexity, strict=True):
        row["quality_score"], row["perplexity"] = q, p
    return rows


def _add_signals(
    row: dict[str, Any], rule_sets: Iterable[RuleSet], texts: dict[str, str], cfg: QualityConfig
) -> None:
    for rule_set in rule_sets:
        config = rule_set.config(cfg)
        row.update(rule_set.module.signals(texts[rule_set.reads], config, lang=row["lang"]))


def signal_batches(
    batches: Iterable[pa.RecordBatch], cfg: QualityConfig, every_language: bool = False
) -> Iterator[pa.RecordBatch]:
    """First pass (mapInArrow body): kept ingest rows in, rows with every signal and the
    cleaned text out; ``every_language``: the rows the language rule drops scored too."""
    for batch in batches:
        rows = _signal_rows(batch, cfg, every_language)
        yield pa.RecordBatch.from_pylist(rows, schema=QUALITY)


def perplexity_bucket(perplexity: float | None, cutoffs: tuple[float, float] | None) -> str | None:
    if perplexity is None or cutoffs is None or not math.isfinite(perplexity):
        return None
    head, middle = cutoffs
    return "head" if perplexity < head else "middle" if perplexity < middle else "tail"


def decide(row: dict[str, Any], cfg: QualityConfig, seed: int) -> str | None:
    """The first rule that drops the document, or None to keep it."""
    for rule_set in RULE_SETS:
        reason = rule_set.module.decide(row, rule_set.config(cfg))
        if reason:
            return reason
    score, classifier = row["quality_score"], cfg.classifier
    if score is not None and classifier.mode != "off":
        if classifier.mode == "threshold":
            keep = score >= classifier.threshold
        else:
            keep = pareto_keep(score, row["doc_id"], seed, classifier.pareto_alpha)
        if not keep:
            return CLASSIFIER_REJECTED
    if row["perplexity"] is not None and not math.isfinite(row["perplexity"]):
        return PERPLEXITY_NOT_FINITE  # no token the model could score: no bucket to put it in
    bucket = row["perplexity_bucket"]
    if bucket is not None and bucket not in cfg.perplexity.keep_buckets:
        return PERPLEXITY_BUCKET
    return None


def _decided_rows(
    rows: list[dict[str, Any]],
    cfg: QualityConfig,
    seed: int,
    cutoffs: dict[str, tuple[float, float]],
) -> list[dict[str, Any]]:
    """Each row's perplexity bucket from its language's cut-offs, then its decision."""
    for row in rows:
        row["perplexity_bucket"] = perplexity_bucket(row["perplexity"], cutoffs.get(row["lang"]))
        row["drop_reason"] = decide(row, cfg, seed)
        if row["drop_reason"]:
            row["text"] = None  # stored for the documents passed on only
    return rows


def decide_batches(
    batches: Iterable[pa.RecordBatch],
    cfg: QualityConfig,
    seed: int,
    cutoffs: dict[str, tuple[float, float]],
) -> Iterator[pa.RecordBatch]:
    """Second pass (mapInArrow body): perplexity bucket from the language's cutoffs, then the
    decision. Also re-run alone over a stored quality table to re-select without rescoring."""
    for batch in batches:
        rows = _decided_rows(batch.to_pylist(), cfg, seed, cutoffs)
        yield pa.RecordBatch.from_pylist(rows, schema=QUALITY)


def scored_batches(
    batches: Iterable[pa.RecordBatch],
    cfg: QualityConfig,
    seed: int,
    cutoffs: dict[str, tuple[float, float]],
) -> Iterator[pa.RecordBatch]:
    """Both passes in one mapInArrow body, for a batch whose perplexity cut-offs are known before
    it is scored (every batch but the one that freezes them): the rows cross from the JVM to
    Python and back once, are converted to Python once, and nothing is persisted between the
    passes."""
    for batch in batches:
        rows = _decided_rows(_signal_rows(batch, cfg), cfg, seed, cutoffs)
        yield pa.RecordBatch.from_pylist(rows, schema=QUALITY)


def recleaned_batches(
    batches: Iterable[pa.RecordBatch], cfg: QualityConfig
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body for a re-selection: rows with ``ingest_text`` in, QUALITY rows out, a kept
    row without a stored text given its cleaned text again: it was dropped, so not stored (or
    kept unchanged by a version of this stage that stored changed texts only)."""
    for batch in batches:
        rows = batch.to_pylist()
        for row in rows:
            original = row.pop("ingest_text")
            if row["drop_reason"] is None and row["text"] is None and original is not None:
                row["text"] = cleaned_text(original, cfg)[0]
        yield pa.RecordBatch.from_pylist(rows, schema=QUALITY)
