"""``shards/manifest.json``: the contract between the tokenize stage and whoever trains.

The tokenize stage builds it (:meth:`Manifest.build`) from the shard entries its batches wrote;
the trainer, the card and its figures read it back (:meth:`Manifest.read`), so both sides share
one definition and a manifest with a missing or mistyped field is refused with its path rather
than failing later inside a training loop. The JSON keeps the field names below.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from gristmill.pipeline.config import Config
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.layout import write_json
from gristmill.pipeline.shards import HEADER_INTS, INDEX_SUFFIX, LLMC_FORMATS
from gristmill.pipeline.tokenizer import eot_token, load_encoding, token_dtype

SPLITS = ("train", "val")


class ManifestError(UsageError):
    """A manifest that is not one gristmill wrote, or is damaged; the message says where."""


def _from(cls: Any, data: Any, where: str) -> Any:
    """``cls(**data)`` for a JSON object that has the fields it needs: those without a default
    (what a reader relies on; the others came in later versions of the writer). Extra keys are
    tolerated: a newer writer may add some."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected an object, got {type(data).__name__}")
    required = [f.name for f in fields(cls) if f.default is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ManifestError(f"{where}: missing key(s) {', '.join(missing)}")
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


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


def bucket_mix(cfg: Config, files: Iterable[ShardEntry]) -> dict[str, BucketMix]:
    """A bucket's weight is its train tokens times its configured factor, normalized over
    buckets (GPT-3 table 2.2's mix); epochs are the passes over its train tokens that a run of
    ``target_tokens`` (default: all train tokens) makes at those weights."""
    tokens = {b.name: dict.fromkeys(SPLITS, 0) for b in cfg.tokenize.buckets}
    docs = {b.name: dict.fromkeys(SPLITS, 0) for b in cfg.tokenize.buckets}
    for f in files:
        tokens[f.bucket][f.split] += f.tokens
        docs[f.bucket][f.split] += f.docs
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
    shards: tuple[ShardEntry, ...]  # sorted by path
    buckets: dict[str, BucketMix]
    config_digest: str = ""
    target_tokens: int | None = None

    @classmethod
    def build(cls, cfg: Config, files: Iterable[ShardEntry]) -> Manifest:
        files = sorted(files, key=lambda f: f.path)
        enc = load_encoding(cfg.tokenize.encoding)
        dtype = token_dtype(enc.n_vocab)
        return cls(
            format=ShardFormat.for_itemsize(dtype.itemsize),
            tokenizer=cfg.tokenize.encoding,
            vocab_size=enc.n_vocab,
            eot=eot_token(enc),
            dtype=dtype.name,
            config_digest=cfg.digest(),
            shards=tuple(files),
            buckets=bucket_mix(cfg, files),
            target_tokens=cfg.tokenize.target_tokens,
        )

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.shards)

    def to_json(self) -> dict[str, Any]:
        """As JSON data; the shard entries (flat, a year of nights holds hundreds of thousands)
        copied field by field rather than by ``asdict``'s deep copy, a tenth of its time."""
        data = asdict(replace(self, shards=()))
        data["shards"] = [dict(vars(s)) for s in self.shards]
        return data

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        m = _from(cls, data, where)
        if not isinstance(m.shards, list) or not isinstance(m.buckets, dict):
            raise ManifestError(f"{where}: 'shards' must be a list and 'buckets' an object")
        return cls(
            **{
                **{f.name: getattr(m, f.name) for f in fields(cls)},
                "format": _from(ShardFormat, m.format, f"{where} format"),
                "shards": tuple(_from(ShardEntry, s, f"{where} shard entry") for s in m.shards),
                "buckets": {
                    name: _from(BucketMix, b, f"{where} bucket {name!r}")
                    for name, b in m.buckets.items()
                },
            }
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read the manifest ({exc})") from exc
        return cls.from_json(data, str(path))
