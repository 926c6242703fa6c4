"""The run configuration: one YAML file, validated on load.

Every key has a default, so an empty file (or none) is a valid config. A key that is not known or a
value of the wrong type or range raises :class:`ConfigError` naming the dotted key, because a typo
that silently falls back to a default would produce a different dataset without anyone noticing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gristmill.filters.bad_words import BadWordsConfig
from gristmill.filters.c4 import C4Config
from gristmill.filters.fineweb import FineWebConfig
from gristmill.filters.gopher_quality import GopherQualityConfig
from gristmill.filters.gopher_repetition import GopherRepetitionConfig
from gristmill.filters.pii import PiiConfig
from gristmill.filters.url import UrlFilterConfig
from gristmill.pipeline.config_checks import ConfigError, check
from gristmill.pipeline.remote import RetryPolicy
from gristmill.pipeline.shingle_text import NORMALIZATIONS
from gristmill.pipeline.tokenizer import ENCODINGS

__all__ = ["Config", "ConfigError", "config_from_dict", "load_config"]


@dataclass(frozen=True)
class SparkConfig:
    master: str = "local[*]"
    app_name: str = "gristmill"
    driver_memory: str = "4g"
    executor_memory: str = "4g"
    # Shuffle partitions for joins and groupBys (inputs get one task per file regardless). null:
    # derived from the cluster when the session starts (shuffle_per_core per core of its default
    # parallelism), then coalesced by adaptive query execution to partitions of about
    # advisory_partition_mb: what the data needs, never a constant right for one machine only.
    shuffle_partitions: int | None = None
    shuffle_per_core: int = 4
    advisory_partition_mb: int = 64
    log_level: str = "WARN"
    # JVM flags of the embedded JVM (a local master, not under spark-submit), which is driver and
    # executor at once. The JIT's optimizing tier (C2) and G1's concurrent threads cost a JVM more
    # CPU than the work itself on a pipeline whose heavy work runs in Python: C1 only and the
    # parallel collector took the JVM's CPU from 107 to 60 s on 10,848 documents, the whole run's
    # wall from 121 to 108 s. Placed before spark.driver.extraJavaOptions from conf, so a flag
    # given there wins. Empty: the JVM's defaults.
    local_jvm_options: str = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC"
    # Passed verbatim to SparkSession.builder.config, e.g. {"spark.executor.cores": "4"}.
    conf: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(
            self.shuffle_partitions is None or self.shuffle_partitions >= 1,
            "spark.shuffle_partitions",
            "must be >= 1 (or null: from the cluster's parallelism)",
        )
        check(self.shuffle_per_core >= 1, "spark.shuffle_per_core", "must be >= 1")
        check(self.advisory_partition_mb >= 1, "spark.advisory_partition_mb", "must be >= 1")
        levels = {"ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"}
        check(self.log_level in levels, "spark.log_level", f"must be one of {sorted(levels)}")


@dataclass(frozen=True)
class IngestConfig:
    extractor: str = "resiliparse"
    # Records whose payload is larger are dropped unread ("too_large"): a 1 GB WARC record would
    # otherwise be held in an executor's memory. Common Crawl truncates payloads at 1 MiB.
    max_record_bytes: int = 10 * 1024 * 1024
    # Extracted text shorter than this is dropped as "empty".
    min_text_chars: int = 1
    # Share of U+FFFD replacement characters above which a decoded page is "undecodable".
    max_replacement_ratio: float = 0.05
    # Base URL prefixed to the relative paths of a Common Crawl warc.paths.gz manifest.
    cc_base_url: str = "https://data.commoncrawl.org/"
    # Documents per Arrow batch handed back to Spark (language ID runs once per batch).
    batch_size: int = 256
    # Retries, resumption and attempts of http(s):// and s3:// inputs (see pipeline/remote.py).
    network: RetryPolicy = field(default_factory=RetryPolicy)
    # Language ID before extraction (pipeline/language_screen.py): lid.176 codes a page may be
    # in; a page plainly in none of them is dropped unextracted ("lang_screened"). Empty: every
    # page is extracted. Must hold every code of quality.languages.
    languages: list[str] = field(default_factory=list)
    # How sure the screen must be of another language to drop a page.
    screen_confidence: float = 0.8

    def __post_init__(self) -> None:
        check(
            self.extractor in ("resiliparse", "trafilatura"),
            "ingest.extractor",
            "must be 'resiliparse' or 'trafilatura'",
        )
        check(self.max_record_bytes > 0, "ingest.max_record_bytes", "must be > 0")
        check(self.min_text_chars >= 0, "ingest.min_text_chars", "must be >= 0")
        check(
            0.0 <= self.max_replacement_ratio <= 1.0,
            "ingest.max_replacement_ratio",
            "must be in [0, 1]",
        )
        check(self.batch_size >= 1, "ingest.batch_size", "must be >= 1")
        check(
            0.5 <= self.screen_confidence <= 1.0, "ingest.screen_confidence", "must be in [0.5, 1]"
        )


@dataclass(frozen=True)
class ClassifierConfig:
    """The fastText quality classifier (``gristmill train-quality``) and how it selects."""

    # Path of a model.bin readable by every executor; null: no classifier score.
    model: str | None = None
    # "pareto": GPT-3's stochastic selection, keep iff pareto(alpha) > 1 - score; "threshold":
    # keep iff score >= threshold; "off": score only, decide nothing.
    mode: str = "pareto"
    threshold: float = 0.5
    pareto_alpha: float = 9.0

    def __post_init__(self) -> None:
        modes = ("pareto", "threshold", "off")
        check(self.mode in modes, "quality.classifier.mode", f"must be one of {modes}")
        check(0.0 <= self.threshold <= 1.0, "quality.classifier.threshold", "must be in [0, 1]")
        check(self.pareto_alpha > 0, "quality.classifier.pareto_alpha", "must be > 0")


@dataclass(frozen=True)
class PerplexityConfig:
    """KenLM perplexity (``gristmill train-lm``) and CCNet's head/middle/tail buckets."""

    # Path of a model.arpa readable by every executor; null: no perplexity (for the languages
    # without a model of their own in `models`).
    model: str | None = None
    # Per-language models, as CCNet: lid.176 code -> model.arpa of that language (train-lm
    # --tokenizer sentencepiece on reference text of the language), each with its own
    # cutoffs.json beside it; `model` scores every other language.
    models: dict[str, str] = field(default_factory=dict)
    # The frozen perplexity distribution the buckets are cut from (a document's bucket must not
    # depend on the night it arrived): a cutoffs.json path; null: the one train-lm wrote beside
    # the model; "first_batch": computed from the first batch scored and frozen in the output
    # (models/perplexity_cutoffs.json) for every later batch.
    cutoffs: str | None = None
    # CCNet: head below the 30th percentile of the language's perplexities, middle below the
    # 60th, tail above.
    head_percentile: float = 30.0
    middle_percentile: float = 60.0
    keep_buckets: list[str] = field(default_factory=lambda: ["head", "middle", "tail"])

    def __post_init__(self) -> None:
        check(
            0.0 <= self.head_percentile <= self.middle_percentile <= 100.0,
            "quality.perplexity.head_percentile",
            "needs 0 <= head_percentile <= middle_percentile <= 100",
        )
        unknown = set(self.keep_buckets) - {"head", "middle", "tail"}
        check(not unknown, "quality.perplexity.keep_buckets", f"unknown buckets {sorted(unknown)}")

    def model_for(self, lang: str | None) -> str | None:
        """The model that scores a document of this language, if any."""
        return self.models.get(lang or "", self.model)

    def all_models(self) -> dict[str, str]:
        """Every model configured: "" for the default, then each language's."""
        default = {"": self.model} if self.model else {}
        return default | dict(sorted(self.models.items()))


