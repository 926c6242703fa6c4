"""Training data from a gristmill ``shards/`` directory: the manifest, the shards, the sampler.

Shards are memory-mapped through :mod:`gristmill.pipeline.shards` (the one definition of the
format, which checks magic, version and token count against the file size), and each is checked
against its manifest entry, so a stale or swapped file is refused before training starts rather than
silently trained on.

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
from gristmill.pipeline.shards import HEADER_INTS, LLMC_FORMATS, read_index, read_shard
from gristmill.pipeline.tokenizer import eot_token, load_encoding, token_dtype


class DataError(UsageError):
    """A manifest or shard that cannot feed this run; the message says which and why."""


@dataclass(frozen=True)
class Shard:
    path: Path
    split: str
    bucket: str
    tokens: np.memmap  # read-only view of the token array
    starts: np.ndarray  # uint64 document start offsets


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


def _open_shard(root: Path, entry: ShardEntry, dtype: np.dtype, eot: int) -> Shard:
    """Map one shard (header checked by read_shard) and hold it to its manifest entry."""
    path = root / entry.path
    if not path.exists():
        raise DataError(f"{path}: listed in the manifest but missing")
    tokens = read_shard(path)
    if tokens.dtype.itemsize != dtype.itemsize:
        raise DataError(
            f"{path}: {tokens.dtype.itemsize}-byte tokens, the manifest says {dtype.name}"
        )
    if len(tokens) != entry.tokens:
        raise DataError(
            f"{path}: header says {len(tokens)} tokens, the manifest {entry.tokens} "
            "(shard and manifest are from different runs)"
        )
    starts = read_index(path)
    if len(starts) != entry.docs or int(starts[-1]) >= len(tokens) or tokens[-1] != eot:
        raise DataError(
            f"{path}: index of {len(starts)} documents does not match the manifest's "
            f"{entry.docs} or the shard does not end with EOT {eot}"
        )
    if entry.split not in SPLITS:
        raise DataError(f"{path}: split {entry.split!r} is not one of {SPLITS}")
    return Shard(path, entry.split, entry.bucket, tokens, starts)


def load_dataset(manifest: Path | str) -> Dataset:
    """Read ``manifest.json``, check its tokenizer and format, and map every shard it lists.

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
    shards = [_open_shard(root, e, np.dtype(m.dtype), m.eot) for e in m.shards]
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
    """Every window start of one bucket, as a virtual concatenation over its shards."""

    shards: list[int]
    starts: list[np.ndarray | None]  # per shard: aligned starts, or None for every offset
    cumulative: np.ndarray  # cumulative[i] = windows in shards[:i + 1]


def _pool(data: Dataset, shard_ids: list[int], block_size: int, align: bool) -> _Pool:
    counts, starts = [], []
    for i in shard_ids:
        n = len(data.shards[i].tokens)
        if align:
            s = data.shards[i].starts
            s = s[s + block_size + 1 <= n]
            starts.append(s)
            counts.append(len(s))
        else:
            starts.append(None)
            counts.append(max(0, n - block_size))
    return _Pool(shard_ids, starts, np.cumsum(counts, dtype=np.int64))


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
            starts = pool.starts[j]
            out.append(Window(bucket, pool.shards[j], int(starts[k]) if starts is not None else k))
        return out

    def read(self, windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and next-token targets, int64 arrays of shape (batch, block_size)."""
        T = self.block_size
        rows = np.stack(
            [self.data.shards[w.shard].tokens[w.start : w.start + T + 1] for w in windows]
        ).astype(np.int64)
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
