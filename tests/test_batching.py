"""The same answers however the inputs were batched: quality signals, perplexity buckets (cut
from a frozen distribution) and decontamination cuts ("too common" counted over every batch) of
each document do not depend on the night it arrived."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gristmill.jobs import decontaminate, ingest
from gristmill.jobs import run as run_job
from gristmill.jobs.stage_io import read_stage_stats
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.lm_text import detokenize_wikitext
from gristmill.pipeline.warc import read_records
from tests.conftest import deep_merge
from tests.test_documents import write_warc
from tests.test_pipeline import split_warc

DECONTAMINATION = ("contaminated_ngrams", "chars_removed", "benchmarks_matched", "drop_reason")


def run_batches(spark, inputs, benchmarks, out: Path, config: dict, max_files=None) -> None:
    """gristmill run over ``inputs``, as one batch or, with max_files, night after night."""
    cfg = config_from_dict(config)
    nights = -(-len(inputs) // max_files) if max_files else 1
    uris = ingest.resolve_uris([str(p) for p in inputs], cfg)
    benches = decontaminate.load_benchmarks(benchmarks, cfg)
    for _ in range(nights):
        run_job.run_pipeline(spark, out, cfg, uris, benchmarks=benches, max_files=max_files)


def by_doc(out: Path, stage: str) -> dict[str, dict]:
    """A stage's rows by doc_id, NaN spelled out so that equal rows compare equal."""
    rows = pq.read_table(out / "stages" / stage).to_pylist()
    return {
        r["doc_id"]: {k: "nan" if v != v else v for k, v in r.items() if k != "batch"} for r in rows
    }


def test_one_batch_and_three_batches_give_the_same_answers(spark, sample, demo_config, tmp_path):
    parts = split_warc(sample.warc, 3, tmp_path / "parts")
    # The default cut-offs: the distribution train-lm froze beside the model.
    config = deep_merge(
        demo_config,
        {"quality": {"perplexity": {"cutoffs": None}}, "card": {"stage_tokens": False}},
    )
    whole, nightly = tmp_path / "whole", tmp_path / "nightly"
    run_batches(spark, parts, [sample.benchmark], whole, config)
    run_batches(spark, parts, [sample.benchmark], nightly, config, max_files=1)
    ledger = Ledger.load(nightly)
    assert [len(ledger.inputs(b["batch"])) for b in ledger.batches] == [1, 1, 1]

    # Stats add up over batches: three nights' sums are the one run's counts.
    for stage in ("ingest", "quality"):
        summed = read_stage_stats(nightly, stage)
        assert summed["batches"] == [1, 2, 3]
        alone = read_stage_stats(whole, stage)
        for key in ("in", "out", "dropped", "input_files", "text_changed"):
            assert summed.get(key) == alone.get(key), (stage, key)

    one, three = by_doc(whole, "quality"), by_doc(nightly, "quality")
    assert one.keys() == three.keys() and len(one) > 100
    english = [r for r in one.values() if r["lang"] == "en" and r["perplexity"] is not None]
    scored = [r for r in english if r["perplexity"] != "nan"]  # NaN: no token, no bucket
    assert scored and all(r["perplexity_bucket"] for r in scored)
    assert all(r["perplexity_bucket"] is None for r in english if r["perplexity"] == "nan")
    for doc_id, row in one.items():
        assert three[doc_id] == row, doc_id  # every signal, the bucket and the decision

    one, three = by_doc(whole, "dedup"), by_doc(nightly, "dedup")
    duplicates = {"exact_duplicate", "fuzzy_duplicate"}
    for doc_id, row in one.items():
        reasons = {row["drop_reason"], three[doc_id]["drop_reason"]}
        assert len(reasons) == 1 or reasons <= duplicates | {None}, doc_id

    one, three = by_doc(whole, "decontaminate"), by_doc(nightly, "decontaminate")
    both = one.keys() & three.keys()
    assert len(both) > 50 and any(one[d]["chars_removed"] for d in both)
    for doc_id in both:
        assert {k: one[doc_id][k] for k in (*DECONTAMINATION, "text")} == {
            k: three[doc_id][k] for k in (*DECONTAMINATION, "text")
        }, doc_id


