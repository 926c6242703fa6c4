"""UTF-8 inside compiled kernels: one code point read from, or written to, a byte array (the
language screen reads pages so; fastText's word hashes and KenLM's lines are written so).

A kernel that reads markup (ASCII ``<``, ``>``, quotes) can scan a page's UTF-8 bytes as they
are, where the same page as code points (:func:`gristmill.filters.words.code_points`) is four
times the memory and costs as much to make as the scan itself. Bytes come from Python's own
encoder (``str.encode("utf-8", "surrogatepass")``), so every sequence is well formed: a lead
byte says its length, and a lone surrogate is the three bytes "surrogatepass" writes.
"""

from __future__ import annotations

import numpy as np

from gristmill.pipeline.kernels import njit


def utf8_bytes(text: str) -> np.ndarray:
    """``text``'s UTF-8 bytes (uint8), lone surrogates kept as "surrogatepass" writes them."""
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)


@njit(inline="always")
def read_point(data: np.ndarray, i: int) -> tuple[int, int]:
    """The code point whose UTF-8 sequence starts at ``data[i]``, and where the next starts."""
    c = int(data[i])
    if c < 0x80:
        return c, i + 1
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (int(data[i + 1]) & 0x3F), i + 2
    if c < 0xF0:
        return (
            ((c & 0x0F) << 12) | ((int(data[i + 1]) & 0x3F) << 6) | (int(data[i + 2]) & 0x3F)
        ), i + 3
    return (
        ((c & 0x07) << 18)
        | ((int(data[i + 1]) & 0x3F) << 12)
        | ((int(data[i + 2]) & 0x3F) << 6)
        | (int(data[i + 3]) & 0x3F)
    ), i + 4


@njit(inline="always")
def write_point(c: int, out: np.ndarray, k: int) -> int:
    """Write code point ``c``'s UTF-8 at ``out[k]`` (a surrogate as "surrogatepass" writes it);
    where the next goes."""
    if c < 0x80:
        out[k] = c
        return k + 1
    if c < 0x800:
        out[k], out[k + 1] = 0xC0 | (c >> 6), 0x80 | (c & 0x3F)
        return k + 2
    if c < 0x10000:
        out[k], out[k + 1] = 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F)
        out[k + 2] = 0x80 | (c & 0x3F)
        return k + 3
    out[k], out[k + 1] = 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 0x3F)
    out[k + 2], out[k + 3] = 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F)
    return k + 4


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)


@njit
def next_byte(data: np.ndarray, i: int, byte: int) -> int:
    """The first index at or after ``i`` where ``data`` holds ``byte``, or ``data.size``.

    Eight bytes a step (a word holds ``byte`` where its XOR with ``byte`` repeated has a zero
    byte, the classic bit trick), then byte by byte inside the word that does: 0.2 ns a byte
    against 1 ns a byte by byte. A page's scripts and styles, half of its bytes, are passed
    over so (:mod:`gristmill.pipeline.language_screen`)."""
    n = data.size
    while i < n and i & 7:
        if data[i] == byte:
            return i
        i += 1
    if i < n - 7:
        words = data[: n - n % 8].view(np.uint64)
        pattern = _ONES * np.uint64(byte)
        k = i >> 3
        while k < words.size:
            x = words[k] ^ pattern
            if (x - _ONES) & ~x & _HIGHS:
                break
            k += 1
        i = k << 3
    while i < n and data[i] != byte:
        i += 1
    return i
