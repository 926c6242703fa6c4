"""Dedup quality: precision and recall of duplicate pairs on a labeled set of real documents.

The labeled set: real documents (the 697 CC-MAIN-2019-30 documents and the text of the real pages
of :mod:`bench.corpus`, those of 50 words or more), plus, for 200 of them picked at random,
synthetic near-duplicates at known edit rates: words substituted at random places, a contiguous
run of words deleted, or a run of another document's words inserted. The truth is computed, not
assumed: the exact Jaccard of the word 5-gram shingle sets of every pair of documents (a sparse
matrix product), and a pair is a duplicate when it reaches the configured threshold (0.75). Real
documents that are duplicates of each other count like planted ones.

Two predictions are scored, with each ``dedup.verify`` (none, signature, text):

- ``clusters``: pairs in the same connected component, which is what dedup acts on (one document
  kept per component), from the single-machine path
  (``gristmill.pipeline.connected_components``), which tests show gives the same components as
  the Spark job;
- ``lsh_candidates``: pairs that share a bucket in at least one band.

A second set measures how web text actually varies between copies of one page: for 200 real
documents, one variant per kind (typographic quotes and dashes, re-broken lines and doubled
spaces, changed case, undecoded HTML entities, a changed site header and footer, 1% and 3% of
the words edited), each kind deduplicated on its own together with every original. A variant is
the same document as its source by construction, so the truth is the planted pairs plus the
pairs of originals that are near duplicates of each other (and their variants): recall is the
share of planted pairs put in one component, precision the share of predicted pairs that are
true. Each kind is scored with the configured shingle normalization and without it.

    .venv/bin/python -m bench.dedup_quality     # writes bench/results/dedup_quality.json
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import sys
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
from scipy import sparse

from bench.corpus import SHARED, documents
from bench.timing import report
from gristmill.pipeline.config import VERIFY, Config, config_from_dict
from gristmill.pipeline.connected_components import components, reference_dedup
from gristmill.pipeline.minhash import (
    MinHashParams,
    band_buckets,
    shingle_set,
    signature_similarity,
    signatures,
)

CC_DOCS = SHARED / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
EDITS = {
    "substitute": (0.01, 0.02, 0.03, 0.05, 0.08, 0.10, 0.15, 0.20),
    "delete_span": (0.05, 0.10, 0.20, 0.30),
    "insert_span": (0.05, 0.10, 0.20, 0.30),
}
N_SOURCES = 200


def originals() -> list[str]:
    with gzip.open(CC_DOCS, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f] + list(documents())
    return [t for t in texts if len(t.split()) >= 50]


def edit(words: list[str], kind: str, rate: float, other: list[str], rng: random.Random) -> str:
    n = max(1, round(rate * len(words)))
    if kind == "substitute":
        out = list(words)
        for i in rng.sample(range(len(words)), n):
            out[i] = f"subst{rng.randrange(10**6)}"
        return " ".join(out)
    at = rng.randrange(len(words) - n + 1)
    if kind == "delete_span":
        return " ".join(words[:at] + words[at + n :])
    start = rng.randrange(max(1, len(other) - n))
    return " ".join(words[:at] + other[start : start + n] + words[at:])


def labeled_set(seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    """Documents (doc_id, text) and, for each planted one, its edit ("kind rate")."""
    rng = random.Random(seed)
    texts = originals()
    docs = [{"doc_id": f"o{i:05d}", "text": t, "quality_score": None} for i, t in enumerate(texts)]
    edits = {}
    for src in rng.sample(range(len(texts)), N_SOURCES):
        words = texts[src].split()
        other = texts[rng.randrange(len(texts))].split()
        for kind, rates in EDITS.items():
            for rate in rates:
                doc_id = f"p{len(edits):05d}"
                text = edit(words, kind, rate, other, rng)
                docs.append({"doc_id": doc_id, "text": text, "quality_score": None})
                edits[doc_id] = f"{kind} {rate:.2f} o{src:05d}"
    return docs, edits


def jaccard_pairs(docs: list[dict], params: MinHashParams) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair of documents sharing at least one shingle (i < j)."""
    sets = [shingle_set(d["text"], params) for d in docs]
    vocab, cols = np.unique(np.concatenate(sets), return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    x = sparse.csr_matrix(
        (np.ones(len(rows), np.int32), (rows, cols)), shape=(len(sets), len(vocab))
    )
    shared = sparse.triu(x @ x.T, k=1).tocoo()
    sizes = np.array([len(s) for s in sets])
    union = sizes[shared.row] + sizes[shared.col] - shared.data
    return {
        (int(i), int(j)): float(s / u)
        for i, j, s, u in zip(shared.row, shared.col, shared.data, union, strict=True)
    }


def bucket_pairs(
    docs: list[dict], params: MinHashParams, threshold: float | None = None
) -> set[tuple[int, int]]:
    """Pairs sharing a bucket in some band; with ``threshold``, only those whose signatures
    agree in that share of their values (``dedup.verify: signature``)."""
    sigs = signatures(pa.array([d["text"] for d in docs]), params)
    buckets = band_buckets(sigs, params)
    pairs = set()
    for band in range(params.bands):
        groups = defaultdict(list)
        for i, key in enumerate(buckets[:, band]):
            groups[key].append(i)
        for members in groups.values():
            pairs.update(itertools.combinations(members, 2))
    if threshold is None or not pairs:
        return pairs
    left, right = (np.array(side) for side in zip(*sorted(pairs), strict=True))
    close = signature_similarity(sigs[left], sigs[right]) >= threshold
    return {(int(i), int(j)) for i, j, c in zip(left, right, close, strict=True) if c}


def clusters(docs: list[dict], cfg: Config) -> tuple[dict[str, list[int]], dict[int, int]]:
    """Component -> member indexes, and removed index -> the index of its cluster's keeper."""
    index = {d["doc_id"]: i for i, d in enumerate(docs)}
    groups, keeper = defaultdict(list), {}
    decisions = reference_dedup(docs, cfg)
    for doc_id, decision in decisions.items():
        if decision.component is not None:
            groups[decision.component].append(index[doc_id])
    for members in groups.values():
        (kept,) = [i for i in members if decisions[docs[i]["doc_id"]].drop_reason is None]
        keeper.update({i: kept for i in members if i != kept})
    return groups, keeper


def scores(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, float]:
    hits = len(predicted & truth)
    return {
        "predicted_pairs": len(predicted),
        "true_positives": hits,
        "precision": hits / len(predicted) if predicted else 1.0,
        "recall": hits / len(truth) if truth else 1.0,
    }


def cluster_scores(
    docs: list[dict], cfg: Config, similarity: dict[tuple[int, int], float], threshold: float
) -> tuple[dict[str, float], set[tuple[int, int]]]:
    """Pair scores of the components, and how well the removals are justified."""
    truth = {p for p, j in similarity.items() if j >= threshold}
    partners = {i for pair in truth for i in pair}
    groups, keeper = clusters(docs, cfg)
    predicted = {p for m in groups.values() for p in itertools.combinations(sorted(m), 2)}
    clustered = {i for m in groups.values() for i in m}
    justified = sum(
        similarity.get((min(i, k), max(i, k)), 0.0) >= threshold for i, k in keeper.items()
    )
    return scores(predicted, truth) | {
        "removed": len(keeper),
        # A removed document is rightly removed when it is a true duplicate of the document kept
        # in its place (strict), or at least of some document (lenient).
        "removal_precision_vs_kept": justified / max(1, len(keeper)),
        "removal_precision_any_partner": len(keeper.keys() & partners) / max(1, len(keeper)),
        "docs_with_a_true_duplicate_clustered": len(partners & clustered) / len(partners),
    }, predicted


def planted_found(
    docs: list[dict],
    edits: dict[str, str],
    similarity: dict[tuple[int, int], float],
    predicted: set[tuple[int, int]],
) -> dict[str, dict[str, float]]:
    """Per edit kind and rate: share of (planted, source) pairs clustered, their mean Jaccard."""
    index = {d["doc_id"]: i for i, d in enumerate(docs)}
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    jaccards: dict[str, list[float]] = defaultdict(list)
    for doc_id, label in edits.items():
        kind, rate, src = label.split()
        i, j = sorted((index[doc_id], index[src]))
        key = f"{kind} {rate}"
        total[key] += 1
        found[key] += (i, j) in predicted
        jaccards[key].append(similarity.get((i, j), 0.0))
    return {
        key: {"found": found[key] / total[key], "mean_jaccard": float(np.mean(jaccards[key]))}
        for key in total
    }


# -- how copies of a page vary ------------------------------------------------------------------

HEADERS = (
    "Home | About us | Contact | Privacy policy",
    "Skip to main content Menu Search Sign in",
    "Share on Facebook Share on Twitter Email this page",
)
FOOTERS = (
    "© 2024 All rights reserved. Terms of use. Cookie settings.",
    "Subscribe to our newsletter for the latest updates and offers.",
    "Powered by WordPress | Theme by Example Themes",
)


def typographic(text: str, rng: random.Random) -> str:
    out, double = [], True
    for ch in text:
        if ch == '"':
            out.append("\u201c" if double else "\u201d")
            double = not double
        elif ch == "'":
            out.append("\u2019")
        elif ch == "-":
            out.append(rng.choice(("\u2013", "\u2014")))
        else:
            out.append(ch)
    return "".join(out)


def rewrapped(text: str, rng: random.Random) -> str:
    words = text.split()
    lines, line = [], []
    for word in words:
        line.append(word)
        if len(" ".join(line)) > rng.randrange(40, 80):
            lines.append("  ".join(line) if rng.random() < 0.3 else " ".join(line))
            line = []
    lines.append(" ".join(line))
    return "\r\n".join(lines)


def recased(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    return "\n".join(
        line.upper() if rng.random() < 0.2 else line.title() if rng.random() < 0.2 else line
        for line in lines
    )


def entities(text: str, rng: random.Random) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace('"', "&quot;")
        .replace("\u2019", "&rsquo;")
        .replace(". ", ".&nbsp;")
        .replace("\u2014", "&mdash;")
    )


def boilerplate(text: str, rng: random.Random) -> str:
    return f"{rng.choice(HEADERS)}\n{text}\n{rng.choice(FOOTERS)}"


def word_edits(rate: float):
    def edited(text: str, rng: random.Random) -> str:
        words = text.split()
        for i in rng.sample(range(len(words)), max(1, round(rate * len(words)))):
            words[i] = f"edit{rng.randrange(10**6)}"
        return " ".join(words)

    return edited


VARIATIONS = {
    "typographic_quotes_dashes": typographic,
    "whitespace_line_breaks": rewrapped,
    "case": recased,
    "html_entities": entities,
    "header_footer": boilerplate,
    "words_1pct": word_edits(0.01),
    "words_3pct": word_edits(0.03),
}


def union_components(n: int, pairs: set[tuple[int, int]]) -> list[int]:
    """Each of documents 0..n-1's component (its smallest member), by the reference union-find."""
    found = components(range(n), pairs)
    return [found[i] for i in range(n)]


def grouped_pairs(labels: list[int]) -> set[tuple[int, int]]:
    groups = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    return {p for m in groups.values() for p in itertools.combinations(m, 2)}


def variation_scores(seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """Per kind of variation, per normalization: precision and recall of the components (of the
    default ``verify``'s links)."""
    rng = random.Random(seed)
    texts = originals()
    sources = rng.sample(range(len(texts)), N_SOURCES)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for normalization in ("v1", "none"):
        cfg = config_from_dict({"dedup": {"normalization": normalization}})
        params = MinHashParams.from_config(cfg)
        docs = [{"text": t} for t in texts]
        truth_labels = union_components(
            len(docs),
            {p for p, j in jaccard_pairs(docs, params).items() if j >= cfg.dedup.threshold},
        )
        for kind, vary in VARIATIONS.items():
            variants = [vary(texts[src], random.Random(f"{seed} {kind} {src}")) for src in sources]
            all_texts = list(texts) + variants
            labels = truth_labels + [truth_labels[src] for src in sources]
            truth = grouped_pairs(labels)
            threshold = cfg.dedup.threshold if cfg.dedup.verify == "signature" else None
            pairs = bucket_pairs([{"text": t} for t in all_texts], params, threshold)
            predicted = grouped_pairs(union_components(len(all_texts), pairs))
            planted = {(src, len(texts) + k) for k, src in enumerate(sources)}
            results.setdefault(kind, {})[normalization] = {
                "recall": len(planted & predicted) / len(planted),
                "precision": len(predicted & truth) / len(predicted) if predicted else 1.0,
                "predicted_pairs": len(predicted),
            }
    return results


def measure() -> dict:
    base = Config()
    params = MinHashParams.from_config(base)
    threshold = base.dedup.threshold
    docs, edits = labeled_set()
    similarity = jaccard_pairs(docs, params)
    truth = {p for p, j in similarity.items() if j >= threshold}
    by_verify = {}
    for verify in VERIFY:
        cfg = config_from_dict({"dedup": {"exact": False, "verify": verify}})
        by_verify[verify] = cluster_scores(docs, cfg, similarity, threshold)
    return {
        "documents": len(docs),
        "planted": len(edits),
        "threshold": threshold,
        "shingle": f"word {params.ngram}-grams",
        "bands_x_rows": f"{params.bands} x {params.rows}",
        "true_pairs": len(truth),
        "lsh_candidates": scores(bucket_pairs(docs, params), truth),
        "clusters": {verify: scored for verify, (scored, _) in by_verify.items()},
        "planted_pairs_clustered": {
            verify: planted_found(docs, edits, similarity, predicted)
            for verify, (_, predicted) in by_verify.items()
        },
        "templated_pages_removed": templated_removed(docs),
        "variations": variation_scores(),
    }


def templated_removed(docs: list[dict], pages: int = 200) -> dict[str, int]:
    """Of ``pages`` pages of one site (the same 150 real words, then 60 of their own: Jaccard
    about 0.55 between any two), how many each ``verify`` removes as near duplicates: none of
    them is one."""
    words = " ".join(d["text"] for d in docs[:50]).split()
    template = " ".join(words[:150])
    site = [
        {"doc_id": f"s{k:04d}", "text": f"{template} {' '.join(words[200 + 60 * k :][:60])}",
         "quality_score": None}
        for k in range(pages)
    ]  # fmt: skip
    removed = {}
    for verify in VERIFY:
        cfg = config_from_dict({"dedup": {"exact": False, "verify": verify}})
        decisions = reference_dedup(site, cfg).values()
        removed[verify] = sum(d.drop_reason is not None for d in decisions)
    return removed


def main() -> int:
    return report("dedup_quality", measure())


if __name__ == "__main__":
    sys.exit(main())