# quality.recipe: the heuristic filters as each paper ran them, applied in FineWeb's order
# (URL, language, Gopher repetition, Gopher quality, C4, bad words, FineWeb). "fineweb" (Penedo
# et al. 2024, datatrove's examples/fineweb.py) is the defaults: all four rule sets, C4 without
# its terminal-punctuation line rule, PII masked. "c4" (Raffel et al. 2020): C4's rules only,
# that line rule on, no PII masking. "gopher" (Rae et al. 2021): Gopher's quality and repetition
# rules only, no PII masking. "none": no heuristic rule and no masking (the baseline of an
# ablation). The URL and bad-words filters run in any recipe given their lists.
_NO_PII_MASKING = {"emails": False, "ip_addresses": False}
_HEURISTIC_RULE_SETS = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
RECIPES: dict[str, dict[str, Any]] = {
    "fineweb": {},
    "c4": {
        "gopher_repetition": {"enabled": False},
        "gopher_quality": {"enabled": False},
        "c4": {"filter_no_terminal_punct": True},
        "fineweb": {"enabled": False},
        "pii": _NO_PII_MASKING,
    },
    "gopher": {"c4": {"enabled": False}, "fineweb": {"enabled": False}, "pii": _NO_PII_MASKING},
    "none": {
        **{rules: {"enabled": False} for rules in _HEURISTIC_RULE_SETS},
        "pii": _NO_PII_MASKING,
    },
}


