"""The llm.c shard format: round trips, atomic writes and a reader that rejects bad files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gristmill.pipeline.shards import (
    HEADER_INTS,
    LLMC_FORMATS,
    ShardFormatError,
    ShardInfo,
    index_path,
    read_index,
    read_shard,
    split_documents,
    write_shard,
)
from gristmill.pipeline.tokenizer import encode_documents, eot_token, load_encoding, token_dtype

EOT = 50256


def _docs(seed: int = 0, n: int = 20) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, EOT, size=rng.integers(0, 50), dtype=np.uint16) for _ in range(n)]
    docs[3] = np.array([], dtype=np.uint16)  # empty documents still get their EOT
    return docs


def _write(tmp_path: Path, docs: list[np.ndarray] | None = None) -> Path:
    path = tmp_path / "train-000001.bin"
    write_shard(path, iter(_docs() if docs is None else docs), EOT, np.uint16)
    return path


def test_index_path() -> None:
    assert index_path(Path("out/train-000001.bin")) == Path("out/train-000001.idx")
    assert index_path("out/train-000001.idx") == Path("out/train-000001.idx")


def test_round_trip(tmp_path: Path) -> None:
    docs = _docs()
    path = tmp_path / "train-000001.bin"
    info = write_shard(path, (d for d in docs), EOT, np.uint16)  # a one-shot generator

    n_tokens = sum(len(d) for d in docs) + len(docs)
    data = path.read_bytes()
    assert info == ShardInfo(str(path), n_tokens, len(docs), hashlib.sha256(data).hexdigest())
    header = np.frombuffer(data[: HEADER_INTS * 4], dtype="<i4")
    assert header[:4].tolist() == [*LLMC_FORMATS[2], n_tokens, 2] == [20240520, 1, n_tokens, 2]
    assert not header[4:].any()
    assert len(data) == HEADER_INTS * 4 + 2 * n_tokens

    tokens = read_shard(path)
    assert isinstance(tokens, np.memmap)
    assert tokens.dtype == np.dtype("<u2") and len(tokens) == n_tokens
    assert tokens.tolist() == [t for d in docs for t in [*d.tolist(), EOT]]

    index = read_index(path)
    assert index.dtype == np.dtype("<u8")
    assert index.tolist() == np.cumsum([0] + [len(d) + 1 for d in docs[:-1]]).tolist()
    assert index_path(path).stat().st_size == 8 * len(docs)
    got = split_documents(tokens, index, EOT)
    assert [g.tolist() for g in got] == [d.tolist() for d in docs]


def test_uint32_o200k(tmp_path: Path) -> None:
    enc = load_encoding("o200k_base")
    assert enc.n_vocab > 65536
    dtype, eot = token_dtype(enc.n_vocab), eot_token(enc)
    texts = ["Hello world", "日本語のテキスト", "", "emoji 🤖 and <|endoftext|> as text"]
    path = tmp_path / "val-000000.bin"
    info = write_shard(path, encode_documents(enc, texts), eot, dtype)

    tokens = read_shard(path)
    assert tokens.dtype == np.dtype("<u4")
    assert int(tokens.max()) == eot > 65535
    header = np.fromfile(path, dtype="<i4", count=4).tolist()
    assert header == [20240801, 7, info.tokens, 4]  # llm.c's header for uint32 shards
    assert path.stat().st_size == HEADER_INTS * 4 + 4 * info.tokens
    docs = split_documents(tokens, read_index(path), eot)
    assert [enc.decode(d.tolist()) for d in docs] == texts


def test_rejects_bad_inputs(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    cases: list[tuple[list[np.ndarray], int, object, str]] = [
        ([np.array([1, EOT, 2])], EOT, np.uint16, "contains the EOT"),
        ([np.array([70000])], EOT, np.uint16, "outside uint16"),
        ([np.array([-1])], EOT, np.uint16, "outside uint16"),
        ([np.array([[1, 2]])], EOT, np.uint16, "1-D integer"),
        ([np.array([1.0])], EOT, np.uint16, "1-D integer"),
        ([np.array([1])], EOT, np.int32, "uint16 or uint32"),
        ([np.array([1])], EOT, np.uint8, "uint16 or uint32"),
        ([np.array([1])], 70000, np.uint16, "does not fit"),
        ([], EOT, np.uint16, "no documents"),
    ]
    for docs, eot, dtype, message in cases:
        with pytest.raises(ValueError, match=message):
            write_shard(path, docs, eot, dtype)
    assert list(tmp_path.iterdir()) == []


def test_only_final_files_remain(tmp_path: Path) -> None:
    _write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-000001.bin", "train-000001.idx"]


def test_failed_write_keeps_previous_shard(tmp_path: Path) -> None:
    path = _write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def failing() -> Iterator[np.ndarray]:
        yield np.array([1, 2, 3], dtype=np.uint16)
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        write_shard(path, failing(), EOT, np.uint16)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_overwrite(tmp_path: Path) -> None:
    path = _write(tmp_path)
    info = write_shard(path, [np.array([7, 8], dtype=np.uint16)], EOT, np.uint16)
    assert (info.tokens, info.docs) == (3, 1)
    assert read_shard(path).tolist() == [7, 8, EOT]
    assert read_index(path).tolist() == [0]


def test_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _write(tmp_path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert index_path(path).stat().st_mode & 0o777 == 0o644


def _set_header(index: int, value: int) -> Callable[[bytearray], bytearray]:
    def mutate(data: bytearray) -> bytearray:
        data[4 * index : 4 * index + 4] = np.array([value], dtype="<i4").tobytes()
        return data

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set_header(0, 20240519), "magic 20240519 version 1 is not an llm.c token shard"),
        (_set_header(1, 2), "magic 20240520 version 2 is not an llm.c token shard"),
        (_set_header(1, 7), "magic 20240520 version 7 is not"),
        (_set_header(3, 3), "bytes per token is 3"),
        (_set_header(3, 4), "bytes per token is 4, but magic 20240520 version 1 means 2"),
        (_set_header(2, 0), "token count is 0"),
        (_set_header(2, 10**6), r"header says 1000000 tokens .* \(truncated\)"),
        (_set_header(2, 5), r"header says 5 tokens .* \(trailing bytes\)"),
        (lambda data: data[:-2], r"\(truncated\)"),
        (lambda data: data + b"\0\0", r"\(trailing bytes\)"),
        (lambda data: data[:100], "truncated header"),
        (lambda data: bytearray(), "truncated header"),
    ],
)
def test_read_rejects_bad_header(
    tmp_path: Path, mutate: Callable[[bytearray], bytearray], message: str
) -> None:
    path = _write(tmp_path)
    path.write_bytes(bytes(mutate(bytearray(path.read_bytes()))))
    with pytest.raises(ShardFormatError, match=message) as excinfo:
        read_shard(path)
    assert str(path) in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("offsets", "raw", "message"),
    [
        (None, b"\0" * 12, "not a non-empty uint64 array"),
        (None, b"", "not a non-empty uint64 array"),
        ([1, 5], None, "start at 0"),
        ([0, 5, 5], None, "strictly increase"),
        ([0, 5, 3], None, "strictly increase"),
    ],
)
def test_read_index_rejects_bad_files(
    tmp_path: Path, offsets: list[int] | None, raw: bytes | None, message: str
) -> None:
    path = _write(tmp_path)
    data = raw if offsets is None else np.array(offsets, dtype="<u8").tobytes()
    index_path(path).write_bytes(data)
    with pytest.raises(ShardFormatError, match=message) as excinfo:
        read_index(path)
    assert str(index_path(path)) in str(excinfo.value)


@pytest.mark.parametrize(
    "index",
    [
        [],  # no documents
        [1, 3],  # does not start at 0
        [0, 2],  # token 1 is not EOT
        [0, 3, 3],  # out of order
        [0, 7],  # past the end
    ],
)
def test_split_documents_checks_index(index: list[int]) -> None:
    tokens = np.array([1, 2, EOT, 4, EOT], dtype=np.uint16)
    assert [d.tolist() for d in split_documents(tokens, np.array([0, 3]), EOT)] == [[1, 2], [4]]
    with pytest.raises(ValueError, match="index does not match tokens"):
        split_documents(tokens, np.array(index, dtype=np.uint64), EOT)


def test_shards_are_written_as_their_documents_arrive(tmp_path: Path) -> None:
    """The tokenize stage's writer holds one Arrow batch, not a shard: 24 MB of tokens over two
    shards go through with well under one shard's bytes traced (the bytes objects each batch's
    rows become), and the files hold every document in order."""
    import tracemalloc

    import pyarrow as pa

    from gristmill.pipeline.token_shards import TOKENIZED, write_shard_batches

    rng = np.random.default_rng(0)
    doc = rng.integers(0, EOT, size=2_000, dtype=np.uint16).tobytes()  # 4 KB a document
    per_batch, batches_per_shard = 250, 12  # 1 MB a batch, 12 MB a shard

    def batches() -> Iterator[pa.RecordBatch]:
        for shard in range(2):
            for _ in range(batches_per_shard):
                rows = {
                    "split": ["train"] * per_batch,
                    "bucket": ["head"] * per_batch,
                    "shard": [shard] * per_batch,
                    "tokens": [doc] * per_batch,
                }
                yield pa.RecordBatch.from_pydict(
                    rows,
                    schema=pa.schema(
                        [TOKENIZED.field(n) for n in ("split", "bucket")]
                        + [pa.field("shard", pa.int64()), TOKENIZED.field("tokens")]
                    ),
                )

    load_encoding("gpt2")  # its ranks, built once per process, are not the writer's
    tracemalloc.start()
    try:
        written = [b.to_pylist()[0] for b in write_shard_batches(batches(), str(tmp_path), "gpt2")]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    docs = per_batch * batches_per_shard
    assert [(w["shard"], w["docs"], w["tokens"]) for w in written] == [
        (s, docs, docs * 2_001) for s in (0, 1)
    ]
    assert peak < 4_000_000, peak  # a shard is 12 MB
    tokens = read_shard(tmp_path / written[1]["path"])
    assert tokens[:2_000].tobytes() == doc and int(tokens[2_000]) == EOT
