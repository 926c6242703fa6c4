"""``shards/manifest.json``: the contract between the tokenize stage and whoever trains.

The tokenize stage builds it (:meth:`Manifest.build`) from the entries its batches wrote;
the trainer, the card and its figures read it back (:meth:`Manifest.read`), so both sides share
one definition and a manifest with a missing or mistyped field is refused with its path rather
than failing later inside a training loop. The JSON keeps the field names below.

The manifest lists batches, not shards: each batch's shard entries stay in its own
``files.json`` (:class:`ShardEntry`), which the manifest names with the batch's totals per bucket
and split (:class:`BatchEntry`, also in the batch's ``summary.json``). A night's manifest stage
then reads one small summary per batch, never a shard entry of an earlier night, and the
manifest grows by a few hundred bytes a night where a list of every shard grew by its shards
(a year of nights at 1,500 shards each: 142 MB rewritten and 1.6 GB on the driver every night).
Whoever needs the shards reads the batches' lists (:meth:`Manifest.batch_shards`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.layout import SHARD_LIST_FILE, SHARD_SUMMARY_FILE, write_json
from gristmill.pipeline.log import logger
from gristmill.pipeline.remote import FILE_RETRIES, retried_read
from gristmill.pipeline.shards import HEADER_INTS, INDEX_SUFFIX, LLMC_FORMATS
from gristmill.pipeline.tokenizer import eot_token, load_encoding, token_dtype

SPLITS = ("train", "val")
LOG = logger(__name__)


class ManifestError(UsageError):
    """A manifest that is not one gristmill wrote, or is damaged; the message says where."""


def _from(cls: Any, data: Any, where: str) -> Any:
    """``cls(**data)`` for a JSON object that has the fields it needs: those without a default
    (what a reader relies on; the others came in later versions of the writer). Extra keys are
    tolerated: a newer writer may add some."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected an object, got {type(data).__name__}")
    names, required = _fields(cls)
    missing = [name for name in required if name not in data]
    if missing:
        raise ManifestError(f"{where}: missing key(s) {', '.join(missing)}")
    return cls(**{name: data[name] for name in names if name in data})


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A dataclass's field names, and those without a default: asked once a class, not once
    for each of a year's shard entries."""
    every = fields(cls)
    return tuple(f.name for f in every), tuple(f.name for f in every if f.default is MISSING)


@dataclass(frozen=True)
class ShardFormat:
    """llm.c's token file: a header of ``header_int32`` int32 (magic, version, token count)."""

    name: str
    magic: int
    version: int
    header_int32: int
    index_suffix: str

    @classmethod
    def for_itemsize(cls, itemsize: int) -> ShardFormat:
        magic, version = LLMC_FORMATS[itemsize]
        return cls("llm.c", magic, version, HEADER_INTS, INDEX_SUFFIX)

    def is_known(self) -> bool:
        known = {(magic, version, HEADER_INTS) for magic, version in LLMC_FORMATS.values()}
        return (self.magic, self.version, self.header_int32) in known


@dataclass(frozen=True)
class ShardEntry:
    """One shard file, its path relative to the manifest's folder."""

    path: str
    split: str
    bucket: str
    tokens: int
    docs: int
    shard: int = -1
    sha256: str = ""


@dataclass(frozen=True)
class BucketMix:
    """A bucket's tokens and documents per split, its configured factor, its share of training
    samples (``weight``) and the passes over its train tokens at the budget (``epochs``)."""

    weight: float
    tokens: dict[str, int]
    docs: dict[str, int]
    factor: float = 1.0
    epochs: float = 0.0


def _per_bucket_split(entries: Iterable[ShardEntry], field: str) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for e in entries:
        split = totals.setdefault(e.bucket, dict.fromkeys(SPLITS, 0))
        split[e.split] = split.get(e.split, 0) + getattr(e, field)
    return {bucket: totals[bucket] for bucket in sorted(totals)}


@dataclass(frozen=True)
class BatchEntry:
    """One batch's shards: the file listing them (``files``, a JSON list of shard entries,
    relative to the manifest's folder, and its sha256: the manifest changes when a shard's bytes
    do) and their totals per bucket and split."""

    batch: int
    files: str
    sha256: str
    shards: int
    tokens: dict[str, dict[str, int]]  # bucket -> split -> tokens
    docs: dict[str, dict[str, int]]  # bucket -> split -> documents

    @classmethod
    def of(cls, batch: int, files: str, listed: bytes) -> tuple[BatchEntry, list[ShardEntry]]:
        """The entry of a batch whose ``files.json`` holds ``listed``, and its shard entries."""
        entries = _shard_entries(listed, files)
        entry = cls(
            batch=batch,
            files=files,
            sha256=hashlib.sha256(listed).hexdigest(),
            shards=len(entries),
            tokens=_per_bucket_split(entries, "tokens"),
            docs=_per_bucket_split(entries, "docs"),
        )
        return entry, entries

    @classmethod
    def write(cls, folder: Path, batch: int, prefix: str, entries: list[ShardEntry]) -> BatchEntry:
        """The batch's ``files.json`` and ``summary.json`` into ``folder``, which the manifest
        reaches as ``prefix`` (``batch=N/``, or ``""`` for shards beside it)."""
        listed = folder / SHARD_LIST_FILE
        write_json(listed, [dict(vars(e)) for e in sorted(entries, key=lambda e: e.path)])
        entry, _ = cls.of(batch, prefix + SHARD_LIST_FILE, listed.read_bytes())
        write_json(folder / SHARD_SUMMARY_FILE, asdict(entry))
        return entry

    @classmethod
    def read(cls, folder: Path, batch: int, prefix: str) -> BatchEntry:
        """A batch's entry from its ``summary.json``; for shards written before there was one,
        from its ``files.json``."""
        summary = folder / SHARD_SUMMARY_FILE
        if summary.is_file():
            return _from(cls, _read_json(summary), str(summary))
        return cls.of(batch, prefix + SHARD_LIST_FILE, _read_bytes(folder / SHARD_LIST_FILE))[0]


