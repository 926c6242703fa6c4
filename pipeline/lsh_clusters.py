"""Near-duplicate clusters of a graph small enough for one process, over Arrow tables.

The dedup job (:mod:`gristmill.jobs.dedup`) finds a batch's candidate pairs, verifies them,
solves their connected components and picks each cluster's kept document with Spark when the
batch is large. On a small batch each of those steps is a few Spark jobs of a tenth of a second
over a few kilobytes, so there the driver takes them over with these functions, which follow the
same rules:

- candidate pairs: each LSH bucket (band, bucket) that holds a document of this batch links its
  smallest (doc_id, earlier) to each other member, except that two documents of earlier batches
  are never linked (they were judged in their own batch); a pair found in several buckets is one;
- verification (``dedup.verify: signature``): a pair is linked when the share of equal values of
  its two MinHash signatures reaches the threshold; a pair with a document whose signature is
  missing is left out, as the job's joins leave it out;
- components: union-find, each named by its smallest doc_id;
- kept: a cluster holding an earlier batch's document keeps only those; any other keeps its
  best document (:func:`gristmill.pipeline.connected_components.best_first`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.pipeline.connected_components import best_first, components
from gristmill.pipeline.minhash import signature_matrix, signature_similarity
from gristmill.schemas.tables import DEDUP_CLUSTERS

# A candidate pair.
EDGE = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("dst", pa.string(), nullable=False),
        pa.field("src_earlier", pa.bool_(), nullable=False),
        pa.field("dst_earlier", pa.bool_(), nullable=False),
    ]
)
LINKED = EDGE.append(pa.field("linked", pa.bool_(), nullable=False))
NODES = pa.schema([("node", pa.string()), ("component", pa.string()), ("earlier", pa.bool_())])


def candidate_pairs(bands: pa.Table) -> pa.Table:
    """The :data:`EDGE` rows of ``bands`` (doc_id, band, bucket, earlier), sorted. With the
    rows sorted by bucket and member, each bucket's first row is its smallest (doc_id,
    earlier), and the pairs are read off the sorted columns without a loop over buckets."""
    if not bands.num_rows:
        return EDGE.empty_table()
    order = pc.sort_indices(
        bands, [(c, "ascending") for c in ("band", "bucket", "doc_id", "earlier")]
    )
    rows = bands.select(["doc_id", "band", "bucket", "earlier"]).take(order)
    band, bucket = (rows.column(c).to_numpy() for c in ("band", "bucket"))
    earlier = rows.column("earlier").to_numpy(zero_copy_only=False).astype(np.bool_)
    first = np.ones(rows.num_rows, np.bool_)
    first[1:] = (band[1:] != band[:-1]) | (bucket[1:] != bucket[:-1])
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    center = starts[group]
    has_new = np.minimum.reduceat(earlier.astype(np.int8), starts) == 0
    ids = rows.column("doc_id")
    other = pc.not_equal(ids, ids.take(pa.array(center))).to_numpy(zero_copy_only=False)
    member = np.flatnonzero(has_new[group] & other & ~(earlier & earlier[center]))
    pairs = pa.table(
        [
            ids.take(pa.array(center[member])),
            ids.take(pa.array(member)),
            pa.array(earlier[center[member]]),
            pa.array(earlier[member]),
        ],
        schema=EDGE,
    )
    unique = pairs.group_by(EDGE.names, use_threads=False).aggregate([])
    return unique.select(EDGE.names).cast(EDGE).sort_by([(c, "ascending") for c in EDGE.names])


def verified_pairs(
    pairs: pa.Table, signatures: pa.Table, num_perm: int, threshold: float
) -> pa.Table:
    """``pairs`` with ``linked`` (:data:`LINKED`), by their signatures ((doc_id, signature)
    rows; a doc_id with two, possible with exact dedup off, links when any of its pairings
    does)."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, doc_id in enumerate(signatures.column("doc_id").to_pylist()):
        rows[doc_id].append(i)
    pair, left, right = [], [], []
    for k, (src, dst) in enumerate(
        zip(pairs.column("src").to_pylist(), pairs.column("dst").to_pylist(), strict=True)
    ):
        for a in rows.get(src, ()):
            for b in rows.get(dst, ()):
                pair.append(k)
                left.append(a)
                right.append(b)
    matrix = signature_matrix(signatures.column("signature").combine_chunks(), num_perm)
    close = signature_similarity(matrix[left], matrix[right]) >= threshold
    linked = np.zeros(pairs.num_rows, np.bool_)
    np.logical_or.at(linked, np.array(pair, np.int64), close)
    found = np.zeros(pairs.num_rows, np.bool_)
    found[pair] = True
    return pairs.filter(pa.array(found)).append_column(
        LINKED.field("linked"), pa.array(linked[found])
    )


