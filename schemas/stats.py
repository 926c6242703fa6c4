"""Layout of ``stats.json`` and of each stage's ``_stats.json``, as sections that add up.

A stage's counts are ``{"in": n, "out": n, "dropped": {"<reason>": n}}`` with
``in == out + sum(dropped)`` exactly; :meth:`Counts.from_reasons` builds them from a group-by over
the stage table's ``drop_reason`` column, so they reconcile by construction, and
:meth:`Counts.check` verifies a counts block read back from disk.

Each batch writes its own stats; a stage's stats over several batches are their sum, as in
datatrove's ``Stats.__add__``. Every section beside the counts is a dataclass whose fields say how
two batches' values combine (summed, the larger, the union, or the later batch's), so a new
field is merged by declaring it, not by another special case.

stats.json::

    {
      "gristmill_version": "...",
      "config_digest": "...",
      "inputs": {"files": n, "failed": [...], "batches": [{"batch": 1, "crawl_id": ...}]},
      "stages": {"ingest": {...counts, extra keys per stage...}, "quality": {...}, ...},
    }
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self

# How a section's field combines over batches: its dataclass field's metadata. A None value
# (the key absent from that batch's JSON) gives way to the other batch's value.
SUM, MAX, UNION, LAST = ({"merge": how} for how in ("sum", "max", "union", "last"))


def _key_order(key: str) -> tuple[int, str]:
    """Names in alphabetical order, cluster sizes ("2", "3-4", "5-8") in numeric order."""
    return (int(key.split("-")[0]) if key[:1].isdigit() else 0, key)


def _add(a: Any, b: Any) -> Any:
    """Numbers add, lists concatenate, mappings add key by key."""
    if isinstance(a, Mapping):
        keys = sorted(set(a) | set(b), key=_key_order)
        return {k: _add(a.get(k, 0), b.get(k, 0)) for k in keys}
    return a + b


MERGES: dict[str, Callable[[Any, Any], Any]] = {
    "sum": _add,
    "max": max,
    "union": lambda a, b: sorted(set(a) | set(b)),
    "last": lambda _a, b: b,
}


@dataclass(frozen=True)
class Section:
    """A stats section: read from and written as its JSON object, and added batch to batch."""

    def __add__(self, other: Self) -> Self:
        values = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = (
                a if b is None else b if a is None else MERGES[f.metadata["merge"]](a, b)
            )
        return type(self)(**values)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def to_json(self) -> dict[str, Any]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def total(sections: list[Any]) -> Any:
    return functools.reduce(operator.add, sections)


@dataclass(frozen=True)
class Counts:
    """Documents a stage received (``in``), kept (``out``) and dropped, by reason."""

    received: int
    kept: int
    dropped: dict[str, int]

    @classmethod
    def from_reasons(cls, by_reason: Mapping[str | None, int]) -> Counts:
        """From {drop_reason or None: rows}."""
        dropped = {
            r: n for r, n in sorted(by_reason.items(), key=lambda kv: str(kv[0])) if r is not None
        }
        kept = by_reason.get(None, 0)
        return cls(kept + sum(dropped.values()), kept, dropped)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counts:
        return cls(data["in"], data["out"], dict(data["dropped"]))

    def to_json(self) -> dict[str, Any]:
        return {"in": self.received, "out": self.kept, "dropped": self.dropped}

    def check(self, stage: str) -> None:
        """Raise ValueError unless in = out + sum(dropped)."""
        accounted = self.kept + sum(self.dropped.values())
        if self.received != accounted:
            raise ValueError(
                f"stage {stage}: counts do not reconcile: in={self.received} "
                f"but out + dropped = {accounted}"
            )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.received + other.received,
            self.kept + other.kept,
            _add(self.dropped, other.dropped),
        )


@dataclass(frozen=True)
class Inputs(Section):
    """Ingest's input files. What a batch set aside (``deferred_inputs``) is planned again, so
    over batches the ledger's retry list is the truth (stats.json "inputs": "retrying")."""

    input_files: int | None = field(default=None, metadata=SUM)
    failed_inputs: list[dict[str, Any]] | None = field(default=None, metadata=SUM)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if "failed_inputs" in data:
            data["failed_inputs"] = sorted(data["failed_inputs"], key=lambda f: f["path"])
        return data


@dataclass(frozen=True)
class TextChanged(Section):
    """What cleaning changed in kept documents, which no drop count shows."""

    c4_cleaned_documents: int = field(default=0, metadata=SUM)
    pii_masked_documents: int = field(default=0, metadata=SUM)
    emails_masked: int = field(default=0, metadata=SUM)
    ip_addresses_masked: int = field(default=0, metadata=SUM)


@dataclass(frozen=True)
class Tokenized(Section):
    tokens: int | None = field(default=None, metadata=SUM)
    shards: int | None = field(default=None, metadata=SUM)