@pytest.fixture(scope="module")
def prose(shared_data) -> list[str]:
    text = (shared_data / "reference" / "wikitext-2_valid.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in detokenize_wikitext(text).splitlines() if len(p.split()) > 60]
    return paragraphs[:12]


def test_too_common_counts_documents_over_every_batch(spark, prose, tmp_path):
    """A passage in 2 documents of batch 1 and 2 of batch 2, with too_common_docs 3: batch 1
    cuts it (2 so far), batch 2 does not (4 so far), and the running count says 4."""
    passage = " ".join(prose[11].split()[:40])
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "p1", "text": passage}) + "\n")
    files = []
    for night in range(2):
        records = []
        for k in range(2):
            i = 2 * night + k
            body = f"<p>{prose[2 * i]}</p><p>{passage}</p><p>{prose[2 * i + 1]}</p>"
            html = f"<html><body><article>{body}</article></body></html>".encode()
            records.append((f"https://site{i}.example/", "200 OK", html, "text/html"))
        files.append(tmp_path / f"night-{night}.warc.gz")
        write_warc(files[-1], records)
    off = {"enabled": False}
    config = {
        "quality": {
            "languages": [], "gopher_quality": off, "gopher_repetition": off, "c4": off,
            "fineweb": off, "classifier": {"mode": "off"},
        },
        "dedup": {"exact": False, "fuzzy": False},
        "decontaminate": {"too_common_docs": 3, "min_piece_chars": 1},
        "card": {"stage_tokens": False},
    }  # fmt: skip
    out = tmp_path / "out"
    run_batches(spark, files, [bench], out, config, max_files=1)
    rows = pq.read_table(out / "stages" / "decontaminate").to_pylist()
    cut = {r["batch"]: [] for r in rows}
    for r in rows:
        cut[r["batch"]].append(r["chars_removed"])
    assert all(c > len(passage) for c in cut[1]) and cut[2] == [0, 0]
    counts = pq.read_table(out / "decontamination" / "ngram_counts" / "batch=00002").to_pylist()
    assert counts and {c["docs"] for c in counts} == {4}
    first = pq.read_table(out / "decontamination" / "ngram_counts" / "batch=00001").to_pylist()
    assert {c["docs"] for c in first} == {2}
    report = json.loads(
        (out / "decontamination" / "batches" / "batch=00002" / "report.json").read_text()
    )
    assert report["too_common_ngrams"] == len(counts)


def real_pages(shared_data: Path, lang: str, count: int) -> list[tuple[str, str, bytes, str]]:
    """The first ``count`` real pages in ``lang`` (the manifest's label) with prose, as records
    for :func:`write_warc`."""
    with gzip.open(shared_data / "realpages.manifest.tsv.gz", "rt") as handle:
        wanted = {
            r["record_id"] for r in csv.DictReader(handle, delimiter="\t") if r["lang"] == lang
        }
    found = []
    for path in sorted((shared_data / "warc").glob("realpages-*.warc.gz")):
        for rec in read_records(str(path), 1 << 24):
            if rec.record_id in wanted and rec.payload and len(rec.payload) > 20_000:
                found.append((rec.url, "200 OK", rec.payload, "text/html; charset=utf-8"))
                if len(found) == count:
                    return found
    raise AssertionError(f"fewer than {count} {lang} pages")


def test_a_language_first_seen_in_a_later_batch_gets_its_own_cutoffs(
    spark, models, shared_data, tmp_path
):
    """With first_batch cut-offs, the first batch that holds a kept language no earlier batch
    held freezes that language's distribution: its documents get buckets, as those of the
    languages of batch 1 do, and batch 1's rows stay as they were."""
    nights = []
    for night, lang in enumerate(("en", "de")):
        nights.append(tmp_path / f"night-{night}.warc.gz")
        write_warc(nights[-1], real_pages(shared_data, lang, 4))
    config = {
        "quality": {
            "recipe": "none", "languages": ["en", "de"], "min_lang_score": 0.0,
            "perplexity": {"model": str(models["lm"]), "cutoffs": "first_batch"},
        },
        "dedup": {"exact": False, "fuzzy": False},
        "card": {"stage_tokens": False},
    }  # fmt: skip
    out = tmp_path / "out"
    run_batches(spark, nights[:1], [], out, config)
    first = by_doc(out, "quality")
    run_batches(spark, nights[1:], [], out, config)
    frozen = json.loads((out / "models" / "perplexity_cutoffs.json").read_text())
    assert sorted(frozen["languages"]) == ["de", "en"] and frozen["added"] == {"de": "batch 2"}
    rows = by_doc(out, "quality")
    german = [r for r in rows.values() if r["lang"] == "de" and r["drop_reason"] is None]
    assert len(german) >= 3 and all(r["perplexity_bucket"] for r in german)
    assert all(rows[doc_id] == row for doc_id, row in first.items())
    stats = read_stage_stats(out, "quality")
    assert stats["perplexity_distribution"]["default"]["added"] == {"de": "batch 2"}
