"""Stage stats add up over batches: each section by the rule its fields declare."""

from __future__ import annotations

import pytest

from gristmill.schemas.stats import Counts, Dedup, merge_stage_stats


def batch_stats(batch: int, kept: int, dropped: dict[str, int], **extra: object) -> dict:
    counts = {"in": kept + sum(dropped.values()), "out": kept, "dropped": dropped}
    return {"batch": batch, **counts, **extra}


def test_counts_sections_and_parameters_add_up_over_batches() -> None:
    one = batch_stats(
        1,
        10,
        {"fuzzy_duplicate": 2},
        dedup={
            "fuzzy_duplicates": 2,
            "largest_cluster": 3,
            "cc_rounds": 2,
            "cluster_sizes": {"2": 1, "3-4": 1},
            "against_earlier": {"exact_duplicates": 0, "fuzzy_duplicates": 0},
            "threshold": 0.7,
        },
        benchmarks={"piqa": {"examples": 5, "docs_touched": 1, "docs_dropped": 0,
                             "chars_removed": 40, "dirty_ids": ["a", "b"], "dirty_examples": 2}},
    )  # fmt: skip
    two = batch_stats(
        2,
        7,
        {"exact_duplicate": 1, "fuzzy_duplicate": 1},
        dedup={
            "exact_duplicates": 1,
            "fuzzy_duplicates": 1,
            "largest_cluster": 2,
            "cc_rounds": 1,
            "cluster_sizes": {"2": 1, "17-32": 1},
            "against_earlier": {"exact_duplicates": 1, "fuzzy_duplicates": 0},
            "threshold": 0.75,
        },
        benchmarks={"piqa": {"examples": 5, "docs_touched": 2, "docs_dropped": 1,
                             "chars_removed": 10, "dirty_ids": ["b", "c"], "dirty_examples": 2}},
    )  # fmt: skip
    merged = merge_stage_stats("dedup", [one, two])
    assert (merged["in"], merged["out"]) == (21, 17)
    assert merged["dropped"] == {"exact_duplicate": 1, "fuzzy_duplicate": 3}
    assert merged["batches"] == [1, 2]
    assert merged["dedup"] == {
        "exact_duplicates": 1,
        "fuzzy_duplicates": 3,
        "largest_cluster": 3,  # the larger, not the sum
        "cc_rounds": 2,
        "cluster_sizes": {"2": 2, "3-4": 1, "17-32": 1},  # numeric order of sizes
        "against_earlier": {"exact_duplicates": 1, "fuzzy_duplicates": 0},
        "threshold": 0.75,  # a parameter: the later batch's
    }
    assert list(merged["dedup"]["cluster_sizes"]) == ["2", "3-4", "17-32"]
    # An example dirty in both batches is one dirty example.
    assert merged["benchmarks"]["piqa"] == {
        "examples": 5,
        "label_ngram": None,  # absent from both batches: null, as the stats have always had it
        "docs_touched": 3,
        "docs_dropped": 1,
        "chars_removed": 50,
        "dirty_examples": 3,
    }
    # Summing is associative: one batch at a time gives the same sections.
    assert Dedup.from_json(one["dedup"]) + Dedup.from_json(two["dedup"]) == Dedup.from_json(
        merged["dedup"]
    )


def test_ingest_inputs_and_tokens_add_up_and_deferred_inputs_do_not_carry() -> None:
    one = batch_stats(1, 3, {}, input_files=2, failed_inputs=[{"path": "z.warc.gz"}],
                      deferred_inputs=[{"path": "y.warc.gz"}])  # fmt: skip
    two = batch_stats(2, 4, {"not_html": 1}, input_files=1, failed_inputs=[{"path": "a.warc.gz"}])
    merged = merge_stage_stats("ingest", [one, two])
    assert merged["input_files"] == 3
    assert [f["path"] for f in merged["failed_inputs"]] == ["a.warc.gz", "z.warc.gz"]
    assert "deferred_inputs" not in merged
    batches = [
        batch_stats(1, 3, {}, tokens=100, shards=2),
        batch_stats(2, 1, {}, tokens=7, shards=1),
    ]
    tokens = merge_stage_stats("tokenize", batches)
    assert (tokens["tokens"], tokens["shards"]) == (107, 3)


def test_counts_that_do_not_reconcile_are_refused() -> None:
    assert Counts.from_reasons({None: 4, "empty_text": 1, "": 2}).to_json() == {
        "in": 7,
        "out": 4,
        "dropped": {"": 2, "empty_text": 1},  # an empty reason is still a drop
    }
    broken = batch_stats(1, 3, {"empty_text": 1}) | {"in": 5}
    with pytest.raises(ValueError, match="in=5 but out \\+ dropped = 4"):
        merge_stage_stats("ingest", [broken])
