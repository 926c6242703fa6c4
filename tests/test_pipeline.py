"""The whole run, end to end, on the generated sample plus real pages: every stage connects, the
funnel reconciles, the planted cases come out right, and the shards are the documents."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from gristmill.filters.perplexity import cutoffs_for, read_cutoffs
from gristmill.jobs import decontaminate, ingest, tokenize_shards
from gristmill.jobs import run as run_job
from gristmill.jobs.batches import StageOptions, run_stage
from gristmill.jobs.stage_io import EVERY_KEPT_TEXT, read_kept_texts
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.shards import read_index, read_shard, split_documents
from gristmill.pipeline.stages import BATCH_STAGES
from gristmill.pipeline.tokenizer import load_encoding
from gristmill.schemas.stats import check_counts
from tests.conftest import REPO, deep_merge, listed_shards

RESELECT = StageOptions(reselect=True)


def gzip_members(path: Path) -> list[bytes]:
    """The gzip members of a per-record-gzipped WARC, one record each."""
    data, members = path.read_bytes(), []
    while data:
        d = zlib.decompressobj(wbits=31)
        d.decompress(data)
        used = len(data) - len(d.unused_data)
        members.append(data[:used])
        data = d.unused_data
    return members


def split_warc(path: Path, parts: int, where: Path) -> list[Path]:
    """Deal a WARC's records (request+response pairs stay together) round-robin into files."""
    members = gzip_members(path)
    head, pairs = members[0], [members[i : i + 2] for i in range(1, len(members), 2)]
    where.mkdir(parents=True)
    files = []
    for k in range(parts):
        out = where / f"part-{k}.warc.gz"
        out.write_bytes(head + b"".join(b"".join(p) for p in pairs[k::parts]))
        files.append(out)
    return files


def run_pipeline(spark, inputs, benchmarks, out: Path, config: dict, **overrides):
    """The whole run with a config (the demo's, see conftest) plus overrides."""
    cfg = config_from_dict(deep_merge(config, overrides))
    uris = ingest.resolve_uris([str(p) for p in inputs], cfg)
    benches = decontaminate.load_benchmarks(benchmarks, cfg)
    return run_job.run_pipeline(spark, out, cfg, uris, benchmarks=benches)


def test_funnel_connects_and_reconciles(result):
    out, stats, _expected, _docs = result
    previous = None
    for stage in BATCH_STAGES:
        counts = stats["stages"][stage]
        check_counts(stage, counts)
        if previous is not None:
            assert counts["in"] == previous, stage
        previous = counts["out"]
    assert stats["inputs"]["files"] == 2 and stats["inputs"]["failed"] == []
    assert not [p for p in out.rglob("*.tmp-*")], "temporary outputs left behind"


def test_planted_cases(result):
    out, stats, expected, docs = result
    urls = [d["url"] for d in docs]
    kept = set(urls)
    cats = expected["categories"]
    assert len(urls) == len(kept), "a URL survived twice"
    dedup = {
        r["url"]: r["drop_reason"] for r in pq.read_table(out / "stages" / "dedup").to_pylist()
    }
    pairs = 0
    for dup, source in expected["duplicate_of"].items():
        if dup in cats["exact_duplicates"] and dup in dedup and source in dedup:
            pairs += 1
            assert (dedup[dup] is None) + (dedup[source] is None) == 1, dup
    for url in cats["non_english"] + cats["non_html"] + cats["empty"]:
        assert url not in kept, url
    copies: dict[str, set[str]] = {u: {u} for u in cats["good"]}
    for dup, source in expected["duplicate_of"].items():
        if source in copies:
            copies[source].add(dup)
    assert sum(bool(c & kept) for c in copies.values()) >= 0.9 * len(cats["good"])
    assert stats["stages"]["ingest"]["dropped"]["not_html"] >= len(cats["non_html"])
    assert pairs >= len(cats["exact_duplicates"]) - 2
    assert stats["stages"]["dedup"]["dropped"]["exact_duplicate"] >= pairs
    near = 0
    for dup, source in expected["duplicate_of"].items():
        if dup in cats["near_duplicates"] and dup in dedup and source in dedup:
            near += 1
            assert (dedup[dup] is None) + (dedup[source] is None) == 1, dup
    assert near >= len(cats["near_duplicates"]) - 2
    assert stats["stages"]["dedup"]["dropped"]["fuzzy_duplicate"] >= near


