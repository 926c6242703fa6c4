"""Training data from a gristmill ``shards/`` directory: the manifest, the shards, the sampler.

Shards are read through :mod:`gristmill.pipeline.shards` (the one definition of the format, which
checks magic, version and token count against the file size), and each is checked against its
manifest entry (header, index ends, last token), so a stale or swapped file is refused before it is
trained on. A run checks a batch's shards once: its checkpoints name the batches checked (by the
sha256 of each batch's list), and a run resumed after the next night's batch checks that batch
alone, as a nightly run of the pipeline costs what its new batch costs. A shard removed or cut
short since is refused where a window is read from it, and an index entry past its shard's end or
not after an EOT where it is drawn; a shard rewritten in place at the same length is not seen by
the check, which reads a few bytes of each file, not all. No shard stays open: a window is read
from its file when it is drawn (:func:`~gristmill.pipeline.shards.read_tokens`), so the number of
shards a run trains on is bounded by neither the open-file limit nor the kernel's maps, as a year
of nightly crawls needs. A read that a network file system fails for a while is tried again
(:func:`_retried`).

Sampling follows the manifest's mix (GPT-3 table 2.2): each sequence first draws its bucket with
probability ``buckets[name].weight``, then a window of ``block_size + 1`` tokens uniformly among
that bucket's train windows, optionally windows aligned to documents (from the ``.idx`` index:
each starts at a document's start or a whole number of windows after it, see
:class:`WindowSampler`). The sampler is counter-based: batch ``i`` is drawn by a generator seeded
with ``(seed, i)``, so its whole state is the number of batches drawn. That makes resume exact,
keeps data-parallel ranks on disjoint batches (rank ``r`` of ``W`` takes batches ``n + r``), and
lets a run resume on a different number of ranks without repeating or skipping batches.

This module needs numpy only; the trainer turns the arrays into tensors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.log import logger
from gristmill.pipeline.manifest import SPLITS, Manifest, ManifestError, ShardEntry
from gristmill.pipeline.remote import FILE_RETRIES, retried_read
from gristmill.pipeline.shards import (
    HEADER_BYTES,
    HEADER_FIELDS_BYTES,
    HEADER_INTS,
    LLMC_FORMATS,
    header_fields,
    index_path,
    read_starts,
    read_tokens,
)
from gristmill.pipeline.tokenizer import eot_token, load_encoding, token_dtype

# Shards checked at once: a check is a few small reads, bound by the file system's round trips
# (about a millisecond each over a network file system), not by the CPU, so many run in flight.
CHECK_THREADS = 32
# A shard's check (:func:`_check_shard`) over this long waits on the file system, not the CPU.
SLOW_CHECK_S = 100e-6
# Shards one thread checks in a run: a thread's task costs about what a check of a shard from the
# page cache does, so each takes many.
CHECK_RUN = 256
# Index entries one read takes (4 KiB) when an aligned window looks up its document: a binary
# search reads entry by entry until its range fits one such read (:meth:`Shard.document_at`).
INDEX_READ = 512
# A shard read that a network file system fails for a while (:data:`gristmill.pipeline.remote.
# TRANSIENT_ERRNOS`) is tried again; any other error stops the run at once, as a read cut short
# does.
READ_RETRIES = FILE_RETRIES

LOG = logger(__name__)
T = TypeVar("T")


class DataError(UsageError):
    """A manifest or shard that cannot feed this run; the message says which and why."""


@dataclass(frozen=True)
class Shard:
    """One shard as its manifest entry describes it (:func:`_check_shard` holds the files to it)."""

    path: str
    split: str
    bucket: str
    tokens: int  # tokens in the file, EOTs included
    docs: int
    itemsize: int  # bytes per token

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` tokens from ``start``; a shorter read means the file changed since load."""
        try:
            tokens = _retried(
                lambda: read_tokens(self.path, self.itemsize, start, count), self.path
            )
        except FileNotFoundError:
            raise DataError(f"{self.path}: missing: {_CHANGED}") from None
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read it ({exc.strerror or exc})") from exc
        if len(tokens) != count:
            raise DataError(
                f"{self.path}: {len(tokens)} tokens at offset {start}, expected {count} "
                f"(the shard holds {self.tokens}: {_CHANGED})"
            )
        return tokens

    def doc_start(self, doc: int) -> int:
        """Where document ``doc`` starts (its offset in tokens)."""
        return int(self._starts(doc, 1)[0])

    def document_at(self, offset: int) -> int:
        """Where the document that holds token ``offset`` starts: a binary search of the index,
        entry by entry until the range fits one read of :data:`INDEX_READ` entries (a shard of
        10^5 documents: 8 reads of 8 bytes and one of 4 KiB, from the page cache in tens of
        microseconds), so a run reads no index whole, however many shards it draws from."""
        lo, hi = 0, self.docs  # the document is one of lo .. hi - 1
        while hi - lo > INDEX_READ:
            mid = (lo + hi) // 2
            if self.doc_start(mid) <= offset:
                lo = mid
            else:
                hi = mid
        starts = self._starts(lo, hi - lo)
        found = int(np.searchsorted(starts, offset, side="right")) - 1
        if found < 0:
            raise DataError(
                f"{self.path}: its index puts document {lo} at token {starts[0]}, after token "
                f"{offset}{' (the first must start at 0)' if lo == 0 else ''}: the index is damaged"
            )
        return int(starts[found])

    def _starts(self, first: int, count: int) -> np.ndarray:
        """Index entries ``first`` .. ``first + count - 1``, each checked to lie in the shard."""
        try:
            starts = _retried(lambda: read_starts(self.path, first, count), self.path)
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read its index ({exc.strerror or exc})") from exc
        if len(starts) != count:
            missing = first + len(starts)
            raise DataError(f"{self.path}: no document {missing} in its index: {_CHANGED}")
        past = np.flatnonzero(starts >= self.tokens)
        if past.size:
            raise DataError(
                f"{self.path}: its index puts document {first + past[0]} at token "
                f"{starts[past[0]]}, past the shard's {self.tokens}: the index is damaged"
            )
        return starts


