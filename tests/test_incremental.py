"""Scheduled, incremental runs: the ledger, new batches deduplicated against earlier ones, re-runs
that do only what is missing, and a stage done again when its configuration changes."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from gristmill.jobs import ingest
from gristmill.jobs import run as run_job
from gristmill.jobs.batches import plan_batch
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import (
    Ledger,
    LedgerError,
    crawl_manifest,
    describe_input,
)
from gristmill.pipeline.manifest import BatchEntry
from tests.conftest import listed_shards

BASE = {"quality": {"classifier": {"mode": "off"}}, "tokenize": {"shard_tokens": 50_000}}


def incremental_run(spark, inputs, out: Path, max_files=None, **overrides) -> dict:
    cfg = config_from_dict({**BASE, **overrides})
    uris = ingest.resolve_uris([str(p) for p in inputs], cfg)
    return run_job.run_pipeline(spark, out, cfg, uris, max_files=max_files)


def change_words(payload: bytes, text: str, words: int = 3) -> bytes:
    """Change ``words`` words of the page's main text, each one seen once in the text, so the
    extracted text differs from the original by exactly that much."""
    changed = 0
    for word in dict.fromkeys(text.split()):
        if changed == words:
            break
        token = f" {word} "
        once = text.count(token) == 1 and payload.count(token.encode()) == 1
        if len(word) >= 6 and word.isalpha() and once:
            payload = payload.replace(token.encode(), f" {word[::-1]} ".encode())
            changed += 1
    assert changed == words, "no words to change"
    return payload


def copies_warc(source: Path, exact: set[str], near: dict[str, str], path: Path) -> None:
    """A new crawl file re-serving some pages: ``exact`` byte for byte, ``near`` (url: text) with
    a few words changed, each under a new record id and URL (as a mirror site would)."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        with source.open("rb") as raw:
            for k, rec in enumerate(ArchiveIterator(raw)):
                url = rec.rec_headers.get_header("WARC-Target-URI")
                if rec.rec_type != "response" or url not in exact | near.keys():
                    continue
                payload = rec.content_stream().read()
                if url in near:
                    payload = change_words(payload, near[url])
                headers = StatusAndHeaders(
                    "200 OK",
                    [("Content-Type", rec.http_headers.get_header("Content-Type") or "text/html")],
                    protocol="HTTP/1.1",
                )
                writer.write_record(
                    writer.create_warc_record(
                        f"https://mirror.example/{k}",
                        "response",
                        payload=io.BytesIO(payload),
                        http_headers=headers,
                    )
                )


def night_one_files(out: Path) -> dict[str, list]:
    """(inode, mtime, bytes) of batch 1's shard files and of the card's token count of it."""
    files = [*(out / "shards" / "batch=00001").iterdir(), out / "card/tokens/batch=00001.json"]
    return {p.name: [p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes().hex()] for p in files}


@pytest.fixture(scope="module")
def two_batches(spark, shared_data, tmp_path_factory):
    """Batch 1: one real-page WARC. Batch 2: a mirror of six of its kept pages, three exact and
    three with three words changed."""
    root = tmp_path_factory.mktemp("incremental")
    out = root / "out"
    first = shared_data / "warc" / "realpages-00004.warc.gz"
    incremental_run(spark, [first], out)
    (root / "batch1-shards.json").write_text(json.dumps(night_one_files(out)))
    kept = pq.read_table(out / "documents", columns=["url", "text", "n_words"]).to_pylist()
    long = sorted((d["url"], d["text"]) for d in kept if d["n_words"] > 400)
    exact, near = {u for u, _ in long[:3]}, dict(long[3:6])
    mirror = root / "mirror.warc.gz"
    copies_warc(first, exact, near, mirror)
    stats = incremental_run(spark, [first, mirror], out)
    return out, first, mirror, exact, near, stats


