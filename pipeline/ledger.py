"""The ledger: what an output directory holds, so that a scheduled re-run does only new work.

``<output>/ledger.json`` records each batch: its crawl ids, how many input files it read, which
of the per-batch stages (ingest, quality, dedup, decontaminate) completed, with their counts, and
the file under ``<output>/ledger/`` that lists its inputs (uri, size, and the ETag of a URL or
the sha256 its ingest task took of a local file), one JSON line each.
A whole crawl is 80,000 files a night: kept in ledger.json, a year of them would be gigabytes read
and rewritten after every stage. Apart, a run reads the input lists of the batches that share a
crawl with its candidates (inputs outside a crawl's layout: of the batches that read from their
folders), and writes only its own batch's. An input list's name carries its content's hash and a
new one is written before the ledger.json naming it, so the ledger and its lists change together
or not at all. The final stages (manifest, card) are recorded with the batches they covered
and are run again whenever a batch is added. A re-run of the same command therefore processes
the inputs it has not seen and the stages that did not finish, and nothing else.

The ledger is written atomically after each stage's output has been committed. A run killed
between the two re-does that stage, which gives the same bytes again: every stage is
deterministic and replaces its own output whole.

Incremental semantics: a batch is deduplicated against what earlier batches kept, so earlier
documents always win. Running batches A then B is a different (and documented) result from one
run over A and B together; the same batch plan always gives the same output.
"""

from __future__ import annotations

import copy
import datetime
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill.pipeline.atomic import write_atomic
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.inputs import is_remote
from gristmill.pipeline.layout import Layout, write_json
from gristmill.pipeline.remote import RetryPolicy, describe_remote
from gristmill.pipeline.stages import BATCH_STAGES, CROSS_BATCH_STAGES, FINAL_STAGES

LEDGER_VERSION = 2
CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
# Files from this size on are hashed once a process while unchanged (:func:`file_sha256`).
CACHED_HASH_BYTES = 64 << 20
# Folders of a batch's inputs outside Common Crawl's layout that ledger.json names at most; a
# batch that read from more is looked up for an input in any folder.
MAX_FOLDERS = 64


class LedgerError(UsageError):
    """The output directory's ledger disagrees with what this run was asked to do."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def crawl_id_of(uri: str) -> str | None:
    """The Common Crawl crawl id (CC-MAIN-YYYY-WW) in a path, if there is one."""
    found = CRAWL_ID.search(uri)
    return found.group(0) if found else None


def crawl_manifest(crawl_id: str, base_url: str) -> str:
    """The warc.paths.gz of a crawl on Common Crawl's server."""
    if not CRAWL_ID.fullmatch(crawl_id):
        raise LedgerError(f"--crawl-id {crawl_id!r} is not a Common Crawl id like CC-MAIN-2024-10")
    return f"{base_url.rstrip('/')}/crawl-data/{crawl_id}/warc.paths.gz"


def _folder(uri: str) -> str:
    """The folder an input lies in, as its uri names it (up to its last "/"): an input is known
    by its uri as given, so its folder is read off the same string."""
    return uri.rsplit("/", 1)[0] if "/" in uri else ""


def file_sha256(path: str) -> str:
    """sha256 of a file, read in 1 MiB blocks (a Common Crawl WARC is about 1 GB). A process
    hashes a large file once while its size and modification time stay as they were: a batch's
    quality stage asks for its models' hashes for the stage's digest, the frozen cut-offs and
    the card, and a perplexity model may be gigabytes. A small file is hashed each time (two
    writes of it may share a modification time, the kernel's clock being coarse)."""
    stat = os.stat(path)
    if stat.st_size < CACHED_HASH_BYTES:
        return _sha256(path)
    return _cached_sha256(os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _cached_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    return _sha256(path)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _list_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:12]