_CHANGED = "changed since the run checked it"


def _retried(read: Callable[[], T], path: str) -> T:
    """``read()``, tried again on a passing error of the file system: a nightly corpus on a
    network file system loses a server now and then, and a run of days should wait for it, not
    stop and resume from its last checkpoint."""
    return retried_read(read, path, READ_RETRIES, LOG)


@dataclass(frozen=True)
class Dataset:
    manifest: Path
    tokenizer: str
    vocab_size: int  # ids 0 .. vocab_size - 1 (the tokenizer's, not the model's padded size)
    eot: int
    weights: dict[str, float]  # bucket -> probability that a training sequence comes from it
    shards: list[Shard]
    checked: frozenset[str] = frozenset()  # sha256 of each batch list whose shards were checked

    def select(self, split: str, bucket: str) -> list[int]:
        """Positions in ``shards`` of one split and bucket."""
        return [i for i, s in enumerate(self.shards) if s.split == split and s.bucket == bucket]


def _shard(root: Path, entry: ShardEntry, itemsize: int) -> Shard:
    if entry.split not in SPLITS:
        raise DataError(f"{root / entry.path}: split {entry.split!r} is not one of {SPLITS}")
    path = os.path.join(root, entry.path)
    return Shard(path, entry.split, entry.bucket, entry.tokens, entry.docs, itemsize)


