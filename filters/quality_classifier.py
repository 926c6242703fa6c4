"""GPT-3's quality classifier: scoring documents and the Pareto selection over the scores.

GPT-3 (Brown et al. 2020, appendix A) trained a logistic-regression classifier with WebText,
Wikipedia and books as positives and raw Common Crawl as negatives, then kept a document iff
``np.random.pareto(alpha) > 1 - document_score`` with alpha = 9: mostly high-scoring documents,
but some low-scoring ones too, so the filtered set is not narrowed to the reference's style.
gristmill uses a fastText classifier (as CCNet and dolma do) trained by ``gristmill
train-quality`` (``jobs/train_quality.py``); this module is the part the quality stage needs on
its executors. It imports no pyspark.
"""

from __future__ import annotations

import functools
import hashlib

import fasttext
import numpy as np

from gristmill.filters.fasttext_kernel import compiled_model
from gristmill.filters.nfkc import nfkc_lower_code_points
from gristmill.filters.words import SPACE, WORDCHAR, char_classes, code_points, from_code_points
from gristmill.pipeline.kernels import njit

LABEL_HQ = "__label__hq"
LABEL_LQ = "__label__lq"
# fastText averages the vectors of a document's words and word n-grams, so a prefix of a page
# classifies it about as well as the whole page; the cap bounds the training set held by the
# Spark driver (max docs x 2 classes x MAX_CHARS) and the scoring cost of huge pages.
MAX_CHARS = 5_000
# GPT-3's alpha (Brown et al. 2020, appendix A).
PARETO_ALPHA = 9.0


_PUNCTUATION, _SPACE = 1, 2


@functools.cache
def _classes() -> np.ndarray:
    """Per code point: _PUNCTUATION where it is split off as a word of its own (every character
    that is neither a word character nor a space, the regex classes ``[^\\w\\s]``, and "_"),
    _SPACE where it separates words (str.isspace).

    fastText splits on whitespace only, so "word," and "word" would be different features; its
    text-classification tutorial separates punctuation from words, and so do we. Underscores too:
    a page that contains "__label__lq" must not become a label of its own training line."""
    classes = char_classes()
    table = np.where(classes & SPACE, _SPACE, 0).astype(np.uint8)
    table[(classes & (WORDCHAR | SPACE)) == 0] = _PUNCTUATION
    table[ord("_")] = _PUNCTUATION
    return table


@njit
def _words(cps: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The words of ``cps`` joined by single spaces, every punctuation character a word of its
    own: ``" ".join(text.split())`` after a space was put before and after each one."""
    out = np.empty(2 * cps.size, np.uint32)
    k, gap = 0, False
    for c in cps:
        kind = classes[c]
        if kind == _SPACE:
            gap = True
            continue
        if k and (gap or kind == _PUNCTUATION):
            out[k] = 32
            k += 1
        out[k] = c
        k += 1
        gap = kind == _PUNCTUATION
    return out[:k]


def _normalized(text: str) -> np.ndarray:
    """The code points of :func:`normalize`'s line, before the trailing space is stripped."""
    folded = nfkc_lower_code_points(code_points(text[:MAX_CHARS]))
    return _words(folded, _classes())[:MAX_CHARS]


def normalize(text: str) -> str:
    """One fastText input line: NFKC, lowercased, punctuation split off, whitespace collapsed.
    Training and scoring must see the same features, so both go through this function (scoring
    through its code points, :func:`_normalized`). It is idempotent (normalizing a normalized
    text changes nothing): the training job normalizes on the executors before collecting, and
    scoring normalizes again.
    """
    return from_code_points(_normalized(text)).rstrip()


@functools.cache
def load(model_path: str) -> fasttext.FastText._FastText:
    """The model, loaded once per Python process: Spark reuses its Python workers across tasks,
    so that is once per executor core, not per task or batch."""
    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning
    return fasttext.load_model(model_path)


def scores(texts: list[str], model_path: str) -> list[float]:
    """P(__label__hq) for each text (0.0 where the model has no such label), in one batched
    call: compiled over the memory-mapped model (:mod:`gristmill.filters.fasttext_kernel`),
    or by ``fasttext`` itself for a model whose probabilities that kernel does not compute (one
    with another loss than softmax)."""
    if not texts:
        return []
    model = compiled_model(model_path)
    if model is None or model.tree.size:
        labels, probs = load(model_path).predict([normalize(t) for t in texts], k=-1)
        found = [
            dict(zip(names, values, strict=True)).get(LABEL_HQ, 0.0)
            for names, values in zip(labels, probs, strict=True)
        ]
    elif LABEL_HQ in model.labels:
        lines = [_normalized(t) for t in texts]
        ends = np.cumsum([line.size for line in lines])
        probabilities = model.probabilities(np.concatenate(lines), ends)
        found = probabilities[:, model.labels.index(LABEL_HQ)].tolist()
    else:
        found = [0.0] * len(texts)
    # fastText reports exp(log(p + 1e-5)), which can exceed 1 (1.00001).
    return [min(float(p), 1.0) for p in found]


def pareto_keep(score: float, doc_id: str, seed: int, alpha: float = PARETO_ALPHA) -> bool:
    """GPT-3's selection: keep iff a Pareto(alpha) draw is greater than ``1 - score``.

    The draw follows numpy's ``np.random.pareto``, which is the Lomax (Pareto II) distribution:
    ``X = (1 - u) ** (-1 / alpha) - 1`` with u uniform on [0, 1), so P(X > t) = (1 + t) ** -alpha.
    The keep probability is therefore exactly

        P(keep | score) = (2 - score) ** -alpha

    which for alpha = 9 is 1 at score 1, 0.026 at score 0.5 and 2 ** -9 = 0.002 at score 0.
    (The classical Pareto with minimum 1 would be ``X + 1`` >= 1 > 1 - score: it keeps every
    document, which is why the Lomax reading is the one that matches GPT-3's intent.)

    u comes from a hash of (seed, doc_id), not from a random generator, so a document gets the
    same draw on every run and under every partitioning; for a fixed document, keeping is
    monotone in the score.
    """
    digest = hashlib.blake2b(f"pareto:{seed}:{doc_id}".encode(), digest_size=8).digest()
    # 53 bits: u * 2**-53 is exact and below 1, so 1 - u is never 0.
    u = (int.from_bytes(digest, "little") >> 11) * 2.0**-53
    return (1.0 - u) ** (-1.0 / alpha) - 1.0 > 1.0 - score