def test_second_batch_holds_only_new_inputs(two_batches):
    out, first, mirror, *_ = two_batches
    ledger = json.loads(Layout(out).ledger.read_text())
    inputs = Ledger.load(out).inputs
    assert [[i["uri"] for i in inputs(b)] for b in (1, 2)] == [[str(first)], [str(mirror)]]
    described = inputs(2)[0]
    assert described["size"] == mirror.stat().st_size
    assert described["checksum"] == "sha256:" + hashlib.sha256(mirror.read_bytes()).hexdigest()
    for batch in ledger["batches"]:
        assert set(batch["stages"]) == {"ingest", "quality", "dedup", "decontaminate", "tokenize"}
        assert {s["why"] for s in batch["stages"].values()} == {"first run"}
    assert ledger["final"]["manifest"]["batches"] == [1, 2]


def test_a_new_batch_adds_shards_and_leaves_earlier_ones_untouched(two_batches, tmp_path):
    """Night 2 writes shards/batch=00002/ and a new manifest over both batches; not one byte,
    inode or mtime of night 1's shards changes."""
    out = two_batches[0]
    before = json.loads((out.parent / "batch1-shards.json").read_text())
    # ... and the card counted night 1's tokens once: night 2 counts its own batch only.
    assert (out / "card" / "tokens" / "batch=00002.json").is_file()
    assert night_one_files(out) == before and any(name.endswith(".bin") for name in before)
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    # Batch 2 (a mirror of pages batch 1 kept) added no document, so it lists no shard.
    listed = [
        json.loads((out / "shards" / b / "files.json").read_text())
        for b in ("batch=00001", "batch=00002")
    ]
    assert listed[0] and listed[1] == [] and listed_shards(out / "shards") == listed[0] + listed[1]
    assert [b["files"] for b in manifest["batches"]] == [
        "batch=00001/files.json",
        "batch=00002/files.json",
    ]
    train = sum(s["tokens"] for s in listed[0] if s["split"] == "train")
    assert sum(b["tokens"]["train"] for b in manifest["buckets"].values()) == train
    # The manifest is made of the batches' summaries (night 2 read night 1's, not its list);
    # a batch written before there were summaries is summed from its list, to the same entry.
    folders = [out / "shards" / b for b in ("batch=00001", "batch=00002")]
    assert manifest["batches"] == [json.loads((f / "summary.json").read_text()) for f in folders]
    bare = tmp_path / "batch=00001"
    shutil.copytree(folders[0], bare)
    (bare / "summary.json").unlink()
    summed = BatchEntry.read(bare, 1, "batch=00001/")
    assert summed == BatchEntry.read(folders[0], 1, "batch=00001/")
    assert summed.shards == len(listed[0]) and summed.tokens["all"]["train"] == train


def test_a_manifest_of_every_shard_is_written_anew_by_the_next_run(spark, two_batches, tmp_path):
    """An output whose manifest an earlier gristmill wrote (every shard listed, the manifest
    stage recorded under the configuration's digest alone): the next run, with no new input and
    the same configuration, writes the manifest of batches; no batch is redone."""
    out, first, mirror, *_ = two_batches
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    manifest = json.loads(Layout(copy).manifest.read_text())
    old = {k: v for k, v in manifest.items() if k != "batches"}
    Layout(copy).manifest.write_text(json.dumps(old | {"shards": listed_shards(out / "shards")}))
    ledger = json.loads(Layout(copy).ledger.read_text())
    ledger["final"]["manifest"]["digest"] = config_from_dict(BASE).digest()
    Layout(copy).ledger.write_text(json.dumps(ledger))
    incremental_run(spark, [first, mirror], copy)
    assert json.loads(Layout(copy).manifest.read_text()) == manifest
    stages = json.loads(Layout(copy).ledger.read_text())["batches"]
    assert stages == json.loads(Layout(out).ledger.read_text())["batches"]


