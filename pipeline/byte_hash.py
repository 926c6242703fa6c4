"""A 64-bit hash of byte strings, compiled with numba: FNV-1a finished by MurmurHash3's
finalizer. MinHash shingles and the URL filter's blocklists use it; both need a hash that is the
same in every process and every run (Python's ``hash`` of a str is salted per process) and that
costs nanoseconds, not the microsecond of a ``hashlib`` call, over millions of entries."""

from __future__ import annotations

import numpy as np

from gristmill.pipeline.kernels import njit

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit
def fmix64(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit
def bytes_hash(data: np.ndarray, start: int, end: int) -> np.uint64:
    """FNV-1a over ``data[start:end]``, finished by the MurmurHash3 finalizer."""
    h = FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * FNV_PRIME
    return fmix64(h)


@njit
def _line_hashes(data: np.ndarray) -> np.ndarray:
    """bytes_hash of each line of ``data`` with ASCII whitespace trimmed and ASCII letters
    lower-cased, skipping blank lines and lines starting with "#"."""
    lines = 1
    for c in data:
        lines += c == 10
    out = np.empty(lines, np.uint64)
    n, i, size = 0, 0, data.size
    while i < size:
        end = i
        while end < size and data[end] != 10:
            end += 1
        start, stop = i, end
        while start < stop and (data[start] == 32 or 9 <= data[start] <= 13):
            start += 1
        while stop > start and (data[stop - 1] == 32 or 9 <= data[stop - 1] <= 13):
            stop -= 1
        if stop > start and data[start] != 35:
            h = FNV_OFFSET
            for k in range(start, stop):
                c = data[k]
                if 65 <= c <= 90:
                    c += 32
                h = (h ^ np.uint64(c)) * FNV_PRIME
            out[n] = fmix64(h)
            n += 1
        i = end + 1
    return out[:n]


def line_hashes(data: bytes) -> np.ndarray:
    """One 64-bit hash per entry of a list file's bytes (one entry a line): the same in every
    process, ASCII case and surrounding whitespace ignored, blank and "#" lines skipped."""
    return _line_hashes(np.frombuffer(data, np.uint8))
