"""Train-lm: reference text -> an n-gram language model (interpolated modified Kneser-Ney, ARPA).

    gristmill train-lm --text wiki.txt books.jsonl.gz out/documents --order 5 --out models/en
    spark-submit jobs/train_lm.py --text ... --order 5 --out models/en

The model of CCNet's perplexity signal, estimated as lmplz estimates it (Heafield et al. 2013),
every step a Spark operation, so the text may be larger than one machine:

1. count: documents -> sentences (pipeline/lm_text.py) -> the windows of 2..N words of
   ``<s> sentence </s>`` (partial counts per task, summed by a groupBy);
2. adjusted counts, all orders at once: raw counts for the highest order and for n-grams that
   start with ``<s>``; for any other k-gram, its number of distinct left extensions, the
   (k+1)-grams that end with it (a groupBy on their suffixes);
3. count-of-counts per order -> discounts D1, D2, D3+ (Chen & Goodman): with the per-order
   totals, the only numbers collected to the driver;
4. per context: the sum of counts after it and its backoff weight gamma (a groupBy);
5. interpolation, from unigrams (with the uniform 1/|V|) upward, one join per order with the
   lower-order probability of each n-gram's suffix; then a join for the backoffs;
6. ARPA lines, sorted by (order, n-gram), formatted and written as text by the executors; the
   driver concatenates the part files under the header (a byte copy, no parsing).

With ``--tokenizer sentencepiece`` (CCNet's way, for one language at a time), a SentencePiece
unigram tokenizer is first learned from the normalized sentences (:func:`train_tokenizer`) and
the n-grams are counted over its pieces; DIR/sentencepiece.model holds it, and the quality stage
tokenizes with it wherever it lies beside the model.

Inputs: ``.txt``/``.txt.gz`` (one document per line), ``.jsonl``/``.jsonl.gz`` (a "text" field),
Parquet files or directories (a "text" column; where a ``drop_reason`` column exists, as in a
gristmill stage table, only kept rows). Output, committed as a whole: DIR/model.arpa (load it
with ``kenlm.Model``), DIR/model.binary where KenLM's ``build_binary`` is installed (the same
model in KenLM's probing format, which every worker memory-maps instead of parsing the ARPA into
its own memory; ``make install`` builds the tool, ``GRISTMILL_BUILD_BINARY`` names another),
DIR/lm.json (order, n-gram counts, discounts, inputs, sha256) and
DIR/cutoffs.json: the model's perplexity at every whole percentile of each language's
calibration documents (``--cutoff-docs``, default the training text), from which the quality
stage cuts its head/middle/tail buckets, the same for every batch.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import sentencepiece
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from gristmill.filters.perplexity import (
    BINARY_SUFFIX,
    CUTOFFS_FILE,
    PERCENTILES,
    PERPLEXITY_SCHEMA,
    perplexity_batches,
)
from gristmill.jobs import arguments
from gristmill.jobs.arguments import MAX_ORDER
from gristmill.jobs.local_rows import local_frame
from gristmill.jobs.options import job_main
from gristmill.jobs.quality import perplexity_table
from gristmill.jobs.stage_io import commit, sibling_temp_path
from gristmill.jobs.text_inputs import check_text_inputs, read_text_documents
from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.kneser_ney import (
    ARPA_END,
    ARPA_SECTION_END,
    BOS,
    COUNT_SCHEMA,
    FALLBACK_DISCOUNTS,
    LINE_SCHEMA,
    SENTENCES,
    TOKENS,
    UNK,
    DiscountError,
    Discounts,
    arpa_header,
    arpa_line_batches,
    arpa_section_start,
    modified_kn_discounts,
    ngram_count_batches,
)
from gristmill.pipeline.layout import write_json
from gristmill.pipeline.lm_text import PIECES_FILE, load_pieces, sentence_batches
from gristmill.pipeline.log import logger
from gristmill.schemas.tables import spark_schema

LOG = logger(__name__)

ARPA_FILE = "model.arpa"
BINARY_FILE = Path(ARPA_FILE).with_suffix(BINARY_SUFFIX).name
BUILD_BINARY_ENV = "GRISTMILL_BUILD_BINARY"
META_FILE = "lm.json"


add_arguments = arguments.train_lm


def check(args: argparse.Namespace, cfg: Config) -> None:
    if not 1 <= args.order <= MAX_ORDER:
        fail_usage(f"--order must be 1..{MAX_ORDER} (the kenlm module's limit), not {args.order}")
    check_text_inputs(args.text, "--text")
    if args.vocab_size < 100:
        fail_usage(f"--vocab-size must be >= 100, not {args.vocab_size}")
    if args.tokenizer_sentences < 1:
        fail_usage("--tokenizer-sentences must be >= 1")
    if args.cutoff_docs:
        check_text_inputs(args.cutoff_docs, "--cutoff-docs")
    out: Path = args.out
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / META_FILE).exists())
    ):
        # The model directory is replaced as a whole: never something that is not a model.
        fail_usage(f"--out {out} exists and is not a model directory (no {META_FILE})")


def _persist(df: DataFrame, keep: list[DataFrame]) -> DataFrame:
    keep.append(df.persist())
    return df


# The words of an n-gram but its last (its context) and but its first (its suffix).
CONTEXT = "substring_index(ngram, ' ', order - 1)"
SUFFIX = "substring_index(ngram, ' ', 1 - order)"


def _per_order(values: dict[int, float]) -> Column:
    """A column holding ``values[order]`` for each row's order."""
    pairs = (F.lit(x) for kv in values.items() for x in kv)
    return F.element_at(F.create_map(*pairs), F.col("order"))


