"""The companion trainer on shards made from real pages: data checks, sampler, loss, resume.

The shards are built with the pipeline's own pure functions, the ones the Spark jobs run
(``gristmill.trainer.local_shards``), over one real-page WARC from ../shared/data, in two buckets
by document length. No JVM is started, so the whole file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import unavailable

try:
    import torch
    import torch.nn.functional as F
except ModuleNotFoundError:  # torch is the optional 'trainer' extra
    unavailable("torch is not installed (pip install '.[trainer]')", module=True)

from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.layout import MANIFEST_FILE
from gristmill.pipeline.manifest import BatchEntry, Manifest, ShardEntry
from gristmill.pipeline.shards import ShardFormatError, read_index, read_shard
from gristmill.trainer import data as trainer_data
from gristmill.trainer.data import DataError, WindowSampler, check_model_fits, load_dataset
from gristmill.trainer.heldout import load_heldout
from gristmill.trainer.local_shards import build_shards
from gristmill.trainer.model import GPT, preset
from gristmill.trainer.train import TrainConfig, checked_batches, evaluate_heldout, lr_at, train
from tests.conftest import listed_shards

REPO = Path(__file__).resolve().parent.parent
# Long pages in a bucket of their own; "short" pages get 4x their natural share of samples.
CONFIG = {
    "tokenize": {
        "val_fraction": 0.15,
        "shard_tokens": 100_000,
        "buckets": [
            {"name": "long", "weight": 1.0, "min": {"n_chars": 8000}},
            {"name": "short", "weight": 4.0},
        ],
    }
}


@pytest.fixture(scope="module")
def shards(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    warc = shared_data / "warc" / "realpages-00000.warc.gz"
    out = tmp_path_factory.mktemp("trainer") / "shards"
    return build_shards(warc, out, config_from_dict(CONFIG))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Deterministic CPU kernels on one thread, restored afterwards for the other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(False)


def tiny(shards: Path, out: Path, **overrides: Any) -> TrainConfig:
    settings = {
        "manifest": shards,
        "out": out,
        "preset": "tiny",
        "steps": 50,
        "batch_size": 4,
        "lr": 3e-3,
        "warmup_steps": 5,
        "log_interval": 1,
        "eval_interval": 25,
        "eval_batches": 2,
        "checkpoint_interval": 25,
        "deterministic": True,
    }
    return TrainConfig(**(settings | overrides))


def test_manifest_is_loaded_and_checked(shards: Path) -> None:
    data = load_dataset(shards)
    m = json.loads(shards.read_text())
    assert (data.tokenizer, data.vocab_size, data.eot) == ("gpt2", 50257, 50256)
    assert data.weights == {b: v["weight"] for b, v in m["buckets"].items()}
    assert math.isclose(sum(data.weights.values()), 1.0)
    assert {(s.split, s.bucket) for s in data.shards} == {
        (split, bucket) for split in ("train", "val") for bucket in ("long", "short")
    }
    assert len(data.select("train", "long")) > 1  # several shards per bucket
    assert sum(s.tokens for s in data.shards) == sum(
        f["tokens"] for f in listed_shards(shards.parent)
    )
    assert [b["files"] for b in m["batches"]] == ["files.json"]


def test_bucket_frequencies_match_manifest_weights(shards: Path) -> None:
    data = load_dataset(shards)
    sampler = WindowSampler(data, "train", block_size=64, batch_size=8, seed=0)
    windows = [w for i in range(500) for w in sampler.windows(i)]
    counts = Counter(w.bucket for w in windows)
    for bucket, weight in data.weights.items():
        # 4000 draws: the binomial standard deviation is at most 0.008.
        assert abs(counts[bucket] / len(windows) - weight) < 0.03, (bucket, counts, weight)
    for w in windows:
        shard = data.shards[w.shard]
        assert (shard.split, shard.bucket) == ("train", w.bucket)
        assert w.start >= 0 and w.start + 65 <= shard.tokens
    x, y = sampler.read(windows[:8])
    assert x.shape == y.shape == (8, 64) and x.dtype == np.int64
    assert (x[:, 1:] == y[:, :-1]).all()  # targets are the inputs shifted by one


def test_aligned_windows_cut_documents_from_their_starts(shards: Path) -> None:
    """An aligned window starts at its document's start or a whole number of windows after it,
    drawn as often as the offsets it holds: long documents are trained on past their first
    window, every token as likely as with windows at any offset."""
    data = load_dataset(shards)
    block = 64
    sampler = WindowSampler(data, "train", block, 8, seed=1, align_to_docs=True)
    starts = {i: read_index(s.path).astype(np.int64) for i, s in enumerate(data.shards)}
    drawn = [w for i in range(400) for w in sampler.windows(i)]
    for w in drawn:
        shard = data.shards[w.shard]
        document = starts[w.shard][np.searchsorted(starts[w.shard], w.start, side="right") - 1]
        assert (w.start - document) % block == 0 and w.at_document == (w.start == document)
        assert w.start + block < shard.tokens
    # The share of windows past their document's first, against the share of offsets whose
    # window is such a one (an offset k of a shard starts a window while k + block < tokens).
    expected = {}
    for bucket in data.weights:
        past = total = 0
        for i in data.select("train", bucket):
            offsets = np.arange(data.shards[i].tokens - block)
            document = starts[i][np.searchsorted(starts[i], offsets, side="right") - 1]
            past += int((offsets - document >= block).sum())
            total += len(offsets)
        expected[bucket] = past / total
    assert expected["long"] > 0.5  # most of the long documents lie past their first window
    for bucket, share in expected.items():
        windows = [w for w in drawn if w.bucket == bucket]
        got = sum(not w.at_document for w in windows) / len(windows)
        assert abs(got - share) < 0.05, (bucket, got, share)
    x, _ = sampler.read([w for w in drawn if w.at_document][:8])
    assert (x[:, 0] != data.eot).all()  # a document's first token, not the EOT before it


def test_sampler_is_seeded_and_resumable(shards: Path) -> None:
    data = load_dataset(shards)

    def make(seed: int = 7, rank: int = 0, world: int = 1) -> WindowSampler:
        return WindowSampler(data, "train", 64, 4, seed, rank=rank, world_size=world)

    a = make()
    for _ in range(5):
        a.next_batch()
    b = make()
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        assert all((p == q).all() for p, q in zip(a.next_batch(), b.next_batch(), strict=True))
    assert make(seed=8).windows(0) != make().windows(0)
    # Two ranks take interleaved batches of the same stream.
    r0, r1, single = make(rank=0, world=2), make(rank=1, world=2), make()
    r0.next_batch(), r1.next_batch()
    assert r0.state_dict() == r1.state_dict() == {"seed": 7, "batches": 2}
    assert [single.windows(0), single.windows(1)] == [r0.windows(0), r1.windows(1)]
    with pytest.raises(DataError, match="seed"):
        make(seed=8).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [(0, 20240521, "magic 20240521"), (1, 2, "version 2"), (2, 12, "truncated|trailing")],
)
def test_wrong_header_is_refused(
    shards: Path, tmp_path: Path, field: int, value: int, message: str
) -> None:
    copy = tmp_path / "shards"
    shutil.copytree(shards.parent, copy)
    victim = copy / listed_shards(shards.parent)[0]["path"]
    with open(victim, "r+b") as f:
        f.seek(4 * field)
        f.write(np.array([value], dtype="<i4").tobytes())
    with pytest.raises(ShardFormatError, match=message) as err:
        load_dataset(copy / MANIFEST_FILE)
    assert str(victim) in str(err.value)
    if field == 0:  # the CLI stops before building a model, with the same message
        args = ["--manifest", str(copy / MANIFEST_FILE), "--out", str(tmp_path / "run")]
        result = subprocess.run(
            [sys.executable, "-m", "gristmill.trainer", *args, "--device", "cpu"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert f"trainer: error: {victim}: magic 20240521" in result.stderr
        assert not list((tmp_path / "run").glob("ckpt-*"))


def test_a_manifest_from_an_earlier_writer_still_loads(shards: Path, tmp_path: Path) -> None:
    """Keys added to the manifest later (target_tokens, config_digest, factor and epochs per
    bucket, shard and sha256 per shard) are optional to a reader; the ones it relies on are not.
    A manifest of every shard, as gristmill wrote before its batches' lists, is refused with
    what to do."""
    copy = tmp_path / "shards"
    shutil.copytree(shards.parent, copy)
    m = json.loads(shards.read_text())
    for key in ("target_tokens", "config_digest"):
        del m[key]
    for b in m["buckets"].values():
        del b["factor"], b["epochs"]
    entries = listed_shards(shards.parent)
    for entry in entries:
        del entry["sha256"], entry["shard"]
    (copy / "files.json").write_text(json.dumps(entries))
    (copy / "summary.json").unlink()  # the batch entry is then summed from the list
    m["batches"] = [asdict(BatchEntry.read(copy, 0, ""))]
    (copy / MANIFEST_FILE).write_text(json.dumps(m))
    assert load_dataset(copy / MANIFEST_FILE).weights == load_dataset(shards).weights
    del entries[0]["tokens"]
    (copy / "files.json").write_text(json.dumps(entries))
    with pytest.raises(DataError, match="missing key\\(s\\) tokens"):
        load_dataset(copy / MANIFEST_FILE)
    old = {k: v for k, v in m.items() if k != "batches"} | {"shards": listed_shards(shards.parent)}
    (copy / MANIFEST_FILE).write_text(json.dumps(old))
    with pytest.raises(DataError, match="one entry per shard; `gristmill run` on its output"):
        load_dataset(copy / MANIFEST_FILE)


def _with_entries(m: dict, copy: Path, entries: list[dict]) -> None:
    """The manifest ``m`` written in ``copy`` with ``entries`` as its one batch's shards."""
    batch = BatchEntry.write(copy, 0, "", [ShardEntry(**e) for e in entries])
    (copy / MANIFEST_FILE).write_text(json.dumps(m | {"batches": [asdict(batch)]}))