def test_contamination_removed_and_reported(result, sample):
    out, _stats, expected, docs = result
    by_url = {d["url"]: d["text"] for d in docs}
    (heavy,) = expected["heavily_contaminated"]
    assert heavy not in by_url
    bench = {
        json.loads(line)["id"]: json.loads(line)
        for line in sample.benchmark.read_text().splitlines()
    }
    planted = set()
    for url, ids in expected["contamination"].items():
        planted.update(ids)
        if url != heavy:
            for i in ids:
                assert bench[i]["question"] not in by_url[url]
    report = json.loads((out / "decontamination" / "report.json").read_text())
    ours = report["benchmarks"]["sample_benchmark"]
    assert set(ours["dirty_ids"]) == planted
    assert ours["docs_dropped"] == 1 and ours["docs_touched"] == len(expected["contamination"])
    clean = (out / "decontamination" / "clean" / "sample_benchmark.jsonl").read_text()
    clean_ids = {json.loads(line)["id"] for line in clean.splitlines()}
    assert clean_ids == set(bench) - planted == set(expected["benchmark_not_planted"])
    assert report["benchmarks"]["gsm8k_test"]["examples"] == 1319


def shard_files(out: Path) -> dict[str, bytes]:
    """Every file under shards/ (each batch's folder), by its path there."""
    root = out / "shards"
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def shard_documents(out: Path) -> tuple[dict, list[str]]:
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    enc = load_encoding(manifest["tokenizer"])
    texts = []
    for shard in listed_shards(out / "shards"):
        path = out / "shards" / shard["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == shard["sha256"]
        tokens = read_shard(path)
        assert len(tokens) == shard["tokens"]
        docs = split_documents(tokens, read_index(path), manifest["eot"])
        assert len(docs) == shard["docs"]
        texts.extend(enc.decode(d.tolist()) for d in docs)
    return manifest, texts


def test_shards_decode_to_the_documents(result):
    out, stats, _expected, docs = result
    _manifest, texts = shard_documents(out)
    assert sorted(texts) == sorted(d["text"] for d in docs)
    shards = listed_shards(out / "shards")
    assert sum(s["tokens"] for s in shards) == stats["stages"]["tokenize"]["tokens"]
    assert {s["split"] for s in shards} == {"train", "val"}


def test_text_is_stored_once(result):
    """Ingest holds every text; quality and decontaminate only the texts they changed, dedup
    none; each document's final text is the latest stored one."""
    out, _stats, _expected, docs = result

    def rows(stage: str, columns: list[str]) -> dict[tuple[str, str], dict]:
        table = pq.read_table(out / "stages" / stage, columns=["doc_id", "input_file", *columns])
        return {(r["doc_id"], r["input_file"]): r for r in table.to_pylist()}

    assert "text" not in pq.read_schema(next((out / "stages" / "dedup").rglob("*.parquet"))).names
    ingest = rows("ingest", ["text"])
    quality = rows("quality", ["text", "n_chars", "drop_reason"])
    cleaned = {k for k, r in quality.items() if r["text"] is not None}
    kept = {k for k, r in quality.items() if r["drop_reason"] is None}
    assert cleaned and cleaned <= kept and len(kept) < len(quality)  # dropped rows: no text
    for key in kept:
        if key in cleaned:
            assert quality[key]["text"] != ingest[key]["text"]
        else:  # null: C4 cleaning left ingest's text as it was
            assert quality[key]["n_chars"] == len(ingest[key]["text"])
    decontaminated = rows("decontaminate", ["text", "chars_removed", "drop_reason"])
    cut = {k for k, r in decontaminated.items() if r["text"] is not None}
    assert cut and all(decontaminated[k]["chars_removed"] > 0 for k in cut)
    for doc in docs:
        key = (doc["doc_id"], doc["input_file"])
        latest = next(
            r["text"] for r in (decontaminated[key], quality[key], ingest[key]) if r["text"]
        )
        assert doc["text"] == latest


def test_text_changed_without_a_drop_is_counted(result):
    """Quality's text_changed section adds up its kept rows: C4-shortened documents and masked
    addresses; no unmasked e-mail address reaches the documents."""
    from gristmill.filters.pii import EMAIL

    out, stats, _expected, docs = result
    changed = stats["stages"]["quality"]["text_changed"]
    columns = ["c4_chars_removed", "pii_emails", "pii_ip_addresses", "drop_reason"]
    kept = [
        r
        for r in pq.read_table(out / "stages" / "quality", columns=columns).to_pylist()
        if r["drop_reason"] is None
    ]
    assert changed == {
        "c4_cleaned_documents": sum(r["c4_chars_removed"] > 0 for r in kept),
        "pii_masked_documents": sum(r["pii_emails"] + r["pii_ip_addresses"] > 0 for r in kept),
        "emails_masked": sum(r["pii_emails"] for r in kept),
        "ip_addresses_masked": sum(r["pii_ip_addresses"] for r in kept),
    }
    assert changed["c4_cleaned_documents"] > 0
    assert not [m for d in docs for m in EMAIL.findall(d["text"]) if "@example." not in m]
    card = (out / "DATASET_CARD.md").read_text()
    assert f"{changed['emails_masked']} e-mail" in card


def test_quality_buckets_and_weights(result, spark, tmp_path):
    out, _stats, _expected, docs = result
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    cfg = config_from_dict(
        {
            "tokenize": {
                "buckets": [
                    {"name": "long", "weight": 3.0, "min": {"n_words": 300}},
                    {"name": "short", "weight": 1.0},
                ],
                "target_tokens": 1_000_000,
            }
        }
    )
    tokenize_shards.check_buckets(cfg)
    run_stage("tokenize", spark, copy, cfg)
    tokenize_shards.write_manifest_stage(spark, copy, cfg)
    manifest, _texts = shard_documents(copy)
    long_ids = {d["doc_id"] for d in docs if d["n_words"] >= 300}
    table = pq.read_table(copy / "stages" / "tokenize").to_pylist()
    assert {r["doc_id"] for r in table if r["bucket"] == "long"} == long_ids
    b = manifest["buckets"]
    mass = {k: v["factor"] * v["tokens"]["train"] for k, v in b.items()}
    for name, bucket in b.items():
        assert bucket["weight"] == pytest.approx(mass[name] / sum(mass.values()))
        assert bucket["epochs"] == pytest.approx(1e6 * bucket["weight"] / bucket["tokens"]["train"])
    assert {s["bucket"] for s in listed_shards(copy / "shards")} == {"long", "short"}
    bad = config_from_dict({"tokenize": {"buckets": [{"name": "x", "min": {"perplexty": 1.0}}]}})
    with pytest.raises(UsageError, match="perplexty"):
        tokenize_shards.check_buckets(bad)


def test_quality_signals_and_perplexity_buckets(result):
    out, stats, _expected, _docs = result
    table = pq.read_table(out / "stages" / "quality").to_pandas()
    scored = table[table["lang"] == "en"].dropna(subset=["perplexity"])
    assert len(scored) > 100
    assert scored["quality_score"].between(0, 1).all()
    shares = scored["perplexity_bucket"].value_counts(normalize=True)
    assert shares["head"] == pytest.approx(0.30, abs=0.03)
    assert shares["head"] + shares["middle"] == pytest.approx(0.60, abs=0.03)
    head, middle = stats["stages"]["quality"]["perplexity_cutoffs"]["en"]
    assert (scored[scored["perplexity_bucket"] == "head"]["perplexity"] < head).all()
    assert (scored[scored["perplexity_bucket"] == "tail"]["perplexity"] >= middle).all()
    # The demo config freezes the first batch's distribution in the output, for later batches.
    frozen = read_cutoffs(out / "models" / "perplexity_cutoffs.json")
    assert cutoffs_for(frozen["languages"], 30, 60)["en"] == (head, middle)
    assert stats["stages"]["quality"]["perplexity_distribution"]["default"]["source"].startswith(
        "batch 1"
    )
    models = stats["stages"]["quality"]["models"]
    assert len(models["classifier"]["sha256"]) == len(models["perplexity"]["sha256"]) == 64


def test_pareto_reselection_is_deterministic_and_favours_high_scores(
    result, spark, demo_config, tmp_path
):
    out, _stats, _expected, _docs = result
    pareto = deep_merge(demo_config, {"quality": {"classifier": {"mode": "pareto"}}})
    decisions = []
    for partitions, where in ((1, "a"), (8, "b")):
        copy = tmp_path / where
        shutil.copytree(out / "stages", copy / "stages")
        shutil.copy(Layout(out).ledger, Layout(copy).ledger)
        spark.conf.set(
            "spark.sql.files.maxPartitionBytes", str(1 << 14 if partitions > 1 else 1 << 30)
        )
        try:
            stats = run_stage("quality", spark, copy, config_from_dict(pareto), options=RESELECT)
        finally:
            spark.conf.unset("spark.sql.files.maxPartitionBytes")
        assert stats["reselected"] is True
        rows = pq.read_table(copy / "stages" / "quality").to_pandas().set_index("doc_id")
        decisions.append(rows.sort_index())
    a, b = decisions
    assert a["drop_reason"].fillna("").equals(b["drop_reason"].fillna(""))
    assert a["quality_score"].equals(b["quality_score"])  # stored, not rescored
    rejected = a[a["drop_reason"] == "classifier_rejected"]["quality_score"]
    kept = a[a["drop_reason"].isna()]["quality_score"]
    assert len(rejected) > 0 and kept.mean() > rejected.mean()


def test_demo_classifier_selects_in_pareto_mode(result, spark, sample, demo_config, tmp_path):
    """``make demo``'s recipe: the classifier trained on the sample's reference prose against
    its crawl-like negatives, then configs/demo.yaml's selection (GPT-3's Pareto default)."""
    from gristmill.jobs import train_quality

    assert (
        "mode"
        not in yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())["quality"]["classifier"]
    ), "the demo runs the classifier in its default mode"
    model = tmp_path / "quality"
    sides = ["--positive", str(sample.reference), "--negative", str(sample.negative)]
    train_quality.main([*sides, "--out", str(model)])
    out, _stats, expected, _docs = result
    copy = tmp_path / "copy"
    shutil.copytree(out / "stages", copy / "stages")
    shutil.copy(Layout(out).ledger, Layout(copy).ledger)
    demo = deep_merge(demo_config, {"quality": {"classifier": {"model": str(model / "model.bin")}}})
    del demo["quality"]["classifier"]["mode"]
    stats = run_stage("quality", spark, copy, config_from_dict(demo))
    reasons = {
        r["url"]: r["drop_reason"] for r in pq.read_table(copy / "stages" / "quality").to_pylist()
    }
    cats = expected["categories"]
    low = [reasons[u] for u in cats["low_quality"]]
    # The heuristics keep them all; the classifier leaves (nearly) all of them out.
    assert set(low) <= {None, "classifier_rejected"} and low.count(None) <= 1, low
    good = [reasons[u] for u in cats["good"] if u in reasons]
    rejected = good.count("classifier_rejected")
    assert good.count(None) >= 0.65 * len(good) and rejected <= 0.3 * len(good), (rejected, good)
    assert stats["dropped"]["classifier_rejected"] >= len(low) + rejected