def _discount(discounts: dict[int, Discounts]) -> Column:
    """D(adj) for each row's order and adjusted count (lmplz's discount.hh)."""
    adj = F.col("adj")
    return (
        F.when(adj == 1, _per_order({k: d.d1 for k, d in discounts.items()}))
        .when(adj == 2, _per_order({k: d.d2 for k, d in discounts.items()}))
        .otherwise(_per_order({k: d.d3 for k, d in discounts.items()}))
    )


def count_ngrams(texts: DataFrame, order: int, pieces: bytes | None = None) -> DataFrame:
    """(order, ngram, count): windows of every order (pipeline/kneser_ney.sentence_ngrams),
    plus order 0: the totals of sentences and tokens; of SentencePiece pieces, given a
    serialized tokenizer."""
    partial = texts.mapInArrow(
        functools.partial(ngram_count_batches, order=order, pieces=pieces),
        spark_schema(COUNT_SCHEMA),
    )
    return partial.groupBy("order", "ngram").agg(F.sum("count").alias("count"))


def adjusted_counts(counted: DataFrame, order: int) -> DataFrame:
    """(order, ngram, adj), as lmplz's adjust_counts.cc: the highest order and the n-grams that
    start with ``<s>`` keep their raw counts; any other k-gram counts its distinct left
    extensions, the (k+1)-grams that end with it (``<s> w`` included)."""
    k, starts_with_bos = F.col("order"), F.col("ngram").startswith(BOS + " ")
    raw = counted.where((k == F.lit(order)) | ((k >= 1) & starts_with_bos))
    extensions = (
        counted.where(k >= 2)
        .select((k - 1).alias("order"), F.expr(SUFFIX).alias("ngram"))
        .groupBy("order", "ngram")
        .agg(F.count(F.lit(1)).alias("adj"))
    )
    return raw.select("order", "ngram", F.col("count").alias("adj")).unionByName(
        extensions.where(~starts_with_bos)
    )


def order_statistics(adjusted: DataFrame) -> dict[int, dict[str, int]]:
    """Per order: n-grams, the sum of adjusted counts, and n1..n4, the count-of-counts."""
    adj = F.col("adj")
    rows = (
        adjusted.groupBy("order")
        .agg(
            F.count(F.lit(1)).alias("ngrams"),
            F.sum(adj).alias("total"),
            *(F.count_if(adj == F.lit(i)).alias(f"n{i}") for i in range(1, 5)),
            F.count_if(adj >= 3).alias("n3plus"),
        )
        .collect()
    )
    return {r["order"]: {k: v for k, v in r.asDict().items() if k != "order"} for r in rows}


