"""Layout of ``stats.json`` and of each stage's ``_stats.json``.

A stage's counts are ``{"in": n, "out": n, "dropped": {"<reason>": n}}`` with
``in == out + sum(dropped)`` exactly; :func:`stage_counts` builds them from a group-by over the
stage table's ``drop_reason`` column, so they reconcile by construction, and :func:`check_counts`
verifies a counts block read back from disk.

stats.json::

    {
      "gristmill_version": "...",
      "config_digest": "...",
      "inputs": {"files": n, "failed": [...], "batches": [{"batch": 1, "crawl_id": ...}]},
      "stages": {"ingest": {...counts, extra keys per stage...}, "quality": {...}, ...},
    }
"""

from __future__ import annotations

from typing import Any


def stage_counts(by_reason: dict[str | None, int]) -> dict[str, Any]:
    """Counts block from {drop_reason or None: rows}."""
    dropped = {
        reason: n
        for reason, n in sorted(by_reason.items(), key=lambda kv: str(kv[0]))
        if reason is not None
    }
    out = by_reason.get(None, 0)
    return {"in": out + sum(dropped.values()), "out": out, "dropped": dropped}


def check_counts(stage: str, counts: dict[str, Any]) -> None:
    """Raise ValueError unless in = out + sum(dropped)."""
    total = counts["out"] + sum(counts["dropped"].values())
    if counts["in"] != total:
        raise ValueError(
            f"stage {stage}: counts do not reconcile: in={counts['in']} but out + dropped = {total}"
        )


def _sum_counts(per_batch: list[dict[str, Any]]) -> dict[str, Any]:
    dropped: dict[str, int] = {}
    for s in per_batch:
        for reason, n in s["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + n
    return {
        "in": sum(s["in"] for s in per_batch),
        "out": sum(s["out"] for s in per_batch),
        "dropped": dict(sorted(dropped.items())),
    }


def _merge_dedup(sections: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts add up, the largest cluster is the largest of any batch, parameters are the last
    batch's (a ledger refuses a config change between batches)."""
    merged = dict(sections[-1])
    for key in (
        "exact_duplicates",
        "fuzzy_duplicates",
        "clusters",
        "docs_in_clusters",
        "candidate_pairs",
        "linked_pairs",
    ):
        if key in merged:
            merged[key] = sum(s.get(key, 0) for s in sections)
    for key in ("largest_cluster", "cc_rounds"):
        if key in merged:
            merged[key] = max(s.get(key, 0) for s in sections)
    if "cluster_sizes" in merged:
        sizes: dict[str, int] = {}
        for s in sections:
            for size, n in s.get("cluster_sizes", {}).items():
                sizes[size] = sizes.get(size, 0) + n
        merged["cluster_sizes"] = dict(
            sorted(sizes.items(), key=lambda kv: int(kv[0].split("-")[0]))
        )
    earlier = [s.get("against_earlier", {}) for s in sections]
    merged["against_earlier"] = {
        k: sum(e.get(k, 0) for e in earlier) for k in ("exact_duplicates", "fuzzy_duplicates")
    }
    return merged


def _merge_benchmarks(sections: list[dict[str, Any]]) -> dict[str, Any]:
    """Per benchmark: documents and characters add up; dirty examples are the union of each
    batch's dirty ids (an example can be found in several batches)."""
    merged: dict[str, Any] = {}
    for section in sections:
        for name, b in section.items():
            m = merged.setdefault(
                name,
                {
                    "examples": b["examples"],
                    "label_ngram": b.get("label_ngram"),
                    "docs_touched": 0,
                    "docs_dropped": 0,
                    "chars_removed": 0,
                    "dirty": set(),
                },
            )
            for key in ("docs_touched", "docs_dropped", "chars_removed"):
                m[key] += b[key]
            m["dirty"].update(b.get("dirty_ids", []))
    for m in merged.values():
        m["dirty_examples"] = len(m.pop("dirty"))
    return merged


def merge_stage_stats(stage: str, per_batch: list[dict[str, Any]]) -> dict[str, Any]:
    """One stage's stats over several batches, in the shape of a single batch's stats.

    Counts are summed (so in = out + dropped still holds); stage-specific sections are merged by
    their own rules; anything else is the last batch's value.
    """
    for s in per_batch:
        check_counts(stage, s)
    merged: dict[str, Any] = {k: v for k, v in per_batch[-1].items() if k != "batch"}
    merged.update(_sum_counts(per_batch))
    merged["batches"] = [s.get("batch") for s in per_batch]
    if "input_files" in merged:
        merged["input_files"] = sum(s.get("input_files", 0) for s in per_batch)
        failed = [f for s in per_batch for f in s.get("failed_inputs", [])]
        merged["failed_inputs"] = sorted(failed, key=lambda f: f["path"])
        # What a batch set aside is planned again, so over batches the ledger's retry list is
        # the truth (stats.json "inputs": "retrying", "given_up").
        merged.pop("deferred_inputs", None)
    if stage == "tokenize":
        for key in ("tokens", "shards"):
            merged[key] = sum(s.get(key, 0) for s in per_batch)
    if "text_changed" in merged:
        changed = [s.get("text_changed", {}) for s in per_batch]
        merged["text_changed"] = {k: sum(c.get(k, 0) for c in changed) for k in changed[-1]}
    if "dedup" in merged:
        merged["dedup"] = _merge_dedup([s["dedup"] for s in per_batch if "dedup" in s])
    if "benchmarks" in merged:
        merged["benchmarks"] = _merge_benchmarks([s.get("benchmarks", {}) for s in per_batch])
    if "perplexity_cutoffs" in merged:
        merged["perplexity_cutoffs_by_batch"] = {
            str(s.get("batch")): s.get("perplexity_cutoffs", {}) for s in per_batch
        }
    return merged
