"""Training GPT-3's quality classifier: the pure parts of ``jobs/train_quality.py``.

GPT-3 (Brown et al. 2020, appendix A) trained a classifier to tell a reference corpus (WebText,
Wikipedia, books) from raw Common Crawl. Here it is a fastText supervised model with a softmax
over two labels, which is a logistic regression on averaged word and bigram embeddings. The
steps: normalize each document as scoring will
(``gristmill.filters.quality_classifier.normalize``), take a sample of each class by a hash of
the text, downsample the larger class, hold out a share of the sources (a WikiText article, a
URL) by a hash of the source, train in a fresh Python process and evaluate on the held-out
documents, cleaned as the quality stage cleans before it scores. The held-out ROC AUC comes with
a 95% interval from a bootstrap over sources.

Every choice of documents is a hash of (purpose, seed, normalized text), never a random
generator, so the same inputs and seed give the same training file whatever Spark's
partitioning, and a source's documents always fall on the same side of the split.
With one training thread fastText is then deterministic too: the same model bytes.

fastText's Python ``train_supervised`` reports "Encountered NaN" on tiny files and fails when it
is called more than once in one process (DESIGN.md, known traps), so :func:`train_and_score`
runs it in a child process (``python -m gristmill.pipeline.classifier_training SPEC``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import fasttext
import numpy as np
import numpy.typing as npt
import pyarrow as pa

import gristmill
from gristmill.filters.quality_classifier import LABEL_HQ, LABEL_LQ, normalize, scores
from gristmill.pipeline.config import QualityConfig
from gristmill.pipeline.fasttext_hyperparameters import Hyperparameters
from gristmill.pipeline.quality import cleaned_text

# The keyed, normalized documents the Spark job samples from (keys are Spark longs): the sample
# key of the normalized text, that text (what fastText trains on), the key of the document's
# source (which side of the split it falls on), and, for a held-out document only, its text as
# the quality stage scores it (cleaned, then normalized).
KEYED_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("text", pa.string()),
        ("source_key", pa.int64()),
        ("heldout_text", pa.string()),
    ]
)
# fastText gives "Encountered NaN" on tiny training files (DESIGN.md, known traps).
MIN_DOCS_PER_CLASS = 100
# What holds the gristmill package (a folder, or the zip spark-submit shipped), for the child's
# import path.
_IMPORT_ROOT = Path(gristmill.__file__).resolve().parent.parent


def text_key(purpose: str, seed: int, text: str) -> int:
    """A signed 64-bit hash of a text for one purpose (sample, heldout, order) and seed."""
    digest = hashlib.blake2b(f"{purpose}:{seed}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class Sample(NamedTuple):
    """A sampled document: its normalized text, its source's key and, if held out, its text as
    the quality stage scores it."""

    text: str
    source_key: int
    heldout_text: str | None


def is_heldout(source_key: int, fraction: float) -> bool:
    """Whether a source's documents are held out: its key, as a number in [0, 1), is below
    ``fraction``. The same answer on the executors and on the driver."""
    return (source_key + 2**63) / 2**64 < fraction


def keyed_documents(
    batches: Iterable[pa.RecordBatch], seed: int, fraction: float, quality: QualityConfig
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: ``text`` (and ``source``, where the input names one) in, KEYED_SCHEMA
    rows out.

    Normalizing on the executors truncates documents before they are shuffled or collected, and
    documents with nothing left (empty, whitespace, null) are dropped. A document without a
    source is its own. A held-out document is also cleaned as the quality stage cleans it (C4's
    line rules, PII masking) before it is normalized, so that the held-out scores are the ones
    the pipeline will give such a document.
    """
    for batch in batches:
        columns = batch.to_pydict()
        rows = zip(columns["text"], columns.get("source") or [None] * batch.num_rows, strict=True)
        out: dict[str, list[Any]] = {name: [] for name in KEYED_SCHEMA.names}
        for raw, source in rows:
            text = normalize(raw) if raw else ""
            if not text:
                continue
            source_key = text_key("source", seed, source if source is not None else text)
            heldout = None
            if is_heldout(source_key, fraction):
                heldout = normalize(cleaned_text(raw, quality)[0])
            out["key"].append(text_key("sample", seed, text))
            out["text"].append(text)
            out["source_key"].append(source_key)
            out["heldout_text"].append(heldout)
        yield pa.RecordBatch.from_pydict(out, schema=KEYED_SCHEMA)


