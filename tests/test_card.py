"""The dataset card of a real run: every section is there, and every number in it is the one in
stats.json, the shard manifest or the data itself."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from gristmill.jobs import card
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.stages import BATCH_STAGES
from gristmill.pipeline.tokenizer import load_encoding
from tests.conftest import deep_merge, listed_shards

SECTIONS = (
    "Summary", "Sources", "Processing", "Processing funnel", "Quality signals", "Deduplication",
    "Decontamination", "Languages", "Tokens", "Figures", "Reproducibility", "Configuration",
    "Licences", "Limitations and bias",
)  # fmt: skip


@pytest.fixture(scope="module")
def rendered(result):
    out, stats, _expected, docs = result
    text = (out / "DATASET_CARD.md").read_text()
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    return out, stats, manifest, text, docs


def test_front_matter_is_a_hugging_face_card_header(rendered):
    _out, stats, _manifest, text, _docs = rendered
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["task_categories"] == ["text-generation"]
    assert front["language"] == sorted(stats["languages"])
    assert front["size_categories"] == ["n<1K"]
    assert front["pretty_name"] and front["license"] and front["source_datasets"]
    assert front["configs"][0]["data_files"] == "documents/*/*.parquet"


def test_every_section_is_present_in_order(rendered):
    text = rendered[3]
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert [h for h in headings if h in SECTIONS] == list(SECTIONS)


def test_funnel_docs_and_tokens_match_stats_and_data(rendered):
    out, stats, manifest, text, docs = rendered
    tokens = stats["tokens"]["stages"]
    for stage in BATCH_STAGES:
        s, t = stats["stages"][stage], tokens[stage]
        assert f"| {stage} | {s['in']} | {s['out']} | {t['in']} | {t['out']} |" in text
    chain = [tokens[s] for s in BATCH_STAGES]
    assert all(a["out"] == b["in"] for a, b in itertools.pairwise(chain))
    assert all(t["out"] <= t["in"] for t in chain)
    enc = load_encoding(manifest["tokenizer"])
    ingest = pq.read_table(out / "stages" / "ingest", columns=["text"]).column("text")
    received = [t for t in ingest.to_pylist() if t is not None]
    assert tokens["ingest"]["in"] == sum(len(t) for t in enc.encode_ordinary_batch(received))
    recount = sum(len(t) for t in enc.encode_ordinary_batch([d["text"] for d in docs]))
    assert tokens["decontaminate"]["out"] == tokens["tokenize"]["out"] == recount
    shard_tokens = sum(s["tokens"] for s in listed_shards(out / "shards"))
    assert shard_tokens == recount + len(docs)  # one EOT per document


def test_sources_processing_and_reproducibility(rendered):
    out, stats, _manifest, text, _docs = rendered
    ingest = pq.read_table(out / "stages" / "ingest", columns=["warc_date"]).column("warc_date")
    dates = sorted(d for d in ingest.to_pylist() if d)
    assert stats["inputs"]["warc_dates"] == {"first": dates[0], "last": dates[-1]}
    assert f"Records dated {dates[0]} to {dates[-1]}" in text
    assert stats["inputs"]["batches"][0]["files"] == stats["inputs"]["files"] == 2
    for name, model in stats["models"].items():
        digest = hashlib.sha256(Path(model["path"]).read_bytes()).hexdigest()
        assert model["sha256"] == digest and f"- {name}: `{digest}`" in text
    assert {"lid.176", "classifier", "perplexity"} <= stats["models"].keys()
    repro = stats["reproducibility"]
    assert repro["config_digest"] == stats["config_digest"]
    assert f"Config digest `{stats['config_digest']}`" in text
    for package, version in repro["packages"].items():
        assert f"| {package} | {version} |" in text


def test_signals_dedup_decontamination_languages_buckets(rendered):
    out, stats, manifest, text, _docs = rendered
    quality = pq.read_table(out / "stages" / "quality", columns=["n_words"]).column("n_words")
    words = stats["quality_signals"]["n_words"]
    assert words["count"] == len(quality) - quality.null_count
    assert f"| n_words | {words['count']} | {words['p10']:.4g} | {words['p50']:.4g} |" in text
    dedup = stats["stages"]["dedup"]["dedup"]
    assert f"{dedup['exact_duplicates']} exact and {dedup['fuzzy_duplicates']} near" in text
    bench = stats["stages"]["decontaminate"]["benchmarks"]["sample_benchmark"]
    row = f"| sample_benchmark | {bench['examples']} | {bench['label_ngram']} | "
    assert row + f"{bench['dirty_examples']} |" in text and 8 <= bench["label_ngram"] <= 13
    for lang, n in stats["languages"].items():
        assert f"| {lang} | {n} |" in text
    for name, b in manifest["buckets"].items():
        assert f"| {name} | {b['factor']} | {b['weight']:.4f} | {b['tokens']['train']} |" in text
    assert "CC BY-SA 3.0" in text and "Common Crawl Terms of Use" in text


def test_figures_are_linked_pngs(rendered):
    out, _stats, _manifest, text, _docs = rendered
    figures = re.findall(r"!\[[^]]+\]\((card/[\w.]+\.png)\)", text)
    assert {Path(f).stem for f in figures} == {
        "funnel", "languages", "buckets", "quality_score", "perplexity", "n_words",
    }  # fmt: skip
    for figure in figures:
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dedup_precision_and_recall_on_labelled_pairs(result, spark, demo_config, tmp_path):
    out, _stats, expected, _docs = result
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    good = sorted(expected["categories"]["good"])
    pairs = [{"a": u, "b": v, "duplicate": True} for u, v in expected["duplicate_of"].items()]
    pairs += [{"a": u, "b": v, "duplicate": False} for u, v in itertools.pairwise(good)]
    pairs.append({"a": "https://nowhere.example/", "b": good[0], "duplicate": False})
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    cfg = config_from_dict(deep_merge(demo_config, {"card": {"dedup_labels": str(labels)}}))
    stats = card.write_card(spark, copy, cfg)
    e = stats["dedup_evaluation"]

    dedup = pq.read_table(copy / "stages" / "dedup", columns=["url", "doc_id", "text_hash"])
    rows = {r["url"]: r for r in dedup.to_pylist()}
    clusters = pq.read_table(copy / "dedup" / "clusters", columns=["doc_id", "component"])
    component = {r["doc_id"]: r["component"] for r in clusters.to_pylist()}
    counts = {"tp": 0, "fp": 0, "fn": 0, "unmatched": 0}
    for p in pairs:
        if p["a"] not in rows or p["b"] not in rows:  # dropped before dedup, or never crawled
            counts["unmatched"] += 1
            continue
        a, b = rows[p["a"]], rows[p["b"]]
        same = a["text_hash"] == b["text_hash"] or (
            component.get(a["doc_id"]) is not None
            and component.get(a["doc_id"]) == component.get(b["doc_id"])
        )
        counts["tp"] += same and p["duplicate"]
        counts["fp"] += same and not p["duplicate"]
        counts["fn"] += p["duplicate"] and not same
    got = (e["true_positives"], e["false_positives"], e["false_negatives"], e["unmatched"])
    assert got == (counts["tp"], counts["fp"], counts["fn"], counts["unmatched"])
    assert e["pairs"] == len(pairs) and e["pairs"] - e["unmatched"] >= 10
    assert e["precision"] == 1.0 and e["recall"] >= 0.8
    text = (copy / "DATASET_CARD.md").read_text()
    assert f"precision {e['precision']:.3f}, recall {e['recall']:.3f}" in text


def test_sources_name_a_bounded_number_of_input_files(rendered):
    """The card and stats.json name the first LISTED_PATHS input files, not a whole crawl's:
    the ledger lists every input."""
    from gristmill.pipeline.card import _sources

    _out, stats, _manifest, text, _docs = rendered
    inputs = stats["inputs"]
    assert inputs["paths"] and len(inputs["paths"]) <= card.LISTED_PATHS
    assert f"{inputs['files']} input files:" in text
    many = [f"s3://bucket/CC-MAIN-2024-10/segments/{i:05d}.warc.gz" for i in range(75)]
    listed = {**inputs, "files": len(many), "paths": many[: card.LISTED_PATHS]}
    section = "\n".join(_sources(listed))
    assert f"75 input files, the first {card.LISTED_PATHS} by name" in section
    assert section.count("- `") == card.LISTED_PATHS
    # A year of damaged inputs: the first ones, and how many more.
    failed = [{"path": p, "error": "truncated"} for p in many]
    section = "\n".join(_sources({**listed, "failed": failed}))
    assert "Inputs with damage (a stretch unreadable, or records shorter than their " in section
    assert "their readable records kept): 75." in section
    assert section.count("- `") == 2 * card.LISTED_PATHS
    assert f"- ... and {75 - card.LISTED_PATHS} more (stats.json)" in section


def test_a_url_read_twice_is_judged_by_the_same_row_in_any_order():
    rows = [
        {"url": "u", "doc_id": "b", "batch": 2, "text_hash": "later night"},
        {"url": "u", "doc_id": "c", "batch": 1, "text_hash": "second copy"},
        {"url": "u", "doc_id": "a", "batch": 1, "text_hash": "first"},
        {"url": "v", "doc_id": "z", "batch": 3, "text_hash": "only"},
    ]
    for order in (rows, rows[::-1], rows[1:] + rows[:1]):
        chosen = card.first_by_url(order)
        assert {u: r["text_hash"] for u, r in chosen.items()} == {"u": "first", "v": "only"}


def test_command_line_shows_the_first_values_of_an_option():
    """A whole crawl's files after --input would put every name in every night's card."""
    files = [f"crawl/CC-MAIN-2024-10-{i:05d}.warc.gz" for i in range(80)]
    argv = ["run", "--input", *files, "--output", "out", "--master", "local[2]"]
    shown = " ".join(files[: card.LISTED_ARGUMENTS])
    expected = f"gristmill run --input {shown} ... (75 more) --output out --master local[2]"
    assert card.command_line(argv) == expected
    short = ["run", "--input", *files[:2], "--output", "out"]
    assert card.command_line(short) == " ".join(["gristmill", *short])
