"""The llm.c token-shard format, written and read only through this module.

A shard ``NAME.bin`` is a header of ``HEADER_INTS`` (256) little-endian int32 followed by the
tokens, little-endian, with the (magic, version) llm.c gives each token width:

* uint16 tokens: ``header[0]`` = 20240520, ``header[1]`` = 1 (GPT-2's vocabulary, llm.c's
  ``fineweb.py``);
* uint32 tokens: ``header[0]`` = 20240801, ``header[1]`` = 7 (llm.c's larger-vocabulary shards,
  for cl100k_base and o200k_base);
* ``header[2]`` = number of tokens (int32, so at most 2**31 - 1 per shard),
* ``header[3]`` = bytes per token (2 or 4), which llm.c leaves zero: a reader may check it against
  the magic; the rest of the header is zero.

Documents are laid out back to back, each followed by the EOT token, so a document starts at
offset 0 and right after every EOT, and a document's own tokens never contain EOT. The sidecar
``NAME.idx`` holds those start offsets (token positions in the shard, not bytes) as a raw
little-endian uint64 array with no header, so a trainer can sample windows that begin at a
document start without scanning the shard.

Both files are written to temporary names in the target directory, fsynced and renamed into
place, the ``.idx`` first: a ``.bin`` that exists is complete and has its index next to it, and a
retried Spark task simply overwrites.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gristmill.pipeline.atomic import atomic_file
from gristmill.pipeline.errors import UsageError

# Bytes per token -> llm.c's (magic, version) for shards of that width.
LLMC_FORMATS = {2: (20240520, 1), 4: (20240801, 7)}
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
INDEX_SUFFIX = ".idx"
_MAX_TOKENS = 2**31 - 1


class ShardFormatError(UsageError):
    """A shard or index file that does not follow the format; the message names the file."""


@dataclass(frozen=True)
class ShardInfo:
    """What was written: ``tokens`` counts every token in the file, EOTs included."""

    path: str
    tokens: int
    docs: int
    sha256: str  # of the whole .bin file, header included


def index_path(path: Path | str) -> Path:
    """The sidecar index of a shard: ``train-000001.bin`` -> ``train-000001.idx``."""
    return Path(path).with_suffix(INDEX_SUFFIX)


def _shard_dtype(dtype: npt.DTypeLike) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "u" or dt.itemsize not in (2, 4):
        raise ValueError(f"shard tokens must be uint16 or uint32, got {dt}")
    return dt.newbyteorder("<")


def _as_tokens(doc: np.ndarray, dtype: np.dtype, eot: int) -> np.ndarray:
    """``doc`` as contiguous ``dtype``, refusing ids that would wrap or fake a boundary."""
    arr = np.asarray(doc)
    if arr.ndim != 1 or arr.dtype.kind not in "ui":
        raise ValueError(f"a document must be a 1-D integer array, got {arr.dtype} {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(dtype).max):
        raise ValueError(f"document has token ids outside {dtype.name}")
    if (arr == eot).any():
        raise ValueError(f"document contains the EOT token {eot}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _header(tokens: int, itemsize: int) -> bytes:
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:4] = *LLMC_FORMATS[itemsize], tokens, itemsize
    return header.tobytes()


def write_shard(
    path: Path | str, docs: Iterable[np.ndarray], eot: int, dtype: npt.DTypeLike
) -> ShardInfo:
    """Write ``docs`` (token arrays without EOT) as shard ``path`` plus its ``.idx``, atomically.

    Documents are streamed to disk one at a time; only their start offsets stay in memory. The
    sha256 is computed by reading the finished file back, because the header, which comes first,
    is known only after the last document.
    """
    path = Path(path)
    dt = _shard_dtype(dtype)
    if not 0 <= eot <= np.iinfo(dt).max:
        raise ValueError(f"EOT token {eot} does not fit in {dt.name}")
    eot_bytes = np.array([eot], dtype=dt).tobytes()
    starts: list[int] = []
    count = 0
    with atomic_file(path) as f:
        f.write(bytes(HEADER_BYTES))  # placeholder until the token count is known
        for doc in docs:
            tokens = _as_tokens(doc, dt, eot)
            starts.append(count)
            f.write(tokens.data)
            f.write(eot_bytes)
            count += tokens.size + 1
        if not starts:
            raise ValueError(f"{path}: no documents; a trainer cannot sample an empty shard")
        if count > _MAX_TOKENS:
            raise ValueError(f"{path}: {count} tokens exceed the int32 header count")
        f.seek(0)
        f.write(_header(count, dt.itemsize))
        f.flush()
        f.seek(0)
        # typeshed asks for readinto(), which this buffered binary file has.
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()  # type: ignore[arg-type]
        with atomic_file(index_path(path)) as idx:
            idx.write(np.asarray(starts, dtype="<u8").tobytes())
    return ShardInfo(path=str(path), tokens=count, docs=len(starts), sha256=sha256)


def read_header(path: Path) -> tuple[int, int]:
    """Validate ``path``'s header against its size; return (token count, bytes per token)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        return header_fields(f.read(HEADER_FIELDS_BYTES), size, path)


