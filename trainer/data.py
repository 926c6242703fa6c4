"""Training data from a gristmill ``shards/`` directory: the manifest, the shards, the sampler.

Shards are read through :mod:`gristmill.pipeline.shards` (the one definition of the format, which
checks magic, version and token count against the file size), and each is checked against its
manifest entry, so a stale or swapped file is refused before training starts rather than silently
trained on. No shard stays open: a window is read from its file when it is drawn
(:func:`~gristmill.pipeline.shards.read_tokens`), so the number of shards a run trains on is
bounded by neither the open-file limit nor the kernel's maps, as a year of nightly crawls needs.

Sampling follows the manifest's mix (GPT-3 table 2.2): each sequence first draws its bucket with
probability ``buckets[name].weight``, then a window of ``block_size + 1`` tokens uniformly among
that bucket's train windows, optionally only windows that begin at a document start (from the
``.idx`` index). The sampler is counter-based: batch ``i`` is drawn by a generator seeded with
``(seed, i)``, so its whole state is the number of batches drawn. That makes resume exact, keeps
data-parallel ranks on disjoint batches (rank ``r`` of ``W`` takes batches ``n + r``), and lets a
run resume on a different number of ranks without repeating or skipping batches.

This module needs numpy only; the trainer turns the arrays into tensors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.manifest import SPLITS, Manifest, ManifestError, ShardEntry
from gristmill.pipeline.shards import (
    HEADER_INTS,
    LLMC_FORMATS,
    index_path,
    read_header,
    read_starts,
    read_tokens,
    starts_up_to,
)
from gristmill.pipeline.tokenizer import eot_token, load_encoding, token_dtype


class DataError(UsageError):
    """A manifest or shard that cannot feed this run; the message says which and why."""


@dataclass(frozen=True)
class Shard:
    """One shard as its manifest entry describes it, checked against its files at load."""

    path: Path
    split: str
    bucket: str
    tokens: int  # tokens in the file, EOTs included
    docs: int
    itemsize: int  # bytes per token

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` tokens from ``start``; a shorter read means the file changed since load."""
        tokens = read_tokens(self.path, self.itemsize, start, count)
        if len(tokens) != count:
            raise DataError(
                f"{self.path}: {len(tokens)} tokens at offset {start}, expected {count} "
                f"(the shard holds {self.tokens}: changed since the run started, or its "
                "index is out of order)"
            )
        return tokens

    def doc_start(self, doc: int) -> int:
        """Where document ``doc`` starts (its offset in tokens)."""
        start = read_starts(self.path, doc)
        if not start.size:
            raise DataError(f"{index_path(self.path)}: no document {doc}: changed since load")
        return int(start[0])

    def docs_fitting(self, length: int) -> int:
        """How many documents start early enough for ``length`` tokens from there: the first
        ones, as the index is in increasing order (which this checks: a shard's index is read
        whole only for document-aligned sampling, the only reading that relies on it)."""
        return starts_up_to(self.path, self.tokens - length)


@dataclass(frozen=True)
class Dataset:
    manifest: Path
    tokenizer: str
    vocab_size: int  # ids 0 .. vocab_size - 1 (the tokenizer's, not the model's padded size)
    eot: int
    weights: dict[str, float]  # bucket -> probability that a training sequence comes from it
    shards: list[Shard]

    def select(self, split: str, bucket: str) -> list[int]:
        """Positions in ``shards`` of one split and bucket."""
        return [i for i, s in enumerate(self.shards) if s.split == split and s.bucket == bucket]