def _read_bytes(path: Path) -> bytes:
    """A manifest's or a batch list's bytes, read again where the file system fails for a while
    (a trainer's start reads one list a night, from a network file system as often as not)."""
    try:
        return retried_read(Path(path).read_bytes, str(path), FILE_RETRIES, LOG)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc})") from exc


def _parsed(data: bytes, where: Path | str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where}: not JSON ({exc})") from exc


def _read_json(path: Path) -> Any:
    return _parsed(_read_bytes(path), path)


def _shard_entries(listed: bytes, where: Path | str) -> list[ShardEntry]:
    data = _parsed(listed, where)
    if not isinstance(data, list):
        raise ManifestError(f"{where}: expected a list of shard entries")
    return [_from(ShardEntry, e, f"{where} shard entry") for e in data]


def bucket_mix(cfg: Config, batches: Iterable[BatchEntry]) -> dict[str, BucketMix]:
    """A bucket's weight is its train tokens times its configured factor, normalized over
    buckets (GPT-3 table 2.2's mix); epochs are the passes over its train tokens that a run of
    ``target_tokens`` (default: all train tokens) makes at those weights."""
    tokens = {b.name: dict.fromkeys(SPLITS, 0) for b in cfg.tokenize.buckets}
    docs = {b.name: dict.fromkeys(SPLITS, 0) for b in cfg.tokenize.buckets}
    for b in batches:
        for totals, of_batch in ((tokens, b.tokens), (docs, b.docs)):
            for bucket, splits in of_batch.items():
                if bucket not in totals:
                    raise ManifestError(
                        f"batch {b.batch}'s shards hold bucket {bucket!r}, which tokenize.buckets "
                        "no longer names: `gristmill run` tokenizes every batch with this config"
                    )
                for split, n in splits.items():
                    totals[bucket][split] += n
    factor = {b.name: b.weight for b in cfg.tokenize.buckets}
    mass = {name: factor[name] * t["train"] for name, t in tokens.items()}
    total = sum(mass.values())
    budget = cfg.tokenize.target_tokens or sum(t["train"] for t in tokens.values())
    mix = {}
    for name, t in tokens.items():
        weight = mass[name] / total if total else 0.0
        epochs = budget * weight / t["train"] if t["train"] else 0.0
        mix[name] = BucketMix(weight, t, docs[name], factor[name], epochs)
    return mix


@dataclass(frozen=True)
class Manifest:
    format: ShardFormat
    tokenizer: str
    vocab_size: int  # the tokenizer's ids 0 .. vocab_size - 1
    eot: int
    dtype: str  # numpy dtype of a token: uint16 below 65,536 ids, else uint32
    batches: tuple[BatchEntry, ...]  # by batch
    buckets: dict[str, BucketMix]
    config_digest: str = ""
    target_tokens: int | None = None

    @classmethod
    def build(cls, cfg: Config, batches: Iterable[BatchEntry]) -> Manifest:
        batches = sorted(batches, key=lambda b: b.batch)
        enc = load_encoding(cfg.tokenize.encoding)
        dtype = token_dtype(enc.n_vocab)
        return cls(
            format=ShardFormat.for_itemsize(dtype.itemsize),
            tokenizer=cfg.tokenize.encoding,
            vocab_size=enc.n_vocab,
            eot=eot_token(enc),
            dtype=dtype.name,
            config_digest=cfg.digest(),
            batches=tuple(batches),
            buckets=bucket_mix(cfg, batches),
            target_tokens=cfg.tokenize.target_tokens,
        )

    @property
    def tokens(self) -> int:
        return sum(n for b in self.batches for splits in b.tokens.values() for n in splits.values())

    @property
    def shard_count(self) -> int:
        return sum(b.shards for b in self.batches)

    def batch_shards(self, root: Path) -> Iterator[tuple[BatchEntry, list[ShardEntry]]]:
        """Each batch with its shards, read from the batch's list under ``root`` (the
        manifest's folder), each list held to its sha256 and totals in the manifest: a list
        rewritten by another run since is refused."""
        for b in self.batches:
            path = root / b.files
            entry, listed = BatchEntry.of(b.batch, b.files, _read_bytes(path))
            if entry != b:
                raise ManifestError(
                    f"{path}: not the list of batch {b.batch} that the manifest holds (its "
                    "sha256 or its totals differ: the list and the manifest are from "
                    "different runs)"
                )
            yield b, listed

    def write(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        if isinstance(data, dict) and "shards" in data and "batches" not in data:
            raise ManifestError(
                f"{where}: an earlier gristmill's manifest, one entry per shard; `gristmill run` "
                "on its output writes it anew (finished batches are not redone)"
            )
        m = _from(cls, data, where)
        if not isinstance(m.batches, list) or not isinstance(m.buckets, dict):
            raise ManifestError(f"{where}: 'batches' must be a list and 'buckets' an object")
        return cls(
            **{
                **{f.name: getattr(m, f.name) for f in fields(cls)},
                "format": _from(ShardFormat, m.format, f"{where} format"),
                "batches": tuple(_from(BatchEntry, b, f"{where} batch entry") for b in m.batches),
                "buckets": {
                    name: _from(BucketMix, b, f"{where} bucket {name!r}")
                    for name, b in m.buckets.items()
                },
            }
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.from_json(_read_json(path), str(path))