def test_reselection_restores_the_cleaned_text_of_revived_documents(
    result, spark, demo_config, tmp_path
):
    """A dropped document's cleaned text is not stored; kept by a re-selection, it gets it. The
    batch that froze the perplexity cut-offs scored every document; a later one does not score
    those in a language the selection drops, and a re-selection that admits their language
    scores them, as a full run would, against the same frozen cut-offs."""
    out, _stats, _expected, _docs = result
    loose = deep_merge(demo_config, {"quality": {"languages": [], "min_lang_score": 0.0}})
    frozen = pq.read_table(out / "stages" / "quality").to_pandas().set_index("doc_id")
    assert frozen["n_chars"].notna().all()

    def copied(name: str) -> Path:
        copy = tmp_path / name
        for folder in ("stages", "models"):  # the cut-offs frozen: no batch freezes them again
            shutil.copytree(out / folder, copy / folder)
        shutil.copy(Layout(out).ledger, Layout(copy).ledger)
        return copy

    def quality(root: Path) -> pd.DataFrame:
        return pq.read_table(root / "stages" / "quality").to_pandas().set_index("doc_id")

    gated = copied("gated")
    run_stage("quality", spark, gated, config_from_dict(demo_config))
    before = quality(gated)
    by_language = before["drop_reason"].isin(["lang_not_allowed", "lang_score_low"])
    assert by_language.sum() > 0 and before.loc[by_language, "n_chars"].isna().all()
    assert before.loc[~by_language, "n_chars"].notna().all()
    signals = ["drop_reason", "n_chars", "gopher_words", "quality_score", "perplexity_bucket"]
    scored = before.index[~by_language]
    same = functools.partial(pd.testing.assert_frame_equal, check_dtype=False)  # ints with nulls
    same(before.loc[scored, signals].sort_index(), frozen.loc[scored, signals].sort_index())
    assert before["drop_reason"].sort_index().equals(frozen["drop_reason"].sort_index())
    reselected = tmp_path / "reselected"
    shutil.copytree(gated, reselected)
    run_stage("quality", spark, reselected, config_from_dict(loose), options=RESELECT)
    after = quality(reselected)
    revived = after[
        after["drop_reason"].isna() & before["drop_reason"].reindex(after.index).notna()
    ]
    assert revived["text"].notna().sum() > 0
    assert after["n_chars"].notna().all() and after["gopher_words"].notna().all()
    full = copied("full")
    run_stage("quality", spark, full, config_from_dict(loose))
    rescored = quality(full)
    signals += ["c4_sentences", "perplexity", "text"]
    same(after[signals].sort_index(), rescored[signals].sort_index())
    ingest = pq.read_table(out / "stages" / "ingest").to_pandas().set_index("doc_id")
    for doc_id, row in after[after["drop_reason"].isna()].iterrows():
        text = row["text"] if row["text"] is not None else ingest.loc[doc_id, "text"]
        assert len(text) == row["n_chars"], doc_id
    # Other line rules (or models, lists, PII masking) than the stored scores came from: a
    # re-selection would mix two, and is refused.
    recleaned = deep_merge(loose, {"quality": {"c4": {"min_words_per_line": 5}}})
    with pytest.raises(UsageError, match="scored with other models, lists, C4 line rules"):
        run_stage("quality", spark, reselected, config_from_dict(recleaned), options=RESELECT)


