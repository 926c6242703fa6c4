"""Layout of ``stats.json`` and of each stage's ``_stats.json``.

A stage's counts are ``{"in": n, "out": n, "dropped": {"<reason>": n}}`` with
``in == out + sum(dropped)`` exactly; :func:`stage_counts` builds them from a group-by over the
stage table's ``drop_reason`` column, so they reconcile by construction, and :func:`check_counts`
verifies a counts block read back from disk.

stats.json::

    {
      "gristmill_version": "...",
      "config_digest": "...",
      "inputs": {"files": n, "failed": [{"path": ..., "error": ...}]},
      "stages": {"ingest": {...counts, extra keys per stage...}, "quality": {...}, ...},
    }
"""

from __future__ import annotations

from typing import Any

STATS_FILE = "stats.json"
STAGE_STATS_FILE = "_stats.json"


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