def _check_shard(shard: Shard, eot: int) -> None:
    """Hold one shard's files to its manifest entry: the header (format, token width, count
    against the file's size), the index's size and its first and last entries, and the last
    token. One open of each file and a few bytes read, so the check costs the same for a shard
    of any size."""
    path = shard.path
    try:
        tokens, itemsize, last = _retried(lambda: _shard_ends(path), path)
        size, first, final = _retried(lambda: _index_ends(index_path(path), shard.docs), path)
    except FileNotFoundError:
        raise DataError(f"{path}: listed in the manifest but missing") from None
    except OSError as exc:
        raise DataError(f"{exc.filename or path}: cannot read it ({exc.strerror or exc})") from exc
    if itemsize != shard.itemsize:
        raise DataError(
            f"{path}: {itemsize}-byte tokens, the manifest says uint{8 * shard.itemsize}"
        )
    if tokens != shard.tokens:
        raise DataError(
            f"{path}: header says {tokens} tokens, the manifest {shard.tokens} "
            "(shard and manifest are from different runs)"
        )
    bounded = size == 8 * shard.docs > 0 and first == 0 and final < tokens
    if not bounded or int.from_bytes(last, "little") != eot:
        odd = f" and {size % 8} bytes" if size % 8 else ""
        raise DataError(
            f"{path}: index of {size // 8} documents{odd} does not match the manifest's "
            f"{shard.docs} or the shard does not end with EOT {eot}"
        )


def _shard_ends(path: str) -> tuple[int, int, bytes]:
    """A shard's token count and width from its header (checked against the file's size), and
    its last token's bytes."""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        tokens, itemsize = header_fields(f.read(HEADER_FIELDS_BYTES), size, path)
        return (
            tokens,
            itemsize,
            os.pread(f.fileno(), itemsize, HEADER_BYTES + (tokens - 1) * itemsize),
        )


def _index_ends(path: Path, docs: int) -> tuple[int, int, int]:
    """An index file's size and its first and ``docs``-th start (-1 where it holds none)."""
    try:
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            if size != 8 * docs or not docs:
                return size, -1, -1
            first, final = os.pread(f.fileno(), 8, 0), os.pread(f.fileno(), 8, size - 8)
    except FileNotFoundError:
        return 0, -1, -1
    return size, int.from_bytes(first, "little"), int.from_bytes(final, "little")


def _check_shards(shards: list[Shard], eot: int) -> None:
    """:func:`_check_shard` on each; the first failure raises. Where the first
    :data:`CHECK_RUN` checks show the file system to be slow (a network file system: a round
    trip per read), the rest run in :data:`CHECK_THREADS` threads, runs of shards in flight. On
    a local disk's page cache a check takes about 30 us, and threads only contend for the GIL
    (100,000 shards: 4.3 s in one thread, 11-14 s in 4 or 32)."""
    started = time.perf_counter()
    for shard in shards[:CHECK_RUN]:
        _check_shard(shard, eot)
    if len(shards) <= CHECK_RUN:
        return
    slow = (time.perf_counter() - started) / CHECK_RUN > SLOW_CHECK_S

    def check_run(first: int) -> None:
        for shard in shards[first : first + CHECK_RUN]:
            _check_shard(shard, eot)

    with ThreadPoolExecutor(CHECK_THREADS if slow else 1) as pool:
        for _ in pool.map(check_run, range(CHECK_RUN, len(shards), CHECK_RUN)):
            pass


def load_dataset(manifest: Path | str, checked: Collection[str] = ()) -> Dataset:
    """Read ``manifest.json``, check its tokenizer and format, and check the shards of every
    batch it lists but those ``checked`` names (by their lists' sha256: a run's earlier
    checkpoint names the batches it has checked).

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
    itemsize = np.dtype(m.dtype).itemsize
    shards: list[Shard] = []
    unchecked: list[Shard] = []
    try:
        for batch, entries in m.batch_shards(root):
            of_batch = [_shard(root, e, itemsize) for e in entries]
            shards += of_batch
            if batch.sha256 not in checked:
                unchecked += of_batch
    except ManifestError as exc:
        raise DataError(str(exc)) from exc
    _check_shards(unchecked, m.eot)
    unknown = {s.bucket for s in shards} - set(weights)
    if unknown:
        raise DataError(f"{manifest}: shards of bucket(s) {sorted(unknown)} not in 'buckets'")
    if not any(w > 0 for w in weights.values()):
        raise DataError(f"{manifest}: no bucket has a positive weight (no train tokens?)")
    done = frozenset(b.sha256 for b in m.batches)
    return Dataset(manifest, m.tokenizer, m.vocab_size, m.eot, weights, shards, done)


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
    """``block_size + 1`` tokens of ``data.shards[shard]`` from ``start``: input and target;
    ``at_document``: an aligned window at its document's start (the token before is EOT)."""

    bucket: str
    shard: int
    start: int
    at_document: bool = False