def _check_shard(root: Path, entry: ShardEntry, dtype: np.dtype, eot: int) -> Shard:
    """Hold one shard's files (header checked by read_header) to its manifest entry; what is
    read is the header, the index's first and last entries and the last token, so the check
    costs the same for a shard of any size."""
    path = root / entry.path
    if not path.exists():
        raise DataError(f"{path}: listed in the manifest but missing")
    tokens, itemsize = read_header(path)
    if itemsize != dtype.itemsize:
        raise DataError(f"{path}: {itemsize}-byte tokens, the manifest says {dtype.name}")
    if tokens != entry.tokens:
        raise DataError(
            f"{path}: header says {tokens} tokens, the manifest {entry.tokens} "
            "(shard and manifest are from different runs)"
        )
    index = index_path(path)
    size = index.stat().st_size if index.exists() else 0
    bounded = (
        size == 8 * entry.docs > 0
        and read_starts(path, 0)[0] == 0
        and read_starts(path, entry.docs - 1)[0] < tokens
    )
    if not bounded or read_tokens(path, itemsize, tokens - 1, 1)[0] != eot:
        odd = f" and {size % 8} bytes" if size % 8 else ""
        raise DataError(
            f"{path}: index of {size // 8} documents{odd} does not match the manifest's "
            f"{entry.docs} or the shard does not end with EOT {eot}"
        )
    if entry.split not in SPLITS:
        raise DataError(f"{path}: split {entry.split!r} is not one of {SPLITS}")
    return Shard(path, entry.split, entry.bucket, tokens, entry.docs, itemsize)


def load_dataset(manifest: Path | str) -> Dataset:
    """Read ``manifest.json``, check its tokenizer and format, and check every shard its
    batches list.

    The tokenizer is rebuilt from its name to confirm the manifest's vocabulary size, EOT id and
    token width; shard paths are relative to the manifest's directory.
    """
    manifest = Path(manifest)
    try:
        m = Manifest.read(manifest)
    except ManifestError as exc:
        raise DataError(str(exc)) from exc
    if not m.format.is_known():
        raise DataError(
            f"{manifest}: format {asdict(m.format)} is not an llm.c token shard format with a "
            f"{HEADER_INTS}-int32 header (magic, version: {sorted(LLMC_FORMATS.values())})"
        )
    try:
        enc = load_encoding(m.tokenizer)
    except ValueError as exc:
        raise DataError(f"{manifest}: {exc}") from exc
    expected = (enc.n_vocab, eot_token(enc), token_dtype(enc.n_vocab).name)
    if (m.vocab_size, m.eot, m.dtype) != expected:
        raise DataError(
            f"{manifest}: vocab_size {m.vocab_size}, eot {m.eot}, dtype {m.dtype} do not "
            f"match tokenizer {m.tokenizer} ({expected[0]}, {expected[1]}, {expected[2]})"
        )
    weights = {name: float(b.weight) for name, b in m.buckets.items()}
    root = manifest.parent
    try:
        entries = m.shard_entries(root)
    except ManifestError as exc:
        raise DataError(str(exc)) from exc
    shards = [_check_shard(root, e, np.dtype(m.dtype), m.eot) for e in entries]
    unknown = {s.bucket for s in shards} - set(weights)
    if unknown:
        raise DataError(f"{manifest}: shards of bucket(s) {sorted(unknown)} not in 'buckets'")
    if not any(w > 0 for w in weights.values()):
        raise DataError(f"{manifest}: no bucket has a positive weight (no train tokens?)")
    return Dataset(manifest, m.tokenizer, m.vocab_size, m.eot, weights, shards)


def check_model_fits(data: Dataset, model_vocab: int, tokenizer: str | None = None) -> None:
    """Refuse data whose ids the model cannot embed, or (when resuming) a different tokenizer:
    ids from another vocabulary fit the embedding but mean other words."""
    if data.vocab_size > model_vocab:
        raise DataError(
            f"{data.manifest}: {data.tokenizer} has {data.vocab_size} token ids but the model "
            f"embeds only {model_vocab}"
        )
    if tokenizer is not None and tokenizer != data.tokenizer:
        raise DataError(
            f"{data.manifest}: tokenizer {data.tokenizer}, but the checkpoint was trained on "
            f"{tokenizer}"
        )


@dataclass(frozen=True)
class Window:
    """``block_size + 1`` tokens of ``data.shards[shard]`` from ``start``: input and target."""

    bucket: str
    shard: int
    start: int