def test_new_batch_is_deduplicated_against_earlier_batches(two_batches):
    out, _first, _mirror, exact, near, stats = two_batches
    dedup = pq.read_table(out / "stages" / "dedup" / "batch=00002").to_pylist()
    reasons = {r["url"]: r["drop_reason"] for r in dedup}
    mirrored = {r["url"] for r in dedup}
    assert len(mirrored) == 6
    assert sorted(reasons.values()) == ["exact_duplicate"] * 3 + ["fuzzy_duplicate"] * 3
    earlier = stats["stages"]["dedup"]["dedup"]["against_earlier"]
    assert earlier == {"exact_duplicates": 3, "fuzzy_duplicates": 3}
    urls = {r["url"] for r in pq.read_table(out / "documents", columns=["url"]).to_pylist()}
    assert exact | near.keys() <= urls and not mirrored & urls
    clusters = pq.read_table(out / "dedup" / "clusters" / "batch=00002").to_pylist()
    assert {c["doc_id"] for c in clusters if c["earlier"]} and all(
        c["kept"] == c["earlier"] for c in clusters
    )
    # Summed over the nights, a document in a cluster counts once: in the night it came in.
    every = pq.read_table(out / "dedup" / "clusters").to_pylist()
    assert (
        stats["stages"]["dedup"]["dedup"]["docs_in_clusters"]
        == len({c["doc_id"] for c in every if not c["earlier"]})
        < len(every)
    )


def test_exact_dedup_alone_drops_what_earlier_batches_kept(spark, two_batches, tmp_path):
    """With near-duplicate dedup off, each batch is deduplicated exactly, within itself and
    against the texts earlier batches kept: the mirror's exact copies go and are counted
    against the earlier batch, its near copies (a few words changed) stay."""
    out, first, mirror, *_ = two_batches
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    stats = incremental_run(spark, [first, mirror], copy, dedup={"fuzzy": False})
    dedup = pq.read_table(copy / "stages" / "dedup" / "batch=00002").to_pylist()
    assert Counter(r["drop_reason"] for r in dedup) == {"exact_duplicate": 3, None: 3}
    second = json.loads((copy / "stages" / "dedup" / "batch=00002" / "_stats.json").read_text())
    assert second["dedup"] == {
        "against_earlier": {"exact_duplicates": 3},
        "exact_duplicates": 3,
        "fuzzy_duplicates": 0,
    }
    assert stats["stages"]["dedup"]["dedup"]["against_earlier"]["exact_duplicates"] == 3


def test_funnel_sums_over_batches(two_batches):
    out, *_rest, stats = two_batches
    ingest = stats["stages"]["ingest"]
    per_batch = [
        json.loads((out / "stages" / "ingest" / f"batch={b:05d}" / "_stats.json").read_text())
        for b in (1, 2)
    ]
    assert ingest["in"] == sum(s["in"] for s in per_batch)
    assert ingest["batches"] == [1, 2]
    assert stats["stages"]["quality"]["in"] == ingest["out"]
    assert stats["stages"]["tokenize"]["in"] == stats["stages"]["decontaminate"]["out"]


def test_rerun_does_nothing_then_redoes_only_a_changed_stage(spark, two_batches, capsys):
    out, first, mirror, *_ = two_batches
    before = json.loads(Layout(out).ledger.read_text())
    incremental_run(spark, [first, mirror], out)
    assert "nothing to do" in capsys.readouterr().out
    assert json.loads(Layout(out).ledger.read_text()) == before

    incremental_run(spark, [first, mirror], out, dedup={"verify": "text"})
    after = json.loads(Layout(out).ledger.read_text())
    for old, new in zip(before["batches"], after["batches"], strict=True):
        for stage in ("ingest", "quality"):
            assert old["stages"][stage] == new["stages"][stage]
        assert old["stages"]["dedup"]["digest"] != new["stages"]["dedup"]["digest"]
        stages = {"ingest", "quality", "dedup", "decontaminate", "tokenize"}
        assert set(new["stages"]) == stages
    # The ledger says why each stage ran again.
    one, two = (b["stages"] for b in after["batches"])
    assert one["dedup"]["why"].startswith("configuration changed (digest ")
    assert one["tokenize"]["why"] == "dedup of batch 1 was redone"
    assert two["dedup"]["why"] == two["tokenize"]["why"] == "dedup of earlier batch 1 was redone"
    dedup = pq.read_table(out / "stages" / "dedup" / "batch=00002").to_pylist()
    assert (
        sorted(r["drop_reason"] for r in dedup) == ["exact_duplicate"] * 3 + ["fuzzy_duplicate"] * 3
    )