def _with_recipe(quality: Any) -> Any:
    """The quality section over its recipe's settings (a key the user set wins)."""
    if not isinstance(quality, dict) or quality.get("recipe") not in RECIPES:
        return quality  # no recipe, or a bad one (refused when the section is built)
    merged = {k: dict(v) for k, v in RECIPES[quality["recipe"]].items()}
    for key, value in quality.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = {**merged[key], **value} if both else value
    return merged


@dataclass(frozen=True)
class QualityConfig:
    # The published heuristic recipe the rules start from (RECIPES); keys set beside it win.
    recipe: str = "fineweb"
    # Language allow-list (lid.176 codes); empty keeps every language.
    languages: list[str] = field(default_factory=lambda: ["en"])
    # FineWeb keeps lid.176 score >= 0.65, CCNet >= 0.5.
    min_lang_score: float = 0.65
    # Domain and URL-word lists (filters/url.py): applied first, inert without list files.
    url_filter: UrlFilterConfig = field(default_factory=UrlFilterConfig)
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    c4: C4Config = field(default_factory=C4Config)
    # C4's bad-words lists per language (filters/bad_words.py): inert without list files.
    bad_words: BadWordsConfig = field(default_factory=BadWordsConfig)
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)
    # E-mail and public IP addresses masked in the kept text (filters/pii.py).
    pii: PiiConfig = field(default_factory=PiiConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    perplexity: PerplexityConfig = field(default_factory=PerplexityConfig)

    def __post_init__(self) -> None:
        check(self.recipe in RECIPES, "quality.recipe", f"must be one of {tuple(RECIPES)}")
        check(0.0 <= self.min_lang_score <= 1.0, "quality.min_lang_score", "must be in [0, 1]")

    def list_files(self) -> dict[str, str]:
        """Every word list and blocklist file named, by config key: read on the executors, and
        on the driver for the stage digest (a list edited in place reruns the stage)."""
        files = {
            f"quality.url_filter.{key}[{i}]": path
            for key in UrlFilterConfig.LIST_KEYS
            for i, path in enumerate(getattr(self.url_filter, key))
        }
        for lang, path in sorted(self.bad_words.lists.items()):
            files[f"quality.bad_words.lists.{lang}"] = path
        return files


VERIFY = ("signature", "text", "none")


@dataclass(frozen=True)
class DedupConfig:
    # Exact dedup on a hash of whitespace- and case-normalized text.
    exact: bool = True
    # Near-duplicate dedup: MinHash LSH, connected components, one document kept per component.
    fuzzy: bool = True
    # Shingles: "word" n-grams (FineWeb) or "char" n-grams (NeMo Curator).
    shingle: str = "word"
    # The text shingles are cut from (pipeline/shingle_text.py): "v1" folds case, accents,
    # quotes, dashes, punctuation, HTML entities and digits, as datatrove's FineWeb dedup does;
    # "v2" also makes each character of scripts written without spaces a word (crawls with
    # Chinese, Japanese, Thai...); "none" only lower-cases.
    normalization: str = "v1"
    # Shingle length in words (FineWeb: 5) when shingle is "word" ...
    word_ngram: int = 5
    # ... and in characters (NeMo Curator: 24) when shingle is "char".
    char_ngram: int = 24
    # MinHash hashes per document (FineWeb: 112).
    num_perm: int = 112
    # LSH bands x rows per band, bands * rows <= num_perm. 18 x 6 makes a pair at the threshold
    # (0.75) a candidate with probability 0.97 (FineWeb's 14 x 8: 0.77; see bench.dedup_quality),
    # so verification, not the bands, decides what is linked. Set both to null to derive them
    # from `threshold` with datasketch's optimal-parameter routine.
    bands: int | None = 18
    rows: int | None = 6
    # Jaccard similarity of shingle sets from which two documents are near duplicates: the cut of
    # `verify` and the target when bands and rows are derived (FineWeb aims at 0.75).
    threshold: float = 0.75
    # Which candidate pairs (documents sharing a bucket in some band) are linked:
    # - "signature": those whose MinHash signatures agree in >= threshold of their values (the
    #   estimated Jaccard). A band's chance match of pages that share a template (Jaccard 0.4-0.6:
    #   18 x 6 makes 9-58% of such pairs candidates) would otherwise chain a site's pages into one
    #   cluster, and drop a new night's pages against any earlier sibling. Costs a lookup of the
    #   matched earlier documents' signatures, no texts.
    # - "text": those whose exact shingle Jaccard is >= threshold (NeMo Curator's optional check):
    #   reads the texts of both sides, earlier batches' too, so at crawl scale a night would scan
    #   the whole corpus's texts.
    # - "none": every candidate (FineWeb, datatrove).
    verify: str = "signature"
    # A batch's near-duplicate graph of at most this many candidate pairs is solved on the driver
    # by union-find (one collect of that size at most, which also gives the pair counts) instead
    # of Spark's large-star/small-star rounds; 0 always uses the rounds. A bound on driver memory
    # (about 200 bytes a pair).
    local_components_max_edges: int = 100_000
    # A batch of at most this many documents (the rows of its quality table) is clustered on the
    # driver: its MinHash signatures (4 * num_perm bytes each) and the band rows of the earlier
    # documents sharing its buckets (at most bands times this many) are collected, and the
    # candidate pairs, verification, components and kept documents are found in one process
    # instead of a dozen small Spark jobs; Spark's where the earlier rows sharing its buckets are
    # over bands times this, or its candidate pairs over local_components_max_edges. With
    # `verify: text` never (it would collect texts); 0: never.
    local_max_docs: int = 50_000

    def __post_init__(self) -> None:
        check(self.shingle in ("word", "char"), "dedup.shingle", "must be 'word' or 'char'")
        check(self.verify in VERIFY, "dedup.verify", f"must be one of {VERIFY}")
        check(self.local_max_docs >= 0, "dedup.local_max_docs", "must be >= 0")
        check(
            self.local_components_max_edges >= 0,
            "dedup.local_components_max_edges",
            "must be >= 0",
        )
        check(
            self.normalization in NORMALIZATIONS,
            "dedup.normalization",
            f"must be one of {NORMALIZATIONS}",
        )
        check(self.word_ngram >= 1, "dedup.word_ngram", "must be >= 1")
        check(self.char_ngram >= 1, "dedup.char_ngram", "must be >= 1")
        check(self.num_perm >= 2, "dedup.num_perm", "must be >= 2")
        check(0.0 < self.threshold <= 1.0, "dedup.threshold", "must be in (0, 1]")
        check(
            (self.bands is None) == (self.rows is None),
            "dedup.bands",
            "bands and rows are set together, or both null to derive them from threshold",
        )
        if self.bands is not None and self.rows is not None:
            check(self.bands >= 2, "dedup.bands", "must be >= 2")
            check(self.rows >= 1, "dedup.rows", "must be >= 1")
            check(
                self.bands * self.rows <= self.num_perm,
                "dedup.bands",
                f"bands * rows = {self.bands * self.rows} must be <= num_perm {self.num_perm}",
            )


@dataclass(frozen=True)
class DecontaminateConfig:
    # GPT-3 (Brown et al. 2020, appendix C): 13-grams, remove the match plus 200 characters on each
    # side, drop pieces under 200 characters, drop documents split into more than 10 pieces.
    ngram: int = 13
    window_chars: int = 200
    min_piece_chars: int = 200
    max_pieces: int = 10
    # N-grams found in more training documents than this are "too common" and left alone.
    too_common_docs: int = 10
    # Labelling examples dirty (GPT-3 appendix C): each benchmark's N is this percentile of its
    # sequences' lengths in words (context joined with a completion), clipped to [min, max]; a
    # sequence shorter than N is dirty when it appears whole. Cutting keeps ``ngram``.
    label_percentile: float = 5.0
    label_min_ngram: int = 8
    label_max_ngram: int = 13
    benchmarks: list[str] = field(default_factory=list)
    # Benchmark n-grams up to this many go to executors as a broadcast (16 bytes each); more are
    # joined with the documents' n-grams instead.
    broadcast_max_ngrams: int = 50_000_000
    # Per benchmark (file name without extensions): the fields holding its text, replacing the
    # default list (question, answer, text, goal, sol1, sol2, prompt, ...), and its id field.
    text_fields: dict[str, list[str]] = field(default_factory=dict)
    id_fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.ngram >= 1, "decontaminate.ngram", "must be >= 1")
        check(self.window_chars >= 0, "decontaminate.window_chars", "must be >= 0")
        check(self.min_piece_chars >= 0, "decontaminate.min_piece_chars", "must be >= 0")
        check(self.max_pieces >= 1, "decontaminate.max_pieces", "must be >= 1")
        check(self.too_common_docs >= 1, "decontaminate.too_common_docs", "must be >= 1")
        check(
            0.0 <= self.label_percentile <= 100.0,
            "decontaminate.label_percentile",
            "must be in [0, 100]",
        )
        check(
            1 <= self.label_min_ngram <= self.label_max_ngram,
            "decontaminate.label_min_ngram",
            "needs 1 <= label_min_ngram <= label_max_ngram",
        )
        check(self.broadcast_max_ngrams >= 0, "decontaminate.broadcast_max_ngrams", "must be >= 0")


