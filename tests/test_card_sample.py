"""The card's samples: merged per batch, they are the sample of the whole, however the rows were
split into batches; quantiles and histograms are of the sampled values."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gristmill.pipeline.card_sample import HASH, histogram, merge, quantiles


def rows(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "doc_id": [f"d{seed}-{i}" for i in range(n)],
            HASH: rng.integers(-(2**63), 2**63 - 1, n),
            "n_words": rng.integers(1, 1000, n),
            "perplexity": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 1e3),
        }
    )


def test_merged_batch_samples_are_the_sample_of_the_whole():
    batches = [rows(300, s) for s in range(5)]
    whole = merge(batches, k=100)
    nightly = merge([merge([merge(batches[:2], k=100), b], k=100) for b in batches[2:3]], k=100)
    nightly = merge([nightly, *(merge([b], k=100) for b in batches[3:])], k=100)
    assert whole.column("doc_id").equals(nightly.column("doc_id")) and whole.num_rows == 100
    hashes = whole.column(HASH).to_numpy()
    union = np.sort(pa.concat_tables(batches).column(HASH).to_numpy())
    assert np.array_equal(np.sort(hashes), union[:100])
    assert merge([]).num_rows == 0


def test_quantiles_and_histogram_of_sampled_values():
    table = rows(1000, 9)
    words = table.column("n_words").to_numpy()
    assert quantiles(table, "n_words", (0.5,)) == [float(np.sort(words)[499])]
    assert quantiles(table, "missing", (0.5,)) is None
    edges, counts = histogram(table, "perplexity", log=True, bins=10)
    finite = table.column("perplexity").to_numpy()
    assert sum(counts) == int((np.isfinite(finite) & (finite > 0)).sum()) and len(edges) == 11
