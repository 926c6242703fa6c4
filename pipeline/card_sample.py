"""A bounded sample of a table's rows that merges across batches, for the dataset card's quantiles
and histograms: the ``k`` rows with the smallest hash of their doc_id (a bottom-k sample).

Why: the card is remade every night, and its figures must not scan the whole corpus to do it.
The k smallest hashes of a union of batches are the k smallest among each batch's own k
smallest, so a batch is sampled once, when it is new, and a night merges k rows per new batch
into the sample so far. The hash does not depend on the values, so the sample is uniform, and it
does not depend on how the inputs were split into batches either.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SAMPLE_ROWS = 20_000
HASH = "sample_hash"  # Spark's xxhash64 of doc_id, computed where the rows are


def merge(tables: list[pa.Table], k: int = SAMPLE_ROWS) -> pa.Table:
    """The bottom-k of the union of bottom-k samples (ties broken by doc_id)."""
    if not tables:
        return pa.table({})
    table = pa.concat_tables(tables, promote_options="permissive")
    order = pc.sort_indices(table, [(HASH, "ascending"), ("doc_id", "ascending")])
    return table.take(order[:k])


def values(table: pa.Table, column: str, log: bool = False) -> np.ndarray:
    """The column's finite values (positive ones only with ``log``, then log10)."""
    if column not in table.column_names:
        return np.empty(0)
    x = table.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
    x = x[np.isfinite(x)]
    if log:
        x = np.log10(x[x > 0])
    return x


def quantiles(table: pa.Table, column: str, qs: tuple[float, ...]) -> list[float] | None:
    """Quantiles that are sampled values, as Spark's percentile_approx gives."""
    x = values(table, column)
    return [float(v) for v in np.quantile(x, qs, method="inverted_cdf")] if len(x) else None


def histogram(
    table: pa.Table, column: str, log: bool, bins: int
) -> tuple[list[float], list[int]] | None:
    """Equal-width histogram of the sampled values; None when there are none."""
    x = values(table, column, log)
    if not len(x):
        return None
    lo, hi = float(x.min()), float(x.max())
    width = (hi - lo) / bins or 1.0
    index = np.minimum(((x - lo) / width).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    return [lo + i * width for i in range(bins + 1)], [int(c) for c in counts]