def test_max_files_takes_the_next_files(spark, shared_data, tmp_path):
    files = sorted((shared_data / "warc").glob("realpages-0000[0-2].warc.gz"))
    out = tmp_path / "out"
    cfg = config_from_dict(BASE)
    uris = ingest.resolve_uris([str(f) for f in files], cfg)
    ledger = Ledger.load(out)
    assert plan_batch(ledger, uris, 2, cfg) == 1
    assert plan_batch(ledger, uris, 2, cfg) == 2
    assert plan_batch(ledger, uris, 2, cfg) is None
    assert [len(ledger.inputs(b["batch"])) for b in ledger.batches] == [2, 1]
    assert Ledger.load(out).batches == ledger.batches


def test_changed_input_is_refused(tmp_path):
    warc = tmp_path / "a.warc.gz"
    warc.write_bytes(b"x" * 10)
    ledger = Ledger.load(tmp_path / "out")
    ledger.add_batch([describe_input(str(warc))])
    assert ledger.new_inputs([str(warc)]) == []
    warc.write_bytes(b"x" * 11)
    with pytest.raises(LedgerError, match="changed since batch 1"):
        ledger.new_inputs([str(warc)])


def test_marking_a_stage_makes_what_depends_on_it_stale(tmp_path):
    ledger = Ledger.load(tmp_path)
    for _ in range(2):
        batch = ledger.add_batch([])
        for stage in ("ingest", "quality", "dedup", "decontaminate", "tokenize"):
            ledger.mark(batch, stage, {"in": 1, "out": 1, "dropped": {}}, "d", "first run")
    ledger.mark_final("manifest", {"in": 2, "out": 2}, "t")
    assert ledger.final_current("manifest", "t") and not ledger.final_current("manifest", "u")
    assert ledger.why(1, "dedup", "d2") == "configuration changed (digest d -> d2)"
    ledger.mark(1, "dedup", {"in": 1, "out": 1, "dropped": {}}, "d2", "test")
    assert set(ledger.batch(1)["stages"]) == {"ingest", "quality", "dedup"}
    assert set(ledger.batch(2)["stages"]) == {"ingest", "quality"}
    assert ledger.why(1, "tokenize", "d") == "dedup of batch 1 was redone"
    assert ledger.why(2, "dedup", "d") == "dedup of earlier batch 1 was redone"
    assert not ledger.final_current("manifest", "t")
    ledger.mark(2, "ingest", {"in": 1, "out": 1, "dropped": {}}, "d", "test")
    assert set(ledger.batch(2)["stages"]) == {"ingest"}


def test_a_stage_is_redone_for_what_shapes_its_output_only(shared_data, tmp_path, monkeypatch):
    """MinHash's seed shapes dedup (a seed change would otherwise match new bands against old
    ones and find nothing); a bucket's weight and the token budget shape the manifest, not the
    shards; benchmarks count by name and bytes, not by how their path was spelt."""
    from gristmill.jobs.batches import stage_digest
    from gristmill.jobs.decontaminate import load_benchmarks
    from gristmill.pipeline.errors import UsageError

    base = config_from_dict({})
    digest = {s: stage_digest(s, base, tmp_path) for s in ("dedup", "tokenize")}
    assert stage_digest("dedup", config_from_dict({"seed": 0}), tmp_path) == digest["dedup"]
    # Where the pairs are found shapes nothing: the same tables either way.
    on_spark = config_from_dict({"dedup": {"local_max_docs": 0}})
    assert stage_digest("dedup", on_spark, tmp_path) == digest["dedup"]
    assert stage_digest("dedup", config_from_dict({"seed": 3}), tmp_path) != digest["dedup"]
    verified = {
        stage_digest("dedup", config_from_dict({"dedup": {"verify": v}}), tmp_path)
        for v in ("signature", "text", "none")
    }
    assert len(verified) == 3 and digest["dedup"] in verified
    buckets = [{"name": "a", "min": {"n_chars": 100}, "weight": 3.0}, {"name": "b"}]
    mix = config_from_dict({"tokenize": {"buckets": buckets, "target_tokens": 10**9}})
    same = config_from_dict({"tokenize": {"buckets": [{**buckets[0], "weight": 1.0}, buckets[1]]}})
    assert stage_digest("tokenize", mix, tmp_path) == stage_digest("tokenize", same, tmp_path)
    assert mix.digest() != same.digest()  # the manifest is written anew
    assert stage_digest("tokenize", base, tmp_path) == digest["tokenize"]
    shards = config_from_dict({"tokenize": {"shard_tokens": 1000}})
    assert stage_digest("tokenize", shards, tmp_path) != digest["tokenize"]
    gsm = shared_data / "benchmarks" / "gsm8k_test.jsonl"
    copy = tmp_path / "elsewhere" / gsm.name
    copy.parent.mkdir()
    shutil.copy(gsm, copy)
    monkeypatch.chdir(gsm.parent)
    spelt = [load_benchmarks([p], base) for p in (gsm, f"./{gsm.name}", gsm.name, copy)]
    digests = {stage_digest("decontaminate", base, tmp_path, b) for b in spelt}
    assert len(digests) == 1 and len(load_benchmarks([gsm, f"./{gsm.name}"], base)) == 1
    with pytest.raises(UsageError, match="are both named 'gsm8k_test'"):
        load_benchmarks([gsm, copy], base)