@dataclass(frozen=True)
class BucketConfig:
    """A quality bucket: documents whose signals satisfy every condition, first match wins.

    ``weight`` is a per-token sampling factor relative to the natural mix: 2.0 means a bucket's
    tokens are seen twice as often as their share of the corpus would give them.
    """

    name: str = "all"
    weight: float = 1.0
    min: dict[str, float] = field(default_factory=dict)  # signal >= value
    max: dict[str, float] = field(default_factory=dict)  # signal < value
    values: dict[str, list[str]] = field(default_factory=dict)  # signal in the list

    def __post_init__(self) -> None:
        check(
            self.name.replace("_", "").isalnum(),
            "tokenize.buckets.name",
            f"{self.name!r} must be letters, digits and underscores (it names shard files)",
        )
        check(self.weight > 0, f"tokenize.buckets.{self.name}.weight", "must be > 0")
        for side, bounds in (("min", self.min), ("max", self.max)):
            for column, value in bounds.items():  # NaN: no signal would meet it, unseen
                check(value == value, f"tokenize.buckets.{self.name}.{side}.{column}", "is NaN")


@dataclass(frozen=True)
class TokenizeConfig:
    encoding: str = "gpt2"
    # llm.c's fineweb.py writes 1e8-token shards.
    shard_tokens: int = 100_000_000
    # Share of documents (by doc_id hash) that go to the validation split.
    val_fraction: float = 0.01
    # Quality buckets, tried in order; a document matching none goes to the last bucket.
    buckets: list[BucketConfig] = field(default_factory=lambda: [BucketConfig()])
    # Training budget for the manifest's "epochs" per bucket (GPT-3 table 2.2's last column);
    # 0 means the train split's own size.
    target_tokens: int = 0

    def __post_init__(self) -> None:
        check(self.encoding in ENCODINGS, "tokenize.encoding", f"must be one of {ENCODINGS}")
        check(self.shard_tokens >= 1, "tokenize.shard_tokens", "must be >= 1")
        check(0.0 <= self.val_fraction < 1.0, "tokenize.val_fraction", "must be in [0, 1)")
        check(len(self.buckets) >= 1, "tokenize.buckets", "needs at least one bucket")
        names = [b.name for b in self.buckets]
        check(len(set(names)) == len(names), "tokenize.buckets", f"duplicate names in {names}")
        check(self.target_tokens >= 0, "tokenize.target_tokens", "must be >= 0")