def estimate_discounts(
    stats: dict[int, dict[str, int]], fallback: bool
) -> tuple[dict[int, Discounts], list[int]]:
    """Discounts per order, and the orders that fell back to :data:`FALLBACK_DISCOUNTS`."""
    discounts, fell_back = {}, []
    for k, s in sorted(stats.items()):
        try:
            discounts[k] = modified_kn_discounts(k, [s[f"n{i}"] for i in range(1, 5)])
        except DiscountError as exc:
            if not fallback:
                hint = f"; --discount-fallback uses {FALLBACK_DISCOUNTS}"
                raise DiscountError(f"{exc}{hint}") from None
            discounts[k] = FALLBACK_DISCOUNTS
            fell_back.append(k)
    return discounts, fell_back


def context_weights(adjusted: DataFrame, discounts: dict[int, Discounts]) -> DataFrame:
    """(order, context, denominator, gamma) for every context of the orders >= 2: the sum of
    the counts after it and its backoff weight (lmplz's initial_probabilities.cc, AddRight)."""
    adj = F.col("adj")
    sums = (
        adjusted.where(F.col("order") >= 2)
        .select("order", F.expr(CONTEXT).alias("context"), "adj")
        .groupBy("order", "context")
        .agg(
            F.sum(adj).alias("denominator"),
            F.count_if(adj == 1).alias("n1"),
            F.count_if(adj == 2).alias("n2"),
            F.count_if(adj >= 3).alias("n3plus"),
        )
    )
    mass = (
        _per_order({k: d.d1 for k, d in discounts.items()}) * F.col("n1")
        + _per_order({k: d.d2 for k, d in discounts.items()}) * F.col("n2")
        + _per_order({k: d.d3 for k, d in discounts.items()}) * F.col("n3plus")
    )
    gamma = (mass / F.col("denominator")).alias("gamma")
    return sums.select("order", "context", "denominator", gamma)


def interpolate(
    spark: SparkSession,
    adjusted: DataFrame,
    weights: DataFrame,
    stats: dict[int, dict[str, int]],
    discounts: dict[int, Discounts],
    keep: list[DataFrame],
) -> DataFrame:
    """(order, ngram, prob, backoff): interpolated probabilities, and backoff weights below the
    highest order (null there), all linear.

    As lmplz's initial_probabilities.cc and interpolate.cc: unigrams are interpolated with the
    uniform distribution over the vocabulary without ``<s>``; ``<unk>`` has no count of its own
    and gets the interpolation mass gamma / |V|; ``<s>`` gets probability 1 (log 0), being never
    predicted; an n-gram that is no context (it ends with ``</s>``) has backoff 1 (log 0).
    Order by order, each a join with the probabilities one order down.
    """
    order = max(stats)
    s1, d1 = stats[1], discounts[1]
    vocab = s1["ngrams"] + 1  # + <unk>; <s> is not predicted
    gamma1 = (d1.d1 * s1["n1"] + d1.d2 * s1["n2"] + d1.d3 * s1["n3plus"]) / s1["total"]
    k, adj = F.col("order"), F.col("adj")
    specials = local_frame(
        spark,
        pa.table(
            {"order": [1, 1], "ngram": [UNK, BOS], "prob": [gamma1 / vocab, 1.0]},
            pa.schema([("order", pa.int32()), ("ngram", pa.string()), ("prob", pa.float64())]),
        ),
    )
    unigram = (adj - _discount(discounts)) / s1["total"] + gamma1 / vocab
    probs = [
        _persist(
            adjusted.where(k == 1)
            .select("order", "ngram", unigram.alias("prob"))
            .unionByName(specials),
            keep,
        )
    ]
    # Every higher n-gram's discounted probability (alpha) and its context's weight.
    higher = _persist(
        adjusted.where(k >= 2)
        .withColumn("context", F.expr(CONTEXT))
        .join(weights, ["order", "context"])
        .select(
            "order",
            "ngram",
            F.expr(SUFFIX).alias("suffix"),
            ((adj - _discount(discounts)) / F.col("denominator")).alias("alpha"),
            "gamma",
        ),
        keep,
    )
    interpolated = F.col("alpha") + F.col("gamma") * F.col("lower")
    for n in range(2, order + 1):
        lower = probs[-1].select(F.col("ngram").alias("suffix"), F.col("prob").alias("lower"))
        probs.append(
            _persist(
                higher.where(k == n)
                .join(lower, "suffix")
                .select("order", "ngram", interpolated.alias("prob")),
                keep,
            )
        )
    backoffs = weights.select(
        (k - 1).alias("order"), F.col("context").alias("ngram"), F.col("gamma").alias("backoff")
    )
    backoff = F.when(k < order, F.coalesce(F.col("backoff"), F.lit(1.0)))
    return (
        functools.reduce(DataFrame.unionByName, probs)
        .join(backoffs, ["order", "ngram"], "left")
        .select("order", "ngram", "prob", backoff.alias("backoff"))
    )


