"""Every command's arguments, in a module that imports nothing heavy: ``gristmill --help`` and a
usage error answer before pyspark, numba or fastText are loaded, let alone a JVM started. Each
job module takes its ``add_arguments`` from here, so ``spark-submit jobs/<stage>.py`` and
``gristmill <stage>`` accept the same options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gristmill.pipeline import stages
from gristmill.pipeline.fasttext_hyperparameters import Hyperparameters

# The largest n-gram order the PyPI kenlm module loads (it is built with KENLM_MAX_ORDER=6). Here,
# not beside the n-gram counting, which loads numba: the CLI answers --help without it.
MAX_ORDER = 6


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", required=True, type=Path, help="output directory (created if missing)"
    )
    parser.add_argument("--config", type=Path, help="YAML config file (defaults: see README)")
    parser.add_argument(
        "--master",
        help="Spark master URL, e.g. local[4], spark://host:7077, yarn, k8s://https://host:443 "
        "(default: spark.master of the config, local[*])",
    )
    add_verbose(parser)


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true", help="show Spark's own log (warnings and start-up)"
    )


def add_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch",
        type=int,
        help="the input batch to process (default: the latest; see ledger.json)",
    )


def add_inputs(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        nargs="+",
        metavar="PATH",
        help="WARC/WET files, directories, globs, http(s) URLs, or Common Crawl warc.paths.gz "
        "manifests (entries are prefixed with --cc-base-url)",
    )
    source.add_argument(
        "--crawl-id",
        metavar="CC-MAIN-YYYY-WW",
        help="plan the inputs from this Common Crawl crawl's warc.paths.gz under --cc-base-url",
    )
    parser.add_argument(
        "--cc-base-url",
        help="base URL for relative paths in a warc.paths.gz manifest "
        "(default: ingest.cc_base_url, https://data.commoncrawl.org/)",
    )
    parser.add_argument(
        "--max-files",
        type=int,
        help="take at most N inputs this output has not processed yet (in sorted order): a "
        "nightly job with --max-files 50 takes the next 50 files each night",
    )


def add_benchmarks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--benchmark",
        nargs="+",
        default=[],
        metavar="FILE",
        help="benchmark test sets (JSONL, JSON, CSV/TSV, text, optionally .gz) whose 13-grams are "
        "removed from the training text; added to decontaminate.benchmarks of the config",
    )


def ingest(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser)
    add_common(parser)


def quality(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reselect",
        action="store_true",
        help="re-run only the selection over the stored signals of stages/quality",
    )
    add_batch(parser)
    add_common(parser)


def batch_stage(parser: argparse.ArgumentParser) -> None:
    """dedup and tokenize: the batch and the common options."""
    add_batch(parser)
    add_common(parser)


def decontaminate(parser: argparse.ArgumentParser) -> None:
    add_benchmarks(parser)
    add_batch(parser)
    add_common(parser)


def run(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser)
    add_benchmarks(parser)
    add_common(parser)


def ablate(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", nargs="+", metavar="PATH", help="the inputs every configuration runs on"
    )
    source.add_argument("--crawl-id", metavar="CC-MAIN-YYYY-WW", help="as for gristmill run")
    source.add_argument(
        "--runs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="compare these existing output directories instead of running the pipeline",
    )
    parser.add_argument("--cc-base-url", help="as for gristmill run")
    parser.add_argument("--max-files", type=int, help="as for gristmill run")
    parser.add_argument(
        "--config",
        dest="configs",
        action="append",
        type=Path,
        metavar="FILE",
        help="a configuration to compare (YAML); give two or more, the first is the baseline",
    )
    parser.add_argument(
        "--heldout",
        nargs="+",
        required=True,
        metavar="FILE",
        help="held-out evaluation sets: text files (a document a line) or benchmark files; every "
        "configuration's decontamination also removes them from its training text",
    )
    add_benchmarks(parser)
    parser.add_argument(
        "--preset",
        choices=("cpu", "gpu"),
        default="cpu",
        help="training settings: cpu (a tiny model, about 1M tokens, minutes on 2 cores) or gpu "
        "(GPT-2 124M, about 2.6B tokens, bf16, compiled); see README (default: cpu)",
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds (default: 1 2 3)"
    )
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the preset's)")
    parser.add_argument(
        "--heldout-tokens",
        type=int,
        help="score each held-out set's first N tokens, whole documents (default: the preset's)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: the preset's")
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="ablation directory: runs/, train/, ablation.json, ABLATION.md, plots/",
    )
    parser.add_argument("--master", help="Spark master URL (default: the first config's)")
    add_verbose(parser)


def train_lm(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--text",
        nargs="+",
        required=True,
        metavar="PATH",
        help="training text: .txt[.gz], .jsonl[.gz], Parquet files or directories",
    )
    parser.add_argument(
        "--order", type=int, default=5, help=f"n-gram order, 1..{MAX_ORDER} (default 5, CCNet)"
    )
    parser.add_argument(
        "--out",
        "--output",
        dest="out",
        required=True,
        type=Path,
        help="model directory: model.arpa, model.binary, lm.json and cutoffs.json (replaced "
        "if it holds an older model)",
    )
    parser.add_argument(
        "--discount-fallback",
        action="store_true",
        help="where the closed-form discounts fail (tiny or artificial text), use D1=0.5, D2=1, "
        "D3+=1.5 instead of stopping (lmplz --discount_fallback)",
    )
    parser.add_argument(
        "--cutoff-docs",
        nargs="+",
        metavar="PATH",
        help="documents whose perplexity distribution (per language) the quality buckets are "
        "cut from, frozen in cutoffs.json; crawl documents as CCNet does, e.g. "
        "out/stages/ingest (same formats as --text; default: the --text documents)",
    )
    parser.add_argument(
        "--lang",
        default="en",
        help="language of the cut-off documents that carry none (default en); a gristmill stage "
        "table's own lang column wins",
    )
    parser.add_argument(
        "--tokenizer",
        choices=("words", "sentencepiece"),
        default="words",
        help="the model's tokens: whitespace words, or the pieces of a SentencePiece model "
        "trained on the same text (CCNet; a language without spaces needs it)",
    )
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=16_000,
        help="SentencePiece vocabulary size, an upper bound on small text (default 16000)",
    )
    parser.add_argument(
        "--tokenizer-sentences",
        type=int,
        default=1_000_000,
        help="most sentences SentencePiece trains on, the smallest by a hash (default 1000000)",
    )
    parser.add_argument("--config", type=Path, help="YAML config file (only its spark: section)")
    parser.add_argument("--master", help="Spark master URL (default: the config's, local[*])")
    add_verbose(parser)


def train_quality(parser: argparse.ArgumentParser) -> None:
    paths: dict[str, Any] = {"nargs": "+", "required": True, "type": Path, "metavar": "PATH"}
    parser.add_argument("--positive", help="reference text: the high-quality class", **paths)
    parser.add_argument("--negative", help="raw crawl documents: the low-quality class", **paths)
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="where model.bin and metrics.json go"
    )
    parser.add_argument("--config", type=Path, help="YAML config file (defaults: see README)")
    parser.add_argument("--master", help="Spark master URL (default: spark.master of the config)")
    add_verbose(parser)
    parser.add_argument(
        "--max-docs", type=int, default=100_000, help="most documents per class (default: 100000)"
    )
    parser.add_argument(
        "--seed", type=int, help="seeds sampling, split and training (default: the config's seed)"
    )
    parser.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.2,
        help="share of the sources held out (default: 0.2)",
    )
    parser.add_argument(
        "--source-field",
        metavar="NAME",
        help="the .jsonl field or Parquet column naming a document's source (url, title): a "
        "source's documents are held out together; .txt lines are grouped by WikiText article",
    )
    # The defaults and the reasons for them are in Hyperparameters.
    hp = Hyperparameters()
    group = parser.add_argument_group("fastText hyperparameters")
    group.add_argument("--lr", type=float, default=hp.lr, help=f"default: {hp.lr}")
    group.add_argument("--epoch", type=int, default=hp.epoch, help=f"default: {hp.epoch}")
    group.add_argument("--dim", type=int, default=hp.dim, help=f"default: {hp.dim}")
    group.add_argument(
        "--word-ngrams", type=int, default=hp.word_ngrams, help=f"default: {hp.word_ngrams}"
    )
    group.add_argument(
        "--min-count", type=int, default=hp.min_count, help=f"default: {hp.min_count}"
    )
    group.add_argument("--bucket", type=int, default=hp.bucket, help=f"default: {hp.bucket}")
    group.add_argument(
        "--threads",
        type=int,
        default=hp.threads,
        help=f"default: {hp.threads}; more train faster but not reproducibly",
    )


# The stage commands' own options (others: --batch and the common ones).
STAGE_ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "ingest": ingest,
    "quality": quality,
    "decontaminate": decontaminate,
    "card": add_common,
}

# name -> (job module, its arguments). The modules are imported only when their command runs:
# they import pyspark and the models' libraries.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "run": ("gristmill.jobs.run", run),
    **{
        s.name: (s.job, STAGE_ARGUMENTS.get(s.name, batch_stage))
        for s in stages.BATCH + stages.FINAL
        if s.name != "manifest"  # written by tokenize and by run, not a command of its own
    },
    "train-quality": ("gristmill.jobs.train_quality", train_quality),
    "train-lm": ("gristmill.jobs.train_lm", train_lm),
    "ablate": ("gristmill.jobs.ablate", ablate),
}