def describe_input(uri: str, policy: RetryPolicy | None = None) -> dict[str, Any]:
    """(uri, size, checksum) of an input, as planned. Nothing is read: a remote input's length
    and ETag come from a HEAD request (retried like a read); a local file's sha256 is taken by
    the ingest task that reads it (:meth:`Ledger.settle_inputs`), on the executors, where the
    driver would read a night's terabytes a second time, alone."""
    if is_remote(uri):
        size, checksum = describe_remote(uri, policy or RetryPolicy())
        return {"uri": uri, "size": size, "checksum": checksum}
    return {"uri": uri, "size": os.path.getsize(uri), "checksum": None}


@dataclass
class Ledger:
    path: Path
    data: dict[str, Any]
    # Input lists set by this run and not saved yet, by batch. A saved list is read again when
    # asked for, never kept: a run that redoes ingest over a year of nights reads 365 lists of
    # 80,000 inputs (about 50 MB of Python objects each).
    _inputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> Ledger:
        path = Layout(out).ledger
        if not path.exists():
            return cls(path, {"version": LEDGER_VERSION, "batches": [], "final": {}})
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise LedgerError(
                f"{path} is not valid JSON ({exc}); it was not written by gristmill"
            ) from exc
        ledger = cls(path, data)
        if data.get("version") == 1:
            ledger._move_inputs_out()
        elif data.get("version") != LEDGER_VERSION:
            raise LedgerError(
                f"{path} has version {data.get('version')}, expected {LEDGER_VERSION}"
            )
        return ledger

    def _move_inputs_out(self) -> None:
        """A version-1 ledger held every batch's inputs itself; they go to their own lists at the
        next save (until then this ledger reads them from memory)."""
        for batch in self.batches:
            self._set_inputs(batch, batch.pop("inputs"))
        self.data["version"] = LEDGER_VERSION

    @classmethod
    def of_imported_batch(cls, out: Path, stages: Iterable[str]) -> Ledger:
        """A ledger of one input-less batch whose ``stages`` were written by something other than
        a run: a table imported from another tool, or built by a test or a benchmark."""
        ledger = cls.load(out)
        batch = ledger.add_batch([])
        for stage in stages:
            ledger.batch(batch)["stages"][stage] = {"completed": now(), "digest": "imported"}
        ledger.save()
        return ledger

    def save(self) -> None:
        """Write the changed input lists, then ledger.json (the commit), then remove the lists
        it no longer names."""
        folder = Layout(self.path.parent).input_lists
        for batch_id in sorted(self._inputs):
            body = "".join(
                json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
                for entry in self._inputs[batch_id]
            ).encode()
            name = f"inputs-{batch_id:05d}-{_list_hash(body)}.jsonl"
            target = folder / name
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                write_atomic(target, body)  # on disk before a ledger.json names it
            self.batch(batch_id)["input_list"] = name
        self._inputs.clear()
        write_json(self.path, self.data)
        if folder.is_dir():
            named = {b["input_list"] for b in self.batches if "input_list" in b}
            for path in folder.iterdir():
                if path.name.lstrip(".").startswith("inputs-") and path.name not in named:
                    path.unlink()  # replaced, or left by a killed run; nothing else of ours

    # -- batches -------------------------------------------------------------------------------

    @property
    def batches(self) -> list[dict[str, Any]]:
        return self.data["batches"]

    def batch(self, batch_id: int) -> dict[str, Any]:
        for b in self.batches:
            if b["batch"] == batch_id:
                return b
        raise LedgerError(f"batch {batch_id} is not in {self.path}")

    def inputs(self, batch_id: int) -> list[dict[str, Any]]:
        """A batch's inputs (uri, size, checksum, attempts when retried), in the order read."""
        if batch_id in self._inputs:
            return self._inputs[batch_id]
        record = self.batch(batch_id)
        path = Layout(self.path.parent).input_lists / record["input_list"]
        try:
            body = path.read_bytes()
        except FileNotFoundError as exc:
            raise LedgerError(
                f"{path}, the inputs of batch {batch_id} in {self.path}, is missing"
            ) from exc
        if not path.name.endswith(f"-{_list_hash(body)}.jsonl"):
            raise LedgerError(
                f"{path}, the inputs of batch {batch_id}, is damaged: its content does not "
                "match the hash in its name"
            )
        # Split on newlines alone: JSON escapes them, not U+2028 or U+0085 in a name.
        return [json.loads(line) for line in body.decode("utf-8").split("\n")[:-1]]

    def _set_inputs(self, batch: dict[str, Any], inputs: list[dict[str, Any]]) -> None:
        self._inputs[batch["batch"]] = inputs
        batch["files"] = len(inputs)
        batch["crawl_ids"] = sorted({c for i in inputs if (c := crawl_id_of(i["uri"]))})
        outside = {_folder(i["uri"]) for i in inputs if crawl_id_of(i["uri"]) is None}
        batch["outside_crawls"] = sum(crawl_id_of(i["uri"]) is None for i in inputs)
        batch["outside_folders"] = sorted(outside) if len(outside) <= MAX_FOLDERS else None

    def _known(self, uris: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """(batch, description) of those of ``uris`` an earlier batch read, from the input lists
        of the batches that could hold them: those of the same crawls, and, for a uri outside
        Common Crawl's layout, those that read inputs in its folder (or in folders too many
        to name, or before folders were noted). A nightly crawl of one's own, written to a
        folder a night, so reads one list a night, not every night's."""
        crawls = {crawl_id_of(uri) for uri in uris}
        folders = {_folder(uri) for uri in uris if crawl_id_of(uri) is None}
        known = {}
        for batch in self.batches:
            named = batch.get("outside_folders")
            outside = batch["outside_crawls"] and (named is None or folders & set(named))
            if crawls & set(batch["crawl_ids"]) or (folders and outside):
                for entry in self.inputs(batch["batch"]):
                    known[entry["uri"]] = (batch["batch"], entry)
        return known

    def new_inputs(self, uris: Iterable[str]) -> list[str]:
        """The URIs not in any batch nor on the retry list yet, in order. A known local file whose
        size changed is an error: its documents are already in the output, and silently
        re-reading or skipping it would both be wrong."""
        uris = list(uris)
        known = self._known(uris)
        fresh = []
        for uri in uris:
            if uri not in known:
                if uri not in self.retries:
                    fresh.append(uri)
                continue
            batch_id, seen = known[uri]
            if not is_remote(uri) and seen["size"] is not None:
                size = os.path.getsize(uri) if os.path.exists(uri) else None
                if size is not None and size != seen["size"]:
                    raise LedgerError(
                        f"input {uri} changed since batch {batch_id} read it "
                        f"({seen['size']} -> {size} bytes); rename it or use a new --output"
                    )
        return fresh

    # -- inputs the network failed ------------------------------------------------------------

    @property
    def retries(self) -> dict[str, dict[str, Any]]:
        """Inputs set aside after a network failure, by uri: their description, ``attempts``
        (runs that tried them), ``last_error``, ``last_batch`` and ``given_up``."""
        return self.data.setdefault("retry", {})

    def pending_retries(self) -> list[str]:
        """Inputs to plan again, in order: set aside, not yet given up, nor in a batch planned
        already (a run killed before that batch's ingest must not plan them twice)."""
        return sorted(
            uri for uri, r in self.retries.items() if not r["given_up"] and "planned" not in r
        )

    def _retry_list(self, given_up: bool) -> list[dict[str, Any]]:
        return [
            {"path": uri, "attempts": r["attempts"], "error": r["last_error"]}
            for uri, r in sorted(self.retries.items())
            if r["given_up"] == given_up
        ]

    def retrying(self) -> list[dict[str, Any]]:
        """Set aside, to be planned again (for the card)."""
        return self._retry_list(given_up=False)

    def given_up(self) -> list[dict[str, Any]]:
        """Failed on the network in ``max_attempts`` runs: not read, reported by name."""
        return self._retry_list(given_up=True)

    def settle_inputs(
        self,
        batch_id: int,
        deferred: list[dict[str, Any]],
        max_attempts: int,
        checksums: dict[str, str] | None = None,
    ) -> None:
        """After a batch's ingest: an input that failed on the network leaves the batch (none of
        its rows were kept) for the retry list, with one attempt more, and is given up after
        ``max_attempts``; one that was on the list and has now been read leaves it, keeping its
        attempt count in the batch's inputs. ``checksums``: the sha256 the ingest tasks took of
        the local files they read, by uri."""
        checksums = checksums or {}
        errors = {f["path"]: f["error"] for f in deferred}
        kept = []
        for entry in self.inputs(batch_id):
            uri = entry["uri"]
            prior = self.retries.pop(uri, None)
            attempts = (prior["attempts"] if prior else entry.get("attempts", 0)) + 1
            if uri in errors:
                self.retries[uri] = {
                    **{k: v for k, v in entry.items() if k != "attempts"},
                    "attempts": attempts,
                    "last_error": errors[uri],
                    "last_batch": batch_id,
                    "given_up": attempts >= max_attempts,
                }
                continue
            if prior:
                entry = {**entry, "attempts": attempts}
            if uri in checksums:
                entry = {**entry, "checksum": checksums[uri]}
            kept.append(entry)
        self._set_inputs(self.batch(batch_id), kept)

    def add_batch(self, inputs: list[dict[str, Any]]) -> int:
        """Record a new batch of described inputs; returns its id (1, 2, ...)."""
        batch_id = max((b["batch"] for b in self.batches), default=0) + 1
        batch: dict[str, Any] = {"batch": batch_id, "created": now(), "stages": {}}
        self.batches.append(batch)
        self._set_inputs(batch, inputs)
        for entry in inputs:
            if retry := self.retries.get(entry["uri"]):
                retry["planned"] = batch_id  # until its ingest settles it, not to plan again
        return batch_id

    def copy_to(self, out: Path, stages: Iterable[str]) -> Ledger:
        """This ledger for another output: the same batches, inputs and retries, with only
        ``stages`` done and no final stage (an ablation starts from a baseline's first stages)."""
        data = copy.deepcopy(self.data)
        kept = set(stages)
        for batch in data["batches"]:
            batch["stages"] = {s: r for s, r in batch["stages"].items() if s in kept}
            batch.pop("redo", None)
        data["final"] = {}
        twin = Ledger(Layout(out).ledger, data)
        for batch in twin.batches:
            twin._set_inputs(batch, self.inputs(batch["batch"]))
        return twin

    def follow(self, plan: Ledger) -> None:
        """Add every batch of ``plan`` this ledger lacks, with the same inputs and no stage done
        (an ablation's configurations read the inputs its baseline planned)."""
        have = {b["batch"] for b in self.batches}
        for batch in plan.batches:
            if batch["batch"] not in have:
                fresh = {k: copy.deepcopy(batch[k]) for k in ("batch", "created")}
                self.batches.append({**fresh, "stages": {}})
                self._set_inputs(self.batches[-1], plan.inputs(batch["batch"]))

    def shares(self, other: Ledger, stages: Iterable[str]) -> list[int]:
        """The batches of this ledger with no stage done whose ``stages`` ``other`` has done,
        where every other batch holds the same records of ``stages`` as ``other``'s (each was
        taken from it): their outputs can be taken from ``other``'s output as well."""
        theirs = {b["batch"]: b["stages"] for b in other.batches}
        stages = list(stages)
        fresh = []
        for batch in self.batches:
            records = theirs.get(batch["batch"], {})
            if not batch["stages"]:
                fresh += [batch["batch"]] if all(s in records for s in stages) else []
            elif any(batch["stages"].get(s) != records.get(s) for s in stages):
                return []
        return fresh

    def take(self, other: Ledger, batch_id: int, stages: Iterable[str]) -> None:
        """Record ``other``'s ``stages`` of a batch as done here."""
        records = other.batch(batch_id)["stages"]
        self.batch(batch_id)["stages"].update({s: copy.deepcopy(records[s]) for s in stages})

    def done(self, batch_id: int, stage: str) -> bool:
        return stage in self.batch(batch_id)["stages"]

    def current(self, batch_id: int, stage: str, digest: str) -> bool:
        """Done, and with the configuration this run would use for it."""
        record = self.batch(batch_id)["stages"].get(stage)
        return record is not None and record.get("digest") == digest

    def unfinished(self) -> list[int]:
        return [b["batch"] for b in self.batches if set(BATCH_STAGES) - set(b["stages"])]

    def complete(self) -> list[int]:
        return [b["batch"] for b in self.batches if not set(BATCH_STAGES) - set(b["stages"])]

    def completed_before(self, batch_id: int, stage: str) -> list[int]:
        """Earlier batches whose ``stage`` is done; raises if one of them is not."""
        earlier = [b["batch"] for b in self.batches if b["batch"] < batch_id]
        missing = [b for b in earlier if not self.done(b, stage)]
        if missing:
            raise LedgerError(
                f"batch {batch_id}: stage '{stage}' of earlier batch(es) {missing} is not done; "
                "run them first (gristmill run does it in order)"
            )
        return earlier

    def latest(self) -> int:
        if not self.batches:
            raise LedgerError(f"{self.path.parent} has no batch yet; run ingest first")
        return self.batches[-1]["batch"]

    def why(self, batch_id: int, stage: str, digest: str) -> str:
        """Why a stage of a batch is to be run: first time, a new configuration (its digest), or
        an earlier stage redone (recorded when that one invalidated it)."""
        record = self.batch(batch_id)["stages"].get(stage)
        if record is not None and record.get("digest") == digest:
            return "run again on request"
        if record is not None:
            return f"configuration changed (digest {record.get('digest')} -> {digest})"
        return self.batch(batch_id).get("redo", {}).get(stage, "first run")

    def mark(self, batch_id: int, stage: str, stats: dict[str, Any], digest: str, why: str) -> None:
        """Record a committed stage and forget what depended on its previous output, noting in
        each batch why those stages will run again."""
        later = BATCH_STAGES[BATCH_STAGES.index(stage) + 1 :]
        batch = self.batch(batch_id)
        stages = batch["stages"]
        for name in later:
            if stages.pop(name, None) is not None:
                batch.setdefault("redo", {})[name] = f"{stage} of batch {batch_id} was redone"
        if stage in CROSS_BATCH_STAGES:
            stale = BATCH_STAGES[BATCH_STAGES.index(stage) :]
            for b in self.batches:
                if b["batch"] > batch_id:
                    for name in stale:
                        if b["stages"].pop(name, None) is not None:
                            b.setdefault("redo", {})[name] = (
                                f"{stage} of earlier batch {batch_id} was redone"
                            )
        batch.get("redo", {}).pop(stage, None)
        stages[stage] = {
            "completed": now(),
            "why": why,
            "digest": digest,
            "in": stats["in"],
            "out": stats["out"],
            "dropped": stats["dropped"],
        }
        self.data["final"] = {}

    # -- final stages --------------------------------------------------------------------------

    def final_current(self, stage: str, digest: str) -> bool:
        """Whether a final stage's last run covered exactly the batches complete now, with the
        configuration this run would use."""
        record = self.data["final"].get(stage)
        return (
            record is not None
            and record["batches"] == self.complete()
            and record.get("digest") == digest
        )

    def mark_final(self, stage: str, stats: dict[str, Any], digest: str) -> None:
        record: dict[str, Any] = {"completed": now(), "batches": self.complete(), "digest": digest}
        if "in" in stats:
            record.update({"in": stats["in"], "out": stats["out"]})
        self.data["final"][stage] = record
        later = FINAL_STAGES[FINAL_STAGES.index(stage) + 1 :]
        for name in later:
            self.data["final"].pop(name, None)

    def sources(self) -> list[dict[str, Any]]:
        """Per batch, for the dataset card: id, creation time, crawl ids, number of files."""
        return [
            {
                "batch": b["batch"],
                "created": b["created"],
                "crawl_ids": b["crawl_ids"],
                "files": b["files"],
            }
            for b in self.batches
        ]