def write_arpa(entries: DataFrame, counts: list[int], tmp: Path) -> str:
    """Write tmp/model.arpa; return its sha256.

    The entries are sorted by (order, n-gram), formatted and written as text by the executors;
    the driver concatenates the part files under the header, starting a new section after each
    order's count of lines. Sorted, the file is the same whatever the partitioning.
    """
    parts = tmp / "arpa-parts"
    (
        entries.orderBy("order", "ngram")
        .mapInArrow(arpa_line_batches, spark_schema(LINE_SCHEMA))
        .select("line")
        .write.text(str(parts.resolve()))
    )
    digest = hashlib.sha256()
    sections = iter(range(1, len(counts) + 1))
    left = 0
    with (tmp / ARPA_FILE).open("wb") as arpa:

        def put(data: bytes) -> None:
            arpa.write(data)
            digest.update(data)

        put(arpa_header(counts).encode())
        for part in sorted(parts.glob("part-*")):
            with part.open("rb") as f:
                for line in f:
                    while not left:  # the next non-empty order starts here
                        k = next(sections)
                        put(((ARPA_SECTION_END if k > 1 else "") + arpa_section_start(k)).encode())
                        left = counts[k - 1]
                    put(line)
                    left -= 1
        if left or next(sections, None) is not None:
            raise RuntimeError(f"the ARPA entries do not match the n-gram counts {counts}")
        put((ARPA_SECTION_END + ARPA_END).encode())
    shutil.rmtree(parts)
    return digest.hexdigest()


def build_binary_tool() -> str | None:
    """KenLM's ``build_binary``: named by GRISTMILL_BUILD_BINARY, else beside this Python (the
    venv's bin/, where ``make install`` puts it), else on PATH; None where there is none."""
    named = os.environ.get(BUILD_BINARY_ENV)
    if named:
        if not os.access(named, os.X_OK):
            fail_usage(f"{BUILD_BINARY_ENV}={named} is not an executable file")
        return named
    beside = Path(sys.executable).parent / "build_binary"
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("build_binary")


def write_binary(tmp: Path) -> str | None:
    """tmp/model.binary from tmp/model.arpa (probing: KenLM's fastest lookup); its file name,
    or None without ``build_binary`` (then every worker parses the ARPA)."""
    tool = build_binary_tool()
    if tool is None:
        LOG.warning(
            "train-lm: build_binary not found (set %s); writing the ARPA only, which each "
            "worker will parse into its own memory",
            BUILD_BINARY_ENV,
        )
        return None
    done = subprocess.run(
        [tool, "probing", str(tmp / ARPA_FILE), str(tmp / BINARY_FILE)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{tool} failed on the new ARPA model: {done.stderr.strip()[-2000:]}")
    return BINARY_FILE


def train_tokenizer(spark: SparkSession, args: argparse.Namespace) -> bytes:
    """A SentencePiece unigram model of the training text, serialized (CCNet's tokenizer).

    It learns from the normalized sentences the LM will count, at most --tokenizer-sentences of
    them: the distinct ones with the smallest hash, brought to the driver (so the choice does not
    depend on partitioning). One thread, so the same sentences give the same model;
    ``hard_vocab_limit`` off, so a small text gets a smaller vocabulary instead of an error."""
    docs = read_text_documents(spark, args.text)
    sentences = (
        docs.mapInArrow(sentence_batches, "line STRING")
        .distinct()
        .orderBy(F.xxhash64("line"), "line")
        .limit(args.tokenizer_sentences)
        .toArrow()
        .column("line")
        .to_pylist()
    )
    if not sentences:
        fail_usage("the --text inputs hold no text")
    with tempfile.TemporaryDirectory(prefix="gristmill-sentencepiece-") as tmp:
        corpus = Path(tmp) / "sentences.txt"
        corpus.write_text("".join(line + "\n" for line in sentences), encoding="utf-8")
        sentencepiece.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(tmp) / "sp"),
            vocab_size=args.vocab_size,
            model_type="unigram",
            hard_vocab_limit=False,
            num_threads=1,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            minloglevel=2,
        )
        return (Path(tmp) / "sp.model").read_bytes()