@dataclass(frozen=True)
class CardConfig:
    """What the dataset card measures beyond the stages' own counts."""

    # Count the tokens (with tokenize.encoding) of what each stage kept, for the funnel: one
    # tokenizer pass over each stage's kept text, about the tokenize stage's cost per stage.
    stage_tokens: bool = True
    # A JSONL of labelled page pairs {"a": url, "b": url, "duplicate": true|false}; when set, the
    # card reports dedup's precision and recall on them.
    dedup_labels: str | None = None


# Settings that change how the work is done, never what it produces: no digest holds them, so
# a change (or a new one, added at its default) redoes no batch. dedup.local_components_max_edges
# is one too, but digests have held it since before this list: taken out, every output would
# see its dedup digest change and redo every batch's dedup once.
EXECUTION_ONLY = {"ingest": ("batch_size", "network"), "dedup": ("local_max_docs",)}


def without_execution_only(sections: dict[str, Any]) -> dict[str, Any]:
    """``sections`` (a config's dict, or some of its sections) without the EXECUTION_ONLY keys."""
    for section, keys in EXECUTION_ONLY.items():
        for key in keys:
            sections.get(section, {}).pop(key, None)
    return sections


@dataclass(frozen=True)
class Config:
    seed: int = 0
    spark: SparkConfig = field(default_factory=SparkConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    card: CardConfig = field(default_factory=CardConfig)

    def __post_init__(self) -> None:
        screened = set(self.ingest.languages)
        if screened:
            kept = set(self.quality.languages)
            check(
                bool(kept) and kept <= screened,
                "ingest.languages",
                f"would drop before extraction pages quality.languages keeps "
                f"({sorted(kept - screened) if kept else 'every language'}); list them here too",
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """A hash of everything that shapes the output; how the work is executed (the Spark
        section, batch sizes, network retries) does not, and leaves the digest alone."""
        data = without_execution_only(self.to_dict())
        data.pop("spark")
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """Check one value against its annotation; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, key)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [_convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        _key_type, value_type = typing.get_args(annotation)
        if value_type is str:  # e.g. spark.conf, where YAML may give 4 for "4"
            return {str(k): _scalar_string(v, f"{key}.{k}") for k, v in value.items()}
        return {str(k): _convert(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, key)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, float) and math.isinf(value):
        # No setting means "unbounded" by infinity (null does, where a bound is optional); one
        # read as a bound (a Pareto shape, a longest word, a backoff) would make every rule pass
        # or every wait endless. NaN is refused by each setting's range check.
        raise ConfigError(f"config key '{key}': expected a finite number, got {value!r}")
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"config key '{key}': expected true or false, got {value!r}")
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
    if not isinstance(value, annotation):
        raise ConfigError(
            f"config key '{key}': expected {annotation.__name__}, got {type(value).__name__} "
            f"{value!r}"
        )
    return value


def _scalar_string(value: Any, key: str) -> str:
    """A mapping's value as a string, as Spark and the file paths take them: numbers and
    booleans as YAML wrote them (true as "true"), never a null (which str() made "None", a
    model path or a Spark setting nobody meant) nor a list or a mapping."""
    if value is None or isinstance(value, (list, dict)):
        raise ConfigError(f"config key '{key}': expected a string or a number, got {value!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Keys an earlier release read, and what to write instead.
RENAMED = {"dedup.verify_jaccard": "use dedup.verify: text (for true) or none (for false)"}


def _build(cls: Any, data: Any, prefix: str) -> Any:
    where = prefix or "top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{where}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if dotted in RENAMED:
            raise ConfigError(f"config key '{dotted}' was replaced: {RENAMED[dotted]}")
        if key not in names:
            raise ConfigError(
                f"unknown config key '{dotted}' (known keys in {where}: {', '.join(sorted(names))})"
            )
        kwargs[key] = _convert(value, hints[key], dotted)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any] | None) -> Config:
    if isinstance(data, dict) and "quality" in data:
        data = {**data, "quality": _with_recipe(data["quality"])}
    return _build(Config, data, "")


def load_config(path: str | Path | None) -> Config:
    """Load and validate a YAML config; None gives the defaults."""
    if path is None:
        return Config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    return config_from_dict(data)