@dataclass(frozen=True)
class _Pool:
    """What one bucket's windows are drawn from, as a virtual concatenation over its shards: a
    shard's offset ``k`` is the window from token ``k`` or, ``aligned``, the window of its
    document that holds token ``k`` (:meth:`WindowSampler._draw`); the pool is known from the
    manifest alone, without reading a year of shards' indexes when a run starts."""

    shards: list[int]
    aligned: bool
    cumulative: np.ndarray  # cumulative[i] = offsets that start a window in shards[:i + 1]
    fits: bool  # whether any of its shards holds a window


def _pool(data: Dataset, shard_ids: list[int], block_size: int, align: bool) -> _Pool:
    counts = [max(0, data.shards[i].tokens - block_size) for i in shard_ids]
    return _Pool(shard_ids, align, np.cumsum(counts, dtype=np.int64), any(counts))


class WindowSampler:
    """Seeded, resumable batches of windows: bucket by weight, then a uniform token offset in it,
    the start of the window.

    With ``align_to_docs`` the offset picks the window of its document that holds it: each
    document is cut into windows from its start, every ``block_size`` tokens, and the window
    that holds the offset is taken. Every token of a document's whole windows is then as likely
    to be trained on as with windows at any offset, as the manifest's weights and epochs count
    them; a document's last, shorter piece of r tokens is drawn r / block_size as often, and
    its window runs on into the next document. (Windows at document starts alone never showed
    a long document past its first window: at 1,024 tokens, 7.5% of the test shards' "long"
    bucket could ever be seen.)
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
            if not pool.fits:
                raise DataError(
                    f"{data.manifest}: bucket {b!r} has weight {weights[b]:g} but its {split} "
                    f"split has no window of {block_size + 1} tokens"
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
            out.append(self._draw(bucket, rng))
        return out

    def _draw(self, bucket: str, rng: np.random.Generator) -> Window:
        """A window of ``bucket``: from a uniform offset over its shards, or, aligned, the window
        of the offset's document that holds it (which fits, as it starts no later)."""
        pool = self.pools[bucket]
        k = int(rng.integers(pool.cumulative[-1]))
        j = int(np.searchsorted(pool.cumulative, k, side="right"))
        k -= int(pool.cumulative[j - 1]) if j else 0
        shard = pool.shards[j]
        if not pool.aligned:
            return Window(bucket, shard, k)
        document = self.data.shards[shard].document_at(k)
        start = document + (k - document) // self.block_size * self.block_size
        return Window(bucket, shard, start, start == document)

    def read(self, windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and next-token targets, int64 arrays of shape (batch, block_size). A window at
        a document's start is read from the token before it, which must be EOT: an index entry
        that is no document start is refused where it is used, not at load (which would read a
        year of indexes whole)."""
        rows = np.stack([self._row(w) for w in windows]).astype(np.int64)
        return np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, 1:])

    def _row(self, w: Window) -> np.ndarray:
        shard, length = self.data.shards[w.shard], self.block_size + 1
        if not (w.at_document and w.start):
            return shard.read(w.start, length)
        row = shard.read(w.start - 1, length + 1)
        if row[0] != self.data.eot:
            raise DataError(
                f"{shard.path}: its index puts a document start at token {w.start}, where the "
                f"token before is {row[0]}, not EOT {self.data.eot}: the index is damaged"
            )
        return row[1:]

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