def perplexity_distribution(
    spark: SparkSession, args: argparse.Namespace, arpa: Path, sha256: str
) -> dict[str, Any]:
    """The new model's perplexity at every whole percentile of each language's calibration
    documents: the frozen table the quality stage cuts head/middle/tail from (CCNet computes it
    from crawl documents; by default the training text stands in)."""
    paths = args.cutoff_docs or args.text
    docs = read_text_documents(spark, paths, lang=args.lang)
    scored = (
        docs.select("text", "lang", F.xxhash64("text").alias("key"))
        .mapInArrow(
            functools.partial(perplexity_batches, model_path=str(arpa.resolve())),
            spark_schema(PERPLEXITY_SCHEMA),
        )
        .persist(StorageLevel.DISK_ONLY)  # read twice, scored once
    )
    try:
        table = perplexity_table(scored, "key")
    finally:
        scored.unpersist()
    if not table:
        fail_usage(f"no document in {' '.join(map(str, paths))} has a finite perplexity")
    return {
        "percentiles": list(PERCENTILES),
        "languages": table,
        "source": "train-lm: " + ", ".join(str(Path(p).resolve()) for p in paths),
        "model_sha256": sha256,
    }


def run(spark: SparkSession, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    order: int = args.order
    keep: list[DataFrame] = []
    pieces = train_tokenizer(spark, args) if args.tokenizer == "sentencepiece" else None
    try:
        texts = read_text_documents(spark, args.text)
        counted = _persist(count_ngrams(texts, order, pieces), keep)
        totals = {r["ngram"]: r["count"] for r in counted.where("order = 0").collect()}
        if not totals.get(SENTENCES):
            fail_usage("the --text inputs hold no text")
        adjusted = _persist(adjusted_counts(counted, order), keep)
        stats = order_statistics(adjusted)
        discounts, fell_back = estimate_discounts(stats, args.discount_fallback)
        weights = _persist(context_weights(adjusted, discounts), keep)
        entries = interpolate(spark, adjusted, weights, stats, discounts, keep)
        # Unigrams: the counted words and </s>, plus <s> and <unk>.
        counts = [stats[k]["ngrams"] + (2 if k == 1 else 0) for k in range(1, order + 1)]

        out: Path = args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = sibling_temp_path(out)
        tmp.mkdir()
        if pieces:  # beside the ARPA, where the quality stage looks for it
            (tmp / PIECES_FILE).write_bytes(pieces)
        sha256 = write_arpa(entries, counts, tmp)
        binary = write_binary(tmp)
        cutoffs = perplexity_distribution(spark, args, tmp / ARPA_FILE, sha256)
        write_json(tmp / CUTOFFS_FILE, cutoffs)
    finally:
        for df in keep:
            df.unpersist()
    meta = {
        "order": order,
        "arpa": ARPA_FILE,
        "arpa_sha256": sha256,
        # KenLM's binary form (memory-mapped by the quality stage), or null without build_binary.
        "binary": binary,
        "estimator": "interpolated modified Kneser-Ney, as lmplz (Heafield et al. 2013)",
        "normalization": "gristmill.pipeline.lm_text.lm_lines",
        "tokenizer": {"kind": "words"}
        if pieces is None
        else {
            "kind": "sentencepiece",
            "file": PIECES_FILE,
            "vocab_size": load_pieces(pieces).get_piece_size(),
            "sha256": hashlib.sha256(pieces).hexdigest(),
        },
        "ngrams": {str(k): n for k, n in enumerate(counts, start=1)},
        "discounts": {
            str(k): {"D1": d.d1, "D2": d.d2, "D3+": d.d3} for k, d in sorted(discounts.items())
        },
        "discount_fallback_orders": fell_back,
        # Unigram entries: the words, </s> and <unk> (|V| of the uniform distribution), and <s>.
        "vocab_size": counts[0],
        "sentences": totals[SENTENCES],
        "tokens": totals.get(TOKENS, 0),
        "inputs": [str(Path(p).resolve()) for p in args.text],
        "cutoffs": CUTOFFS_FILE,
    }
    write_json(tmp / META_FILE, meta)
    commit(tmp, out, out.parent)
    return meta


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