@dataclass(frozen=True)
class _Pool:
    """Every window start of one bucket, as a virtual concatenation over its shards: a shard's
    window ``k`` starts at its ``k``-th document where ``aligned``, else at offset ``k``."""

    shards: list[int]
    aligned: bool
    cumulative: np.ndarray  # cumulative[i] = windows in shards[:i + 1]


def _pool(data: Dataset, shard_ids: list[int], block_size: int, align: bool) -> _Pool:
    shards = [data.shards[i] for i in shard_ids]
    if align:
        counts = [s.docs_fitting(block_size + 1) for s in shards]
    else:
        counts = [max(0, s.tokens - block_size) for s in shards]
    return _Pool(shard_ids, align, np.cumsum(counts, dtype=np.int64))


class WindowSampler:
    """Seeded, resumable batches of windows: bucket by weight, then a uniform window in it.

    With ``align_to_docs`` a window starts at a document start, drawn uniformly over documents
    long enough to fill it (only their first ``block_size`` tokens are ever seen); otherwise any
    token offset is a start, uniformly over the bucket's tokens.
    """

    def __init__(
        self,
        data: Dataset,
        split: str,
        block_size: int,
        batch_size: int,
        seed: int,
        weights: dict[str, float] | None = None,
        align_to_docs: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.data, self.block_size, self.batch_size = data, block_size, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        weights = data.weights if weights is None else weights
        self.buckets = [b for b, w in weights.items() if w > 0]
        self.pools = {
            b: _pool(data, data.select(split, b), block_size, align_to_docs) for b in self.buckets
        }
        for b, pool in self.pools.items():
            if not pool.cumulative.size or pool.cumulative[-1] == 0:
                raise DataError(
                    f"{data.manifest}: bucket {b!r} has weight {weights[b]:g} but its {split} "
                    f"split has no window of {block_size + 1} tokens"
                    + (" starting at a document start" if align_to_docs else "")
                )
        p = np.array([weights[b] for b in self.buckets], dtype=np.float64)
        self.probs = p / p.sum()
        self.batches = 0  # batches drawn so far, by all ranks together

    def windows(self, index: int) -> list[Window]:
        """Batch ``index`` of the stream: a pure function of the seed and the index."""
        rng = np.random.default_rng([self.seed, index])
        out = []
        for _ in range(self.batch_size):
            bucket = self.buckets[rng.choice(len(self.buckets), p=self.probs)]
            pool = self.pools[bucket]
            k = int(rng.integers(pool.cumulative[-1]))
            j = int(np.searchsorted(pool.cumulative, k, side="right"))
            k -= int(pool.cumulative[j - 1]) if j else 0
            shard = pool.shards[j]
            start = self.data.shards[shard].doc_start(k) if pool.aligned else k
            out.append(Window(bucket, shard, start))
        return out

    def read(self, windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and next-token targets, int64 arrays of shape (batch, block_size)."""
        T = self.block_size
        rows = np.stack([self.data.shards[w.shard].read(w.start, T + 1) for w in windows]).astype(
            np.int64
        )
        return np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, 1:])

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's next batch; every rank advances the shared counter by the world size."""
        windows = self.windows(self.batches + self.rank)
        self.batches += self.world_size
        return self.read(windows)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "batches": self.batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["seed"] != self.seed:
            raise DataError(f"sampler state has seed {state['seed']}, this run {self.seed}")
        self.batches = int(state["batches"])


def val_samplers(
    data: Dataset,
    block_size: int,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, WindowSampler]:
    """One sampler per bucket over its val split (buckets without val windows are left out).

    Rebuilt for each evaluation, so every evaluation scores the same windows and the curve
    moves with the model only.
    """
    out = {}
    for bucket in data.weights:
        try:
            out[bucket] = WindowSampler(
                data, "val", block_size, batch_size, seed, {bucket: 1.0}, False, rank, world_size
            )
        except DataError:
            continue
    return out