DUPLICATES = ("exact_duplicates", "fuzzy_duplicates")


@dataclass(frozen=True)
class Dedup(Section):
    """Dedup's section: counts add, the largest cluster and the most connected-components rounds
    are any batch's largest, and its parameters (every other key) are the later batch's (a
    ledger refuses a config change between batches)."""

    exact_duplicates: int | None = field(default=None, metadata=SUM)
    fuzzy_duplicates: int | None = field(default=None, metadata=SUM)
    clusters: int | None = field(default=None, metadata=SUM)
    docs_in_clusters: int | None = field(default=None, metadata=SUM)
    candidate_pairs: int | None = field(default=None, metadata=SUM)
    linked_pairs: int | None = field(default=None, metadata=SUM)
    largest_cluster: int | None = field(default=None, metadata=MAX)
    cc_rounds: int | None = field(default=None, metadata=MAX)
    cluster_sizes: dict[str, int] | None = field(default=None, metadata=SUM)
    against_earlier: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(DUPLICATES, 0), metadata=SUM
    )
    params: dict[str, Any] = field(default_factory=dict, metadata=LAST)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dedup:
        named = {f.name for f in fields(cls)} - {"params"}
        params = {k: v for k, v in data.items() if k not in named}
        known = {k: v for k, v in data.items() if k in named}
        # Both counts always, as the stats have always had them (exact-only dedup writes one).
        known["against_earlier"] = dict.fromkeys(DUPLICATES, 0) | data.get("against_earlier", {})
        return cls(**known, params=params)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        return {**data.pop("params"), **data}


@dataclass(frozen=True)
class BenchmarkTally(Section):
    """One benchmark in one or more batches. An example found in several batches is one dirty
    example: the ids are united, and the JSON of a sum gives their number."""

    examples: int = field(default=0, metadata=LAST)
    label_ngram: int | None = field(default=None, metadata=LAST)
    docs_touched: int = field(default=0, metadata=SUM)
    docs_dropped: int = field(default=0, metadata=SUM)
    chars_removed: int = field(default=0, metadata=SUM)
    dirty_ids: list[str] = field(default_factory=list, metadata=UNION)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["dirty_examples"] = len(data.pop("dirty_ids"))
        data.setdefault("label_ngram", None)
        return data


def _benchmarks(section: Mapping[str, Any]) -> dict[str, BenchmarkTally]:
    return {name: BenchmarkTally.from_json(b) for name, b in section.items()}


def _add_benchmarks(a: dict[str, BenchmarkTally], b: dict[str, BenchmarkTally]) -> Any:
    return {
        name: a[name] + b[name] if name in a and name in b else a.get(name) or b[name]
        for name in sorted(set(a) | set(b))
    }


# The sections a stage's stats may hold: key -> (read, add, write).
SECTIONS: dict[
    str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any], Callable[[Any], Any]]
] = {
    "text_changed": (TextChanged.from_json, operator.add, TextChanged.to_json),
    "dedup": (Dedup.from_json, operator.add, Dedup.to_json),
    "benchmarks": (
        _benchmarks,
        _add_benchmarks,
        lambda m: {name: b.to_json() for name, b in m.items()},
    ),
}
FLAT_SECTIONS = (Inputs, Tokenized)  # their fields lie at the top level of a stage's stats


def stage_counts(by_reason: Mapping[str | None, int]) -> dict[str, Any]:
    """Counts block from {drop_reason or None: rows}."""
    return Counts.from_reasons(by_reason).to_json()


def check_counts(stage: str, counts: Mapping[str, Any]) -> None:
    """Raise ValueError unless in = out + sum(dropped)."""
    Counts.from_json(counts).check(stage)


def merge_stage_stats(stage: str, per_batch: list[dict[str, Any]]) -> dict[str, Any]:
    """One stage's stats over several batches, in the shape of a single batch's stats: the sum
    of every section; any other key is the last batch's value (models, cut-offs)."""
    counts = [Counts.from_json(s) for s in per_batch]
    for c in counts:
        c.check(stage)
    result: dict[str, Any] = {k: v for k, v in per_batch[-1].items() if k != "batch"}
    result.pop("deferred_inputs", None)
    result.update(total(counts).to_json())
    result["batches"] = [s.get("batch") for s in per_batch]
    for flat in FLAT_SECTIONS:
        result.update(total([flat.from_json(s) for s in per_batch]).to_json())
    for key, (read, add, write) in SECTIONS.items():
        present = [read(s[key]) for s in per_batch if key in s]
        if present:
            result[key] = write(functools.reduce(add, present))
    if "perplexity_cutoffs" in result:
        result["perplexity_cutoffs_by_batch"] = {
            str(s.get("batch")): s.get("perplexity_cutoffs", {}) for s in per_batch
        }
    return result
