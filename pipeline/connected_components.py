"""Dedup on one machine: datasketch's MinHash and MinHashLSH, then union-find.

This is the single-machine path for small inputs and the reference that the Spark path
(``jobs/dedup.py``) is tested against: the same documents and config give the same drop reasons
and components on both. It follows the same rules, which are the stage's definition:

- exact: of the documents with the same normalized-text hash, the best is kept;
- fuzzy (over what exact dedup kept): documents sharing an LSH bucket in any band are candidates;
  each bucket links its smallest doc_id to each other member when their similarity reaches the
  threshold (``dedup.verify``: the share of equal MinHash values, the exact shingle Jaccard, or
  none checked); connected components of those links are the clusters, named by their smallest
  doc_id, and the best document of each is kept;
- "best": the highest quality_score, null counting as worst, ties to the smallest doc_id.

Union-find holds every node in memory, which is why the Spark path uses large-star/small-star
instead (Kiveris et al. 2014); here it is the simple, obviously correct version.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from gristmill.pipeline.config import Config
from gristmill.pipeline.minhash import MinHashParams, datasketch_hashfunc, shingles
from gristmill.pipeline.text_hash import text_hash

EXACT_DUPLICATE = "exact_duplicate"
FUZZY_DUPLICATE = "fuzzy_duplicate"


@dataclass(frozen=True)
class Decision:
    """What dedup decided for one document; ``component`` is set for near-duplicate clusters."""

    drop_reason: str | None
    component: str | None


def best_first(doc: dict) -> tuple[bool, bool, float, str]:
    """Sort key putting the document to keep first: best quality_score (null last), then doc_id.
    A NaN score ranks above every number, as Spark orders it (the Spark job's order)."""
    score = doc.get("quality_score")
    if score is None:
        return (True, False, 0.0, doc["doc_id"])
    if math.isnan(score):
        return (False, False, 0.0, doc["doc_id"])
    return (False, True, -score, doc["doc_id"])


Node = TypeVar("Node", str, int)


def components(nodes: Iterable[Node], edges: Iterable[tuple[Node, Node]]) -> dict[Node, Node]:
    """Node -> the smallest node of its connected component (union-find, by smallest root)."""
    parent = {n: n for n in nodes}

    def root(x: Node) -> Node:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: root(n) for n in parent}


def sketches(docs: list[dict], params: MinHashParams) -> dict[str, Any]:
    """doc_id -> datasketch MinHash of the documents with at least one shingle (a document with
    none has no bands: see :func:`gristmill.pipeline.minhash.signature_rows`)."""
    from datasketch import MinHash

    hashfunc = datasketch_hashfunc(params)
    out = {}
    for doc in docs:
        found = shingles(doc["text"], params)
        if found:
            sketch = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=hashfunc)
            sketch.update_batch([s.encode() for s in found])
            out[doc["doc_id"]] = sketch
    return out


def candidate_edges(signed: dict[str, Any], params: MinHashParams) -> set[tuple[str, str]]:
    """(smallest doc_id, other doc_id) of every LSH bucket of datasketch's MinHashLSH."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(num_perm=params.num_perm, params=(params.bands, params.rows))
    for doc_id, sketch in signed.items():
        lsh.insert(doc_id, sketch)
    edges: set[tuple[str, str]] = set()
    for table in lsh.hashtables:
        for key, size in table.itemcounts().items():
            if size > 1:
                first, *others = sorted(table.get(key))
                edges.update((first, other) for other in others)
    return edges


def shingle_jaccard(a: str, b: str, params: MinHashParams) -> float:
    """Exact Jaccard of two documents' shingle sets (two empty sets are identical)."""
    sa, sb = set(shingles(a, params)), set(shingles(b, params))
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


def reference_dedup(docs: list[dict], cfg: Config) -> dict[str, Decision]:
    """doc_id -> Decision for rows with doc_id, text and quality_score (doc_ids unique)."""
    decisions = {d["doc_id"]: Decision(None, None) for d in docs}
    survivors = sorted(docs, key=best_first)
    if cfg.dedup.exact:
        seen: set[str] = set()
        kept = []
        for doc in survivors:
            key = text_hash(doc["text"] or "")
            if key in seen:
                decisions[doc["doc_id"]] = Decision(EXACT_DUPLICATE, None)
            else:
                seen.add(key)
                kept.append(doc)
        survivors = kept
    if not cfg.dedup.fuzzy:
        return decisions
    params = MinHashParams.from_config(cfg)
    signed = sketches(survivors, params)
    edges = candidate_edges(signed, params)
    if cfg.dedup.verify == "signature":
        edges = {(a, b) for a, b in edges if signed[a].jaccard(signed[b]) >= cfg.dedup.threshold}
    elif cfg.dedup.verify == "text":
        text = {d["doc_id"]: d["text"] or "" for d in survivors}
        edges = {
            (a, b)
            for a, b in edges
            if shingle_jaccard(text[a], text[b], params) >= cfg.dedup.threshold
        }
    label = components((d["doc_id"] for d in survivors), edges)
    clusters: dict[str, list[dict]] = defaultdict(list)
    for doc in survivors:  # best first, so each cluster's first member is its keeper
        clusters[label[doc["doc_id"]]].append(doc)
    for component, members in clusters.items():
        if len(members) < 2:
            continue
        for i, doc in enumerate(members):
            decisions[doc["doc_id"]] = Decision(None if i == 0 else FUZZY_DUPLICATE, component)
    return decisions