def balance(positives: list[Sample], negatives: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """Downsample the larger class to the smaller's size.

    Both lists come in sample-key order, so the documents kept are the ones with the smallest
    keys: the same as if ``--max-docs`` had been the smaller class's size.
    """
    n = min(len(positives), len(negatives))
    return positives[:n], negatives[:n]


def split_heldout(samples: list[Sample], fraction: float) -> tuple[list[Sample], list[Sample]]:
    """(train, heldout) by source: every document of a held-out source is held out, so no
    article has paragraphs on both sides."""
    train: list[Sample] = []
    heldout: list[Sample] = []
    for sample in samples:
        (heldout if is_heldout(sample.source_key, fraction) else train).append(sample)
    return train, heldout


def auc_interval(
    labels: Sequence[bool],
    predictions: Sequence[float],
    groups: Sequence[int],
    seed: int,
    rounds: int = 2000,
) -> list[float] | None:
    """95% interval of the ROC AUC by a bootstrap over sources: whole sources are drawn with
    replacement (pieces of one article are not independent), the AUC computed on each draw, and
    the 2.5th and 97.5th percentiles returned. None without both classes.

    A draw is a count per source, so each round's AUC is the rank AUC with every document
    weighted by its source's count, over an order sorted once: O(documents) a round, where
    gathering the drawn documents (a max-docs run holds out tens of thousands) would cost a
    Python loop over the sources and a sort each round."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(predictions, dtype=np.float64)
    if y.all() or not y.any():
        return None
    order = np.argsort(s, kind="stable")
    _, group = np.unique(np.asarray(groups)[order], return_inverse=True)
    _, tie = np.unique(s[order], return_inverse=True)  # equal scores share a rank group
    positive = y[order]
    rng = np.random.default_rng(seed)
    sources = group.max() + 1
    aucs = []
    for _ in range(rounds):
        weight = np.bincount(rng.integers(0, sources, sources), minlength=sources)[group]
        pos, neg = np.where(positive, weight, 0), np.where(positive, 0, weight)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos and total_neg:
            neg_at = np.bincount(tie, weights=neg)  # negatives at each score
            below = np.cumsum(neg_at) - neg_at  # negatives strictly below it
            wins = (pos * (below[tie] + neg_at[tie] / 2)).sum()
            aucs.append(wins / (total_pos * total_neg))
    low, high = np.percentile(aucs, [2.5, 97.5])
    return [float(low), float(high)]


def write_training_file(path: Path, positives: list[str], negatives: list[str], seed: int) -> int:
    """Write fastText's input (``__label__hq text`` lines); return the number of lines.

    The two classes are interleaved in hash order: fastText's SGD reads the file front to back,
    and a file sorted by class would end its training on one class.
    """
    examples = [(LABEL_HQ, t) for t in positives] + [(LABEL_LQ, t) for t in negatives]
    examples.sort(key=lambda e: text_key("order", seed, f"{e[0]} {e[1]}"))
    with path.open("w", encoding="utf-8") as f:
        for label, text in examples:
            f.write(f"{label} {text}\n")
    return len(examples)


def roc_auc(labels: npt.ArrayLike, predictions: npt.ArrayLike) -> float | None:
    """Area under the ROC curve from ranks (Mann-Whitney U); None without both classes.

    It is the probability that a random positive scores above a random negative, ties counting
    one half: each group of tied scores gets the average of the ranks it spans.
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(predictions, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, group, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[group]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(
    labels: Sequence[bool], predictions: Sequence[float], threshold: float = 0.5
) -> dict[str, Any]:
    """Precision, recall, F1 and accuracy of ``score >= threshold`` for the positive class, plus
    ROC AUC and the mean score of each class; a metric without a denominator is None."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(predictions, dtype=np.float64)
    predicted = s >= threshold
    tp = int((predicted & y).sum())
    precision = tp / int(predicted.sum()) if predicted.any() else None
    recall = tp / int(y.sum()) if y.any() else None
    f1 = 2 * tp / (int(predicted.sum()) + int(y.sum())) if predicted.any() or y.any() else None
    return {
        "threshold": threshold,
        "positives": int(y.sum()),
        "negatives": int((~y).sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": float((predicted == y).mean()) if y.size else None,
        "roc_auc": roc_auc(y, s),
        "mean_score_positive": float(s[y].mean()) if y.any() else None,
        "mean_score_negative": float(s[~y].mean()) if (~y).any() else None,
    }


def train_and_score(
    train_file: Path,
    heldout: list[str],
    model_path: Path,
    hyperparameters: Hyperparameters,
    work_dir: Path,
) -> list[float]:
    """Train on ``train_file`` in a fresh Python process, save the model to ``model_path``, and
    return its P(__label__hq) for each held-out text."""
    heldout_file, scores_file = work_dir / "heldout.json", work_dir / "scores.json"
    spec = {
        "train": str(train_file),
        "model": str(model_path),
        "heldout": str(heldout_file),
        "scores": str(scores_file),
        "fasttext": hyperparameters.fasttext_args(),
    }
    heldout_file.write_text(json.dumps(heldout), encoding="utf-8")
    spec_path = work_dir / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(_IMPORT_ROOT), os.environ.get("PYTHONPATH")) if p)
    child = subprocess.run(
        [sys.executable, "-m", __name__, str(spec_path)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        raise RuntimeError(
            f"fastText training failed (exit code {child.returncode}): {child.stderr[-2000:]}"
        )
    return json.loads(scores_file.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    """The child process: train, save, score the held-out texts, as the spec file says."""
    (spec_path,) = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    model = fasttext.train_supervised(input=spec["train"], verbose=0, **spec["fasttext"])
    model.save_model(spec["model"])
    heldout = json.loads(Path(spec["heldout"]).read_text(encoding="utf-8"))
    Path(spec["scores"]).write_text(json.dumps(scores(heldout, spec["model"])), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