# The header's fields that mean anything: magic, version, token count, bytes per token.
HEADER_FIELDS_BYTES = 16


def header_fields(head: bytes, size: int, path: Path | str) -> tuple[int, int]:
    """(token count, bytes per token) from a shard's first :data:`HEADER_FIELDS_BYTES` bytes,
    checked against the file's ``size``: the one reading of the header, for a caller that has
    the file open already."""
    if size < HEADER_BYTES:
        raise ShardFormatError(
            f"{path}: truncated header ({size} bytes, a shard has at least {HEADER_BYTES})"
        )
    magic, version, count, itemsize = (int(v) for v in np.frombuffer(head, dtype="<i4", count=4))
    widths = {f: width for width, f in LLMC_FORMATS.items()}
    if (magic, version) not in widths:
        known = ", ".join(f"{m} v{v}" for m, v in LLMC_FORMATS.values())
        raise ShardFormatError(
            f"{path}: magic {magic} version {version} is not an llm.c token shard ({known})"
        )
    if itemsize != widths[magic, version]:
        raise ShardFormatError(
            f"{path}: bytes per token is {itemsize}, but magic {magic} version {version} "
            f"means {widths[magic, version]}"
        )
    if count <= 0:
        raise ShardFormatError(f"{path}: header token count is {count}, expected > 0")
    expected = HEADER_BYTES + count * itemsize
    if size != expected:
        problem = "truncated" if size < expected else "trailing bytes"
        raise ShardFormatError(
            f"{path}: header says {count} tokens of {itemsize} bytes ({expected} bytes in all) "
            f"but the file has {size} bytes ({problem})"
        )
    return count, itemsize


def read_shard(path: Path | str) -> np.memmap:
    """The shard's tokens, memory-mapped read-only, after checking the header against the file."""
    path = Path(path)
    count, itemsize = read_header(path)
    return np.memmap(path, dtype=f"<u{itemsize}", mode="r", offset=HEADER_BYTES, shape=(count,))


def read_index(path: Path | str) -> np.ndarray:
    """Document start offsets of a shard, given the ``.bin`` (or ``.idx``) path, memory-mapped
    (pages shared by every reader on a host)."""
    ipath = index_path(path)
    size = ipath.stat().st_size
    if size == 0 or size % 8:
        raise ShardFormatError(f"{ipath}: {size} bytes is not a non-empty uint64 array")
    starts = np.memmap(ipath, dtype="<u8", mode="r")
    if starts[0] != 0 or (starts[1:] <= starts[:-1]).any():
        raise ShardFormatError(f"{ipath}: offsets must start at 0 and strictly increase")
    return starts


def _pread(path: Path | str, size: int, offset: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def read_tokens(path: Path | str, itemsize: int, start: int, count: int) -> np.ndarray:
    """``count`` tokens of a shard from token ``start`` (fewer where the file ends first), read
    without mapping it. A trainer over a nightly crawl's shards reads from hundreds of
    thousands of files: a map of each would hold a file descriptor (Python's mmap keeps one) and
    two of the kernel's maps (``vm.max_map_count``: 65,530), and 600 shards already passed the
    usual limit of 1,024 open files. A read opens and closes the file: 6.5 us against 2.4 us
    from a map, for a window of 65 tokens from the page cache."""
    data = _pread(path, count * itemsize, HEADER_BYTES + start * itemsize)
    return np.frombuffer(data, dtype=f"<u{itemsize}")


def read_starts(path: Path | str, first: int, count: int = 1) -> np.ndarray:
    """``count`` document start offsets of a shard's index from its ``first``, read without
    mapping it (see :func:`read_tokens`)."""
    return np.frombuffer(_pread(index_path(path), 8 * count, 8 * first), dtype="<u8")


def split_documents(tokens: np.ndarray, index: np.ndarray, eot: int) -> list[np.ndarray]:
    """Each document's tokens (views into ``tokens``, EOT dropped), checked against the index."""
    starts = np.asarray(index, dtype=np.int64)
    ends = np.append(starts[1:], len(tokens)) - 1  # where each document's EOT sits
    if not starts.size or starts[0] != 0 or (ends < starts).any() or (tokens[ends] != eot).any():
        raise ValueError("index does not match tokens: every document must end with EOT")
    return [np.asarray(tokens[s:e]) for s, e in zip(starts, ends, strict=True)]