def test_later_stages_read_texts_from_quality_not_ingest(result, spark, tmp_path):
    """The quality table stores every kept document's text, so the later stages' texts come
    without the ingest table (here removed); a quality table written before it did (texts of
    unchanged documents null, no flag in its stats) still gets them from ingest."""
    out, _stats, _expected, _docs = result

    def texts(root: Path, stage: str) -> dict[str, str]:
        df = read_kept_texts(spark, root, stage, [1]).select("doc_id", "text")
        return dict(df.toPandas().itertuples(index=False, name=None))

    expected = {s: texts(out, s) for s in ("quality", "dedup", "decontaminate")}
    assert all(v is not None for v in expected["decontaminate"].values())
    without_ingest = tmp_path / "without-ingest"
    shutil.copytree(
        out / "stages", without_ingest / "stages", ignore=shutil.ignore_patterns("ingest")
    )
    assert {s: texts(without_ingest, s) for s in expected} == expected

    older = tmp_path / "older"
    shutil.copytree(out / "stages", older / "stages")
    quality = older / "stages" / "quality" / "batch=00001"
    stats = json.loads((quality / "_stats.json").read_text())
    del stats[EVERY_KEPT_TEXT]
    (quality / "_stats.json").write_text(json.dumps(stats))
    # Every kept text of the sample changed in cleaning: make every other one a text that
    # cleaning left as it was, stored in ingest only.
    moved: dict[str, str] = {}
    for part in sorted(quality.glob("*.parquet")):
        table = pq.read_table(part)
        stored = table.column("text").to_pylist()
        for i, doc_id in enumerate(table.column("doc_id").to_pylist()):
            if stored[i] is not None and len(moved) % 2 == 0:
                moved[doc_id], stored[i] = stored[i], None
            elif stored[i] is not None:
                moved[f"kept {doc_id}"] = stored[i]
        index = table.schema.get_field_index("text")
        pq.write_table(table.set_column(index, "text", pa.array(stored, pa.string())), part)
        part.with_name(f".{part.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum
    for part in (older / "stages" / "ingest").rglob("*.parquet"):
        table = pq.read_table(part)
        column = [
            moved.get(d, t)
            for d, t in zip(table["doc_id"].to_pylist(), table["text"].to_pylist(), strict=True)
        ]
        index = table.schema.get_field_index("text")
        pq.write_table(table.set_column(index, "text", pa.array(column, pa.string())), part)
        part.with_name(f".{part.name}.crc").unlink(missing_ok=True)
    assert sum(not k.startswith("kept ") for k in moved) > 10
    assert {s: texts(older, s) for s in expected} == expected


def test_join_path_decontaminates_like_the_broadcast_path(result, spark, demo_config, tmp_path):
    out, _stats, _expected, _docs = result
    copy = tmp_path / "copy"
    shutil.copytree(out / "stages", copy / "stages")
    shutil.copy(Layout(out).ledger, Layout(copy).ledger)
    joined = deep_merge(demo_config, {"decontaminate": {"broadcast_max_ngrams": 0}})
    cfg = config_from_dict(joined)
    benches = decontaminate.load_benchmarks(_benchmarks(out), cfg)
    run_stage("decontaminate", spark, copy, cfg, options=StageOptions(benchmarks=benches))
    for name in ("stages/decontaminate", "decontamination/report.json"):
        if name.endswith(".json"):
            a = json.loads((out / name).read_text())
            b = json.loads((copy / name).read_text())
            assert a["benchmarks"] == b["benchmarks"]
        else:
            cols = ["doc_id", "text", "drop_reason", "chars_removed", "benchmarks_matched"]
            a = pq.read_table(out / name, columns=cols).to_pandas().sort_values("doc_id")
            b = pq.read_table(copy / name, columns=cols).to_pandas().sort_values("doc_id")
            assert a.reset_index(drop=True).astype(str).equals(b.reset_index(drop=True).astype(str))


def _benchmarks(out: Path) -> list[str]:
    report = json.loads((out / "decontamination" / "report.json").read_text())
    return [b["path"] for b in report["benchmarks"].values()]


def test_same_shards_whatever_the_partitioning(
    result, spark, sample, shared_data, demo_config, tmp_path
):
    out, _stats, _expected, _docs = result
    parts = split_warc(sample.warc, 3, tmp_path / "parts")
    inputs = [*parts, shared_data / "warc" / "realpages-00004.warc.gz"]
    benchmarks = [sample.benchmark, shared_data / "benchmarks" / "gsm8k_test.jsonl"]
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        run_pipeline(
            spark, inputs, benchmarks, tmp_path / "again", demo_config, ingest={"batch_size": 7}
        )
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "4")
    first, second = shard_files(out), shard_files(tmp_path / "again")
    assert first.keys() == second.keys() and "batch=00001/files.json" in first
    for name, data in first.items():
        assert data == second[name], name