def test_manifest_must_fit_the_model(shards: Path, tmp_path: Path) -> None:
    data = load_dataset(shards)
    cfg = preset("tiny", data.vocab_size)
    assert cfg.vocab_size == 50304  # padded to a multiple of 64, as nanoGPT
    check_model_fits(data, cfg.vocab_size, "gpt2")
    with pytest.raises(DataError, match="embeds only 50000"):
        check_model_fits(data, 50000)
    with pytest.raises(DataError, match="trained on cl100k_base"):
        check_model_fits(data, cfg.vocab_size, "cl100k_base")

    copy = tmp_path / "shards"
    shutil.copytree(shards.parent, copy)
    m = json.loads(shards.read_text())
    entries = listed_shards(shards.parent)
    entries[0]["tokens"] += 1
    (copy / "files.json").write_text(json.dumps(entries))  # the list no longer fits the totals
    with pytest.raises(DataError, match="not the list of batch 0 that the manifest holds"):
        load_dataset(copy / MANIFEST_FILE)
    _with_entries(m, copy, entries)  # list and totals agree, the shard's header does not
    with pytest.raises(DataError, match=r"header says .* tokens, the manifest .*different runs"):
        load_dataset(copy / MANIFEST_FILE)
    m = json.loads(shards.read_text()) | {"vocab_size": 100277}
    (copy / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(DataError, match="do not match tokenizer gpt2"):
        load_dataset(copy / MANIFEST_FILE)


def test_many_shards_train_within_a_small_open_file_limit(shards: Path, tmp_path: Path) -> None:
    """A year of nightly crawls is hundreds of thousands of shards. The trainer holds none of
    them open: 400 shards (links to the real ones) load and sample under a limit of 64 open
    files, where mapping each shard and its index took two descriptors a shard."""
    copy = tmp_path / "shards"
    copy.mkdir()
    m = json.loads(shards.read_text())
    listed = listed_shards(shards.parent)
    entries = []
    for k in range(400):
        entry = listed[k % len(listed)]
        name = f"copy-{k:04d}.bin"
        os.link(shards.parent / entry["path"], copy / name)
        os.link(shards.parent / Path(entry["path"]).with_suffix(".idx"), copy / f"copy-{k:04d}.idx")
        entries.append(entry | {"path": name})
    _with_entries(m, copy, entries)
    script = (
        "import resource, sys\n"
        "from gristmill.trainer.data import WindowSampler, load_dataset\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "data = load_dataset(sys.argv[1])\n"
        "for align in (False, True):\n"
        "    sampler = WindowSampler(data, 'train', 64, 32, 0, align_to_docs=align)\n"
        "    for _ in range(20):\n"
        "        x, y = sampler.next_batch()\n"
        "print(len(data.shards), len({w.shard for w in sampler.windows(0)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(copy / MANIFEST_FILE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded, touched = map(int, result.stdout.split())
    assert loaded == 400 and touched > 16  # one batch reads from many shards


def test_a_damaged_index_or_a_changed_shard_is_refused(shards: Path, tmp_path: Path) -> None:
    copy = tmp_path / "shards"
    shutil.copytree(shards.parent, copy)
    # A shard of short documents: most of its aligned windows start at a document's start.
    listed = listed_shards(shards.parent)
    entry = next(e for e in listed if (e["split"], e["bucket"]) == ("train", "short"))
    index = (copy / entry["path"]).with_suffix(".idx")
    starts = read_index(index).copy()
    index.write_bytes(starts[:-1].tobytes())  # a document short
    with pytest.raises(DataError, match=f"index of {len(starts) - 1} documents"):
        load_dataset(copy / MANIFEST_FILE)
    index.unlink()
    with pytest.raises(DataError, match="index of 0 documents"):
        load_dataset(copy / MANIFEST_FILE)
    moved = starts.copy()
    moved[1:-1] += 1  # first and last entries right, the others one token into a document
    index.write_bytes(moved.tobytes())
    data = load_dataset(copy / MANIFEST_FILE)
    sampler = WindowSampler(data, "train", 64, 8, seed=0)
    for i in range(20):  # windows at any offset do not read the index
        sampler.read(sampler.windows(i))
    aligned = WindowSampler(data, "train", 64, 8, seed=0, align_to_docs=True)
    with pytest.raises(DataError, match=r"the token before is .*, not EOT 50256: .*damaged"):
        for i in range(200):
            aligned.read(aligned.windows(i))
    past = starts.copy()
    past[1:-1] = entry["tokens"] + 5  # first and last entries right, the others past the end
    index.write_bytes(past.tobytes())
    aligned = WindowSampler(load_dataset(copy / MANIFEST_FILE), "train", 64, 8, 0, None, True)
    with pytest.raises(DataError, match=r"at token \d+, past the shard's \d+: .*damaged"):
        for i in range(200):
            aligned.windows(i)
    index.write_bytes(starts.tobytes())
    data = load_dataset(copy / MANIFEST_FILE)
    shard = next(s for s in data.shards if s.path == str(copy / entry["path"]))
    tail = read_shard(copy / entry["path"])[-5:].tolist()
    assert shard.read(shard.tokens - 5, 5).tolist() == tail and tail[-1] == data.eot
    (copy / entry["path"]).write_bytes((copy / entry["path"]).read_bytes()[:-2])  # cut short
    with pytest.raises(DataError, match="changed since the run checked it"):
        shard.read(shard.tokens - 3, 3)
    (copy / entry["path"]).unlink()
    with pytest.raises(DataError, match="missing: changed since the run checked it"):
        shard.read(0, 3)


def test_aligned_pools_count_the_offsets_of_shards_that_hold_a_window(shards: Path) -> None:
    """Aligned windows are drawn from the same offsets as windows at any offset, by the
    manifest's counts; a shard too short for one window adds none, and a bucket of such shards
    alone has no window."""
    data = load_dataset(shards)
    ids = data.select("train", "short")
    block = min(data.shards[i].tokens for i in ids)  # the smallest shard holds no window
    longest = max(data.shards[i].tokens for i in ids)
    pool = trainer_data._pool(data, ids, block, align=True)
    assert pool.fits and pool.cumulative[-1] == sum(
        max(0, data.shards[i].tokens - block) for i in ids
    )
    assert np.array_equal(pool.cumulative, trainer_data._pool(data, ids, block, False).cumulative)
    assert not trainer_data._pool(data, ids, longest, align=True).fits
    with pytest.raises(DataError, match=r"bucket 'short' .* no window of \d+ tokens"):
        WindowSampler(data, "train", longest, 8, 0, {"short": 1.0}, align_to_docs=True)


def test_a_batch_is_checked_once_per_run(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run resumed after the next night's batch checks that batch's shards alone: the batches
    its checkpoint names as checked (by their lists' sha256, for this manifest) are trusted. A
    shard damaged since is refused where it is read. Where the file system is slow, shards are
    checked in threads, and a failure in any of them stops the load."""
    copy = tmp_path / "shards"
    shutil.copytree(shards.parent, copy)
    batch = Manifest.read(copy / MANIFEST_FILE).batches[0].sha256
    assert load_dataset(copy / MANIFEST_FILE).checked == {batch}
    last = listed_shards(copy)[-1]["path"]
    (copy / last).write_bytes((copy / last).read_bytes()[:-2])
    with pytest.raises(ShardFormatError, match=f"{last}: .*truncated"):
        load_dataset(copy / MANIFEST_FILE)
    monkeypatch.setattr(trainer_data, "SLOW_CHECK_S", 0.0)  # every file system is slow
    monkeypatch.setattr(trainer_data, "CHECK_RUN", 1)  # and each shard a thread's task
    with pytest.raises(ShardFormatError, match=f"{last}: .*truncated"):
        load_dataset(copy / MANIFEST_FILE)
    data = load_dataset(copy / MANIFEST_FILE, checked={batch})
    shard = next(s for s in data.shards if s.path == str(copy / last))
    with pytest.raises(DataError, match="changed since the run checked it"):
        shard.read(shard.tokens - 3, 3)
    ckpt = {
        "data": {"checked": {"manifest": os.path.abspath(copy / MANIFEST_FILE), "batches": [batch]}}
    }
    assert checked_batches(ckpt, copy / MANIFEST_FILE) == [batch]
    assert checked_batches(ckpt, shards) == []  # another manifest: its shards were not checked
    assert checked_batches({"data": {"tokenizer": "gpt2"}}, shards) == []  # an older checkpoint
    assert checked_batches(None, shards) == []


def test_a_passing_read_error_is_read_again(
    shards: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A read that a network file system fails for a while (EIO, a stale handle) is tried again,
    at load and in training, and gives the bytes it would have given; one that keeps failing
    stops the run naming the shard, and an error that is no passing state stops it at once."""
    calls: Counter[int] = Counter()
    failing: dict[int, int] = {}  # errno -> preads still to fail
    pread = os.pread

    def flaky(fd: int, size: int, offset: int) -> bytes:
        for code, left in failing.items():
            if left:
                failing[code] = left - 1
                calls[code] += 1
                raise OSError(code, os.strerror(code))
        return pread(fd, size, offset)

    monkeypatch.setattr(
        trainer_data, "READ_RETRIES", replace(trainer_data.READ_RETRIES, backoff_initial_s=0.0)
    )
    monkeypatch.setattr(trainer_data.LOG, "handlers", [caplog.handler])  # whatever configured
    monkeypatch.setattr(trainer_data.LOG, "propagate", False)
    plain = WindowSampler(load_dataset(shards), "train", 64, 8, seed=0, align_to_docs=True)
    expected = [plain.read(plain.windows(i)) for i in range(5)]
    monkeypatch.setattr(os, "pread", flaky)
    failing[errno.ESTALE] = 3  # at load: reads of the first shard's ends
    data = load_dataset(shards)
    sampler = WindowSampler(data, "train", 64, 8, seed=0, align_to_docs=True)
    for i, (x, y) in enumerate(expected):
        failing[errno.EIO] = 2  # a window's index entries
        windows = sampler.windows(i)
        failing[errno.EIO] = 2  # its tokens
        got_x, got_y = sampler.read(windows)
        assert np.array_equal(got_x, x) and np.array_equal(got_y, y)
    assert calls == {errno.ESTALE: 3, errno.EIO: 20}
    assert caplog.text.count("read again in") == 23
    shard = data.shards[0]
    failing[errno.EIO] = trainer_data.READ_RETRIES.max_retries + 1
    with pytest.raises(
        DataError, match=rf"{re.escape(shard.path)}: .*Input/output error, 11 tries"
    ):
        shard.read(0, 4)
    assert not failing[errno.EIO]
    calls.clear()
    failing[errno.EACCES] = 5
    with pytest.raises(DataError, match=r"cannot read it .*Permission denied"):
        shard.read(0, 4)
    assert calls[errno.EACCES] == 1


def test_model_shapes_and_flops() -> None:
    cfg = preset("gpt2", 50257)
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size) == (12, 12, 768, 1024)
    with torch.device("meta"):  # 124M parameters without allocating them
        model = GPT(cfg)
    assert round(model.num_params(non_embedding=False) / 1e6) == 124
    # nanoGPT's figure for GPT-2 124M at T=1024: 6N + 12LHQT with N = 123.6M.
    assert abs(model.flops_per_token() - (6 * 123.59e6 + 12 * 12 * 12 * 64 * 1024)) < 1e7


def test_learning_rate_schedule(tmp_path: Path) -> None:
    cfg = TrainConfig(tmp_path / "m.json", tmp_path, steps=100, lr=1e-3, warmup_steps=10)
    assert [lr_at(s, cfg) for s in (1, 5, 10)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert lr_at(55, cfg) == pytest.approx((1e-3 + 1e-4) / 2)  # halfway down the cosine
    assert lr_at(100, cfg) == pytest.approx(1e-4)  # min_lr defaults to lr / 10
    lrs = [lr_at(s, cfg) for s in range(10, 101)]
    assert lrs == sorted(lrs, reverse=True)


def test_tiny_model_loss_falls(
    shards: Path, shared_data: Path, tmp_path: Path, one_thread: None
) -> None:
    wiki = shared_data / "reference" / "wikitext-2_valid.txt"
    records = train(tiny(shards, tmp_path / "run", heldout=(wiki,), heldout_tokens=2000))
    steps = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in steps] == list(range(1, 51))
    first, last = steps[0]["loss"], np.mean([r["loss"] for r in steps[-5:]])
    assert first > 10.0  # about ln(50304): the untrained model guesses uniformly
    assert last < first - 2.5, (first, last)
    val = [r for r in records if r["split"] == "val"]
    assert [r["step"] for r in val] == [25, 50]
    assert set(val[0]["buckets"]) == {"long", "short"}
    assert val[1]["loss"] < val[0]["loss"]
    assert [r["tokens"] for r in val] == [25 * 4 * 64, 50 * 4 * 64]
    heldout = [r for r in records if r["split"] == "heldout"]
    assert [(r["step"], r["set"]) for r in heldout] == [
        (25, "wikitext-2_valid"),
        (50, "wikitext-2_valid"),
    ]
    # Web pages carry over to Wikipedia text: well below the untrained model's loss. (Whether
    # it still falls between steps 25 and 50 of this tiny run turns on which pages it trained on.)
    assert all(r["loss"] < first - 0.5 for r in heldout), heldout
    assert all(r["tokens_per_s"] > 0 and r["mfu"] is None for r in steps)
    logged = [
        json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    assert logged == records
    assert sorted(p.name for p in (tmp_path / "run").glob("ckpt-*")) == [
        "ckpt-0000025.pt",
        "ckpt-0000050.pt",
    ]


def test_heldout_sets_are_scored_whole(shared_data: Path) -> None:
    """Every token of a held-out set is a target once; loss and bits per byte are the summed
    cross-entropy over the targets and over the documents' bytes."""
    wiki = load_heldout(shared_data / "reference" / "wikitext-2_valid.txt", "gpt2", 3000)
    lines = [x.strip() for x in (shared_data / "reference" / "wikitext-2_valid.txt").open()]
    docs = [x for x in lines if x][: wiki.documents]
    assert wiki.name == "wikitext-2_valid" and 0 < wiki.documents < len([x for x in lines if x])
    assert len(wiki.stream) <= 3000 and wiki.bytes == sum(len(d.encode()) for d in docs)
    eot = 50256
    assert wiki.stream[0] == wiki.stream[-1] == eot
    assert int((wiki.stream == eot).sum()) == wiki.documents + 1
    windows = wiki.windows(64)
    assert sum(len(y) for _, y in windows) == len(wiki.stream) - 1
    assert np.array_equal(np.concatenate([y for _, y in windows]), wiki.stream[1:])
    assert all(np.array_equal(x[1:], y[:-1]) for x, y in windows)
    # A benchmark file: one document per example.
    lambada = load_heldout(shared_data / "benchmarks" / "lambada_openai_test.jsonl", "gpt2")
    examples = sum(1 for line in (shared_data / "benchmarks" / "lambada_openai_test.jsonl").open())
    assert lambada.documents == examples

    torch.manual_seed(0)
    model = GPT(preset("tiny", 50257)).eval()
    got = evaluate_heldout(model, wiki, 64, 5, torch.device("cpu"), contextlib.nullcontext())
    nats = targets = 0.0
    with torch.no_grad():
        for x, y in windows:
            logits, _ = model(torch.from_numpy(x)[None], None)
            nats += F.cross_entropy(logits[0], torch.from_numpy(y), reduction="sum").item()
            targets += len(y)
    assert got["loss"] == pytest.approx(nats / targets, rel=1e-6)
    assert got["bpb"] == pytest.approx(nats / math.log(2) / wiki.bytes, rel=1e-6)
    assert 10.0 < got["loss"] < 11.5  # about ln(50304): an untrained model


def test_resume_is_bit_identical(shards: Path, tmp_path: Path, one_thread: None) -> None:
    settings = {"steps": 8, "checkpoint_interval": 4, "eval_interval": 4, "grad_accum": 2}
    whole = train(tiny(shards, tmp_path / "whole", **settings))
    resumed = train(
        tiny(
            shards, tmp_path / "resumed", resume=tmp_path / "whole" / "ckpt-0000004.pt", **settings
        )
    )

    def losses(records: list[dict], after: int) -> list[tuple[int, str, float]]:
        return [(r["step"], r["split"], r["loss"]) for r in records if r["step"] > after]

    assert losses(resumed, 0) == losses(whole, 4)
    a = torch.load(tmp_path / "whole" / "ckpt-0000008.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "ckpt-0000008.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["sampler"] == b["sampler"] == {"seed": 1337, "batches": 16}
    checked = {"manifest": os.path.abspath(shards), "batches": sorted(load_dataset(shards).checked)}
    assert a["data"]["checked"] == b["data"]["checked"] == checked
    opt_a, opt_b = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in opt_a:
        assert all(torch.equal(opt_a[i][k], opt_b[i][k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    # A run that died after its checkpoint at step 4 had logged steps 5-8: resumed in its own
    # folder, each step is in the log once, as the resumed run took it.
    train(
        tiny(shards, tmp_path / "whole", resume=tmp_path / "whole" / "ckpt-0000004.pt", **settings)
    )
    lines = (tmp_path / "whole" / "log.jsonl").read_text().splitlines()
    logged = [(r["step"], r["split"]) for r in map(json.loads, lines)]
    assert sorted(logged) == sorted(set(logged)) and [s for s, k in logged if k == "train"] == [
        *range(1, 9)
    ]


def test_a_resume_keeps_its_settings_its_schedule_and_its_token_count(
    shards: Path, tmp_path: Path
) -> None:
    """A resume that changes the model's, the optimizer's or the sampler's settings is refused
    (the checkpoint's would be used without a word); one with more steps keeps the schedule of
    the run's first start and goes on at min_lr; tokens are counted as they were trained."""
    first = tiny(shards, tmp_path / "run", steps=4, warmup_steps=1, checkpoint_interval=4)
    train(first)
    resume = {"resume": "latest", "warmup_steps": 1}
    for changed, named in (
        ({"weight_decay": 0.0}, "--weight-decay 0.0 (the checkpoint's: 0.1)"),
        ({"beta2": 0.999}, "--beta2 0.999 (the checkpoint's: 0.95)"),
        ({"block_size": 32}, "--block-size 32"),
        ({"align_to_docs": True}, "--align-to-docs True"),
    ):
        with pytest.raises(UsageError, match=re.escape(named)):
            train(tiny(shards, tmp_path / "run", steps=6, **resume, **changed))
    block = torch.load(tmp_path / "run" / "ckpt-0000004.pt")["model_config"]["block_size"]
    longer = train(
        tiny(shards, tmp_path / "run", steps=6, batch_size=2, block_size=block, **resume)
    )
    steps = {r["step"]: r for r in longer if r["split"] == "train"}
    assert steps[5]["lr"] == steps[6]["lr"] == pytest.approx(first.lr / 10)  # decayed at 4
    per_step = {4: 4 * block, 2: 2 * block}  # sequences x block, one rank
    assert [steps[k]["tokens"] for k in (5, 6)] == [
        4 * per_step[4] + k * per_step[2] for k in (1, 2)
    ]
    again = tiny(shards, tmp_path / "again", steps=4, warmup_steps=1, checkpoint_interval=4)
    train(again)
    redecayed = train(replace(again, steps=8, decay_steps=8, resume="latest"))
    lrs = [r["lr"] for r in redecayed if r["split"] == "train"]
    assert lrs == [pytest.approx(lr_at(k, replace(again, steps=8))) for k in range(5, 9)]
    assert lrs[0] > lrs[-1] == pytest.approx(first.lr / 10)


def test_fp16_trains_with_loss_scaling_and_resumes_exactly(
    shards: Path, tmp_path: Path, one_thread: None
) -> None:
    """fp16, as a GPU without bf16 trains: the loss scaler is used, saved and restored, so a
    resumed run takes the steps the whole run took."""
    # fp16 runs emulated on a CPU, slowly: few steps of two sequences.
    settings = {
        "steps": 4, "checkpoint_interval": 2, "eval_interval": 2, "precision": "fp16",
        "batch_size": 2,
    }  # fmt: skip
    whole = train(tiny(shards, tmp_path / "whole", **settings))
    resumed = train(
        tiny(
            shards, tmp_path / "resumed", resume=tmp_path / "whole" / "ckpt-0000002.pt", **settings
        )
    )
    train_losses = [r["loss"] for r in whole if r["split"] == "train"]
    assert all(math.isfinite(v) for v in train_losses) and train_losses[-1] < train_losses[0]
    ckpt = torch.load(tmp_path / "whole" / "ckpt-0000004.pt", weights_only=True)
    assert ckpt["scaler"]["scale"] > 1  # loss scaling on
    later = [(r["step"], r["split"], r["loss"]) for r in whole if r["step"] > 2]
    assert [(r["step"], r["split"], r["loss"]) for r in resumed] == later
    with pytest.raises(ValueError, match="precision must be one of"):
        tiny(shards, tmp_path / "x", precision="fp8")


def test_gpu_check_runs_on_cpu(shards: Path, tmp_path: Path, one_thread: None) -> None:
    """The GPU check's CPU path (the tiny preset): figures from the steady part of the run; no
    MFU without a known peak, and with one given, MFU = FLOPs per token x tokens/s / peak."""
    from gristmill.trainer import gpu_check
    from gristmill.trainer.hardware import peak_for_name

    args = ["--manifest", str(shards), "--steps", "10", "--out", str(tmp_path / "a")]
    assert gpu_check.main(args) == 0
    result = json.loads((tmp_path / "a" / "gpu_check.json").read_text())
    assert (result["device"], result["preset"], result["compile"]) == ("cpu", "tiny", False)
    assert result["tokens_per_s"] > 0 and result["intervals"] >= 5 and result["mfu"] is None
    args = [*args[:-1], str(tmp_path / "b"), "--peak-flops", "1e12", "--batch-size", "2"]
    assert gpu_check.main(args) == 0
    given = json.loads((tmp_path / "b" / "gpu_check.json").read_text())
    assert given["tokens_per_step"] == result["tokens_per_step"] // 2  # 2 sequences, not 4
    model = GPT(preset("tiny", load_dataset(shards).vocab_size))
    expected = model.flops_per_token() * given["tokens_per_s"] / 1e12
    assert given["mfu"] == pytest.approx(expected, rel=0.2)  # medians of two series
    assert peak_for_name("NVIDIA H100 PCIe") == 756.5e12
    assert peak_for_name("NVIDIA H100 80GB HBM3") == peak_for_name("NVIDIA H200") == 989.4e12
    assert peak_for_name("NVIDIA GeForce GTX 1080") is None  # not measured against another chip
    # Whole names: an L40 is no L4, an L40S no L40.
    assert [peak_for_name(f"NVIDIA {n}") for n in ("L4", "L40", "L40S", "GH200 480GB")] == [
        121e12,
        181.05e12,
        362.05e12,
        989.4e12,
    ]