def all_linked(pairs: pa.Table) -> pa.Table:
    """``pairs`` with every one linked (``dedup.verify: none``)."""
    return pairs.append_column(LINKED.field("linked"), pa.array(np.ones(pairs.num_rows, np.bool_)))


def nodes(pairs: pa.Table) -> pa.Table:
    """(node, component, earlier) of the linked ``pairs`` (:data:`LINKED` rows), sorted."""
    linked = pairs.filter(pairs.column("linked")).to_pylist()
    found = components(
        {n for e in linked for n in (e["src"], e["dst"])}, [(e["src"], e["dst"]) for e in linked]
    )
    flags = {(e["src"], e["src_earlier"]) for e in linked}
    flags |= {(e["dst"], e["dst_earlier"]) for e in linked}
    rows = [{"node": n, "component": found[n], "earlier": early} for n, early in sorted(flags)]
    return pa.Table.from_pylist(rows, NODES)


def kept_in_clusters(found: pa.Table, scores: pa.Table) -> pa.Table:
    """The :data:`DEDUP_CLUSTERS` rows of the ``found`` nodes, sorted by doc_id: ``scores``
    holds (doc_id, quality_score) rows of this batch's documents among them, any number per
    doc_id (the best counts, as Spark's ``max``: null is worst, NaN best)."""
    best: dict[str, float | None] = {}
    ids, values = scores.column("doc_id").to_pylist(), scores.column("quality_score").to_pylist()
    for doc_id, score in zip(ids, values, strict=True):
        ranked = (score, best.get(doc_id, score))
        best[doc_id] = min(ranked, key=lambda s: best_first({"doc_id": "", "quality_score": s}))
    members: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for node in found.to_pylist():
        members[node["component"]].append((node["node"], node["earlier"]))
    rows = []
    for component, docs in members.items():
        if any(early for _, early in docs):
            kept = [early for _, early in docs]
        else:
            first = min(
                docs, key=lambda m: best_first({"doc_id": m[0], "quality_score": best.get(m[0])})
            )
            kept = [m == first for m in docs]
        rows += [
            {"doc_id": d, "component": component, "kept": k, "earlier": e}
            for (d, e), k in zip(docs, kept, strict=True)
        ]
    rows.sort(key=lambda r: (r["doc_id"], r["earlier"]))
    return pa.Table.from_pylist(rows, DEDUP_CLUSTERS)


def size_bins(clusters: pa.Table) -> list[dict[str, int]]:
    """The rows of :func:`gristmill.jobs.dedup.cluster_stats`' aggregation, of a clusters table
    the driver holds: per bin of cluster sizes (k, the bit length of size - 1: 2, 3-4, 5-8,
    ...), the clusters, their documents of this batch, the largest, and the documents dropped
    for a cluster holding an earlier batch's document."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in clusters.to_pylist():
        size = sizes[row["component"]]  # count, new, has_earlier, dropped
        size[0] += 1
        size[1] += not row["earlier"]
        size[2] |= row["earlier"]
        size[3] += not row["kept"]
    bins: dict[int, dict[str, int]] = {}
    for count, new, has_earlier, dropped in sizes.values():
        k = (count - 1).bit_length()
        row = bins.setdefault(k, {"k": k, "clusters": 0, "docs": 0, "largest": 0, "late": 0})
        row["clusters"] += 1
        row["docs"] += new
        row["largest"] = max(row["largest"], count)
        row["late"] += dropped * has_earlier
    return list(bins.values())


def cluster_summary(bins: list[dict[str, int]]) -> dict[str, Any]:
    """Dedup's cluster stats from the size bins (:func:`size_bins`)."""
    histogram = {}
    for row in sorted(bins, key=lambda r: r["k"]):
        low, high = 2 ** (row["k"] - 1) + 1, 2 ** row["k"]
        histogram[str(high) if low == high else f"{low}-{high}"] = row["clusters"]
    return {
        "clusters": sum(r["clusters"] for r in bins),
        "docs_in_clusters": sum(r["docs"] for r in bins),
        "largest_cluster": max((r["largest"] for r in bins), default=0),
        "cluster_sizes": histogram,
        "late_fuzzy_duplicates": sum(r["late"] for r in bins),
    }