def test_a_reselection_may_change_thresholds_not_what_scored_and_cleaned():
    """C4's lorem-ipsum, curly-bracket and sentence rules judge stored signals (a re-selection
    may change them); its line rules and the PII masking made the stored texts (it may not)."""
    from gristmill.jobs.quality import scoring_digest

    def digest(quality: dict) -> str:
        return scoring_digest(config_from_dict({"quality": quality}), {})

    base = digest({})
    assert digest({"c4": {"min_num_sentences": 3, "filter_curly_bracket": False}}) == base
    assert digest({"min_lang_score": 0.3, "gopher_quality": {"min_doc_words": 10}}) == base
    assert digest({"c4": {"min_words_per_line": 5}}) != base
    assert digest({"pii": {"emails": False}}) != base


def test_the_card_refuses_an_output_with_stages_to_run_again(tmp_path):
    """A stage run on its own (a re-selection, say) marks what follows it stale, whose tables
    are still on disk: a card then would sum new counts with stale ones."""
    import argparse

    from gristmill.jobs import card
    from gristmill.pipeline.errors import UsageError

    ledger = Ledger.load(tmp_path)
    batch = ledger.add_batch([])
    for stage in ("ingest", "quality", "dedup", "decontaminate", "tokenize"):
        ledger.mark(batch, stage, {"in": 1, "out": 1, "dropped": {}}, "d", "first run")
    ledger.save()
    Layout(tmp_path).manifest.parent.mkdir(parents=True)
    Layout(tmp_path).manifest.write_text("{}")
    args, cfg = argparse.Namespace(output=tmp_path), config_from_dict({})
    card.check(args, cfg)
    ledger.mark(batch, "quality", {"in": 1, "out": 1, "dropped": {}}, "d2", "reselect")
    ledger.save()
    with pytest.raises(UsageError, match=r"batch 1 .* \(dedup: quality of batch 1 was redone\)"):
        card.check(args, cfg)


def test_a_batch_of_a_bucket_the_config_no_longer_names_is_refused_by_name():
    """A batch tokenized on its own under other buckets than the rest: the manifest's mix names
    the batch and the bucket instead of failing on a missing key."""
    from gristmill.pipeline.manifest import ManifestError, bucket_mix

    cfg = config_from_dict({})
    tokens = {"old": {"train": 10, "val": 1}}
    batch = BatchEntry(
        batch=3, files="f.json", sha256="0" * 64, shards=1, tokens=tokens, docs=tokens
    )
    with pytest.raises(ManifestError, match="batch 3's shards hold bucket 'old'"):
        bucket_mix(cfg, [batch])


def test_crawl_id_names_the_crawl_manifest():
    url = crawl_manifest("CC-MAIN-2024-10", "https://data.commoncrawl.org/")
    assert url == "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-10/warc.paths.gz"
    with pytest.raises(LedgerError, match="not a Common Crawl id"):
        crawl_manifest("2024-10", "https://data.commoncrawl.org/")
