"""Connected components of a graph held as a DataFrame of edges: large-star / small-star.

Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in MapReduce and
Beyond" (SoCC 2014): alternate two local operations over each node's neighborhood until every
component is a star around its smallest node, O(log^2 n) rounds. Each round is a few joins and
group-by minimums, which Spark spills to disk as needed: no step gathers a component, or the
graph, in one task, and nothing but counts reaches the driver. This replaces the single-task
clustering step that makes datatrove and NeMo Curator run out of memory at scale.

Edges are kept oriented from the larger node to the smaller, ``(node, parent)`` with
``parent < node``:

- large-star: every edge ``(v, u)`` becomes ``(v, m(u))``, where ``m(u)`` is the smallest of u and
  its parents: larger neighbors of u hang from the smallest node u knows;
- small-star: for each node u with parents ``P(u)`` and ``m = min P(u)``, emit ``(u, m)`` and
  ``(p, m)`` for every other ``p`` in ``P(u)``: u's smaller neighbors hang from their minimum.

Both keep each component connected and never create a link across components; when every node has
at most one parent and no parent has one (all stars), both are the identity and the node's parent
is its component's smallest node. Each round's edges are checkpointed (reliably, to the checkpoint
directory) so that the lineage, and the plan Spark re-optimizes, stays one round long.

Dedup sends a graph here only when it has more edges than ``dedup.local_components_max_edges``;
a smaller one it solves on the driver by union-find (``jobs/dedup.py``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

NODE, PARENT = "node", "parent"


def _oriented(edges: DataFrame) -> DataFrame:
    """Undirected (src, dst) pairs -> distinct (node, parent) with parent < node; loops dropped."""
    return (
        edges.where(F.col("src") != F.col("dst"))
        .select(
            F.greatest("src", "dst").alias(NODE),
            F.least("src", "dst").alias(PARENT),
        )
        .distinct()
    )


def _smallest_parent(edges: DataFrame) -> DataFrame:
    """(u, m): each node with parents and its smallest parent (fresh column names: a self-join)."""
    return edges.groupBy(F.col(NODE).alias("u")).agg(F.min(PARENT).alias("m"))


def _large_star(edges: DataFrame) -> DataFrame:
    smallest = _smallest_parent(edges)
    return (
        edges.join(smallest, F.col(PARENT) == F.col("u"), "left")
        .select(NODE, F.coalesce("m", PARENT).alias(PARENT))
        .distinct()
    )


def _small_star(edges: DataFrame) -> DataFrame:
    joined = edges.join(_smallest_parent(edges), F.col(NODE) == F.col("u"))
    return joined.select(
        F.when(F.col(PARENT) == F.col("m"), F.col(NODE)).otherwise(F.col(PARENT)).alias(NODE),
        F.col("m").alias(PARENT),
    ).distinct()


def _is_stars(edges: DataFrame) -> bool:
    """True when no node has two parents and no parent has a parent."""
    parents = edges.select(F.col(PARENT).alias("p")).distinct()
    per_node = edges.groupBy(F.col(NODE).alias("u")).agg(F.count("*").alias("n"))
    bad = per_node.join(parents, F.col("u") == F.col("p"), "left").where(
        (F.col("n") > 1) | F.col("p").isNotNull()
    )
    return bad.limit(1).count() == 0


def connected_components(edges: DataFrame, max_rounds: int = 100) -> tuple[DataFrame, int]:
    """(node, component) for every node on an edge, component = its smallest node; and rounds.

    ``edges`` has string columns src and dst (undirected). The SparkContext needs a checkpoint
    directory (``setCheckpointDir``) on storage every executor can reach; the caller owns it.
    """
    current = _oriented(edges).checkpoint()
    rounds = 0
    while not _is_stars(current):
        if rounds == max_rounds:
            raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
        current = _small_star(_large_star(current)).checkpoint()
        rounds += 1
    members = current.select(NODE, F.col(PARENT).alias("component"))
    roots = current.select(F.col(PARENT).alias(NODE), F.col(PARENT).alias("component"))
    return members.unionByName(roots).distinct(), rounds
