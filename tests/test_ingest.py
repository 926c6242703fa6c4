"""Ingest over every real WARC in shared/data, plus damaged copies made here."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from gristmill.jobs.ingest import _accept, _local_checksum, run_ingest
from gristmill.pipeline.config import Config
from gristmill.pipeline.inputs import resolve_inputs
from gristmill.pipeline.layout import Layout
from gristmill.schemas.stats import check_counts
from gristmill.schemas.tables import INGEST

HTML = ("text/html", "application/xhtml+xml")


def warcio_counts(path: Path) -> tuple[int, int]:
    """(document records, HTML responses) as counted by an independent parser."""
    docs = html = 0
    with path.open("rb") as f:
        for rec in WarcioIterator(f):
            if rec.rec_type in ("response", "conversion"):
                docs += 1
                ctype = rec.http_headers.get_header("Content-Type", "") if rec.http_headers else ""
                html += rec.rec_type == "response" and ctype.split(";")[0].strip().lower() in HTML
    return docs, html


def corrupt_copies(source: Path, where: Path) -> dict[str, Path]:
    data = source.read_bytes()
    where.mkdir(parents=True, exist_ok=True)
    made = {
        "cut": data[: len(data) // 2],
        "garbage": data[: len(data) // 3] + b"\x00garbage" * 500 + data[len(data) // 3 :],
        "notwarc": b"this is not a WARC file\n" * 100,
        "empty": b"",
    }
    paths = {}
    for name, blob in made.items():
        paths[name] = where / f"{name}.warc.gz"
        paths[name].write_bytes(blob)
    return paths


@pytest.fixture(scope="module")
def ingested(spark, shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ingest")
    bad = corrupt_copies(shared_data / "warc" / "realpages-00010.warc.gz", tmp / "bad")
    cfg = Config()
    uris = resolve_inputs([str(shared_data / "warc"), str(tmp / "bad")], cfg.ingest.cc_base_url)
    out = tmp / "out"
    stats, checksums = run_ingest(spark, uris, out, cfg)
    table = spark.read.parquet(str(Layout(out).stage("ingest"))).toPandas()
    # Each task hashed the local file it read, damaged ones included, for the ledger.
    assert checksums == {
        u: f"sha256:{hashlib.sha256(Path(u).read_bytes()).hexdigest()}" for u in uris
    }
    return stats, table, bad, out, uris


def test_counts_match_an_independent_parser(ingested, shared_data):
    _stats, table, _bad, _out, _uris = ingested
    per_file = Counter(table["input_file"])
    for path in sorted((shared_data / "warc").iterdir()):
        docs, html = warcio_counts(path)
        rows = table[table["input_file"] == str(path)]
        assert per_file.get(str(path), 0) == docs, path.name
        responses = rows[rows["warc_record_id"].notna() & (rows["content_type"].isin(HTML))]
        assert len(responses) == html, path.name


def test_funnel_reconciles(ingested):
    stats, table, _bad, out, _uris = ingested
    check_counts("ingest", stats)
    assert stats["in"] == len(table)
    assert stats["out"] == int(table["drop_reason"].isna().sum())
    on_disk = json.loads((out / "stages" / "ingest" / "_stats.json").read_text())
    assert on_disk == stats
    assert not list((out / "stages").glob("*.tmp-*")), "a temp directory was left behind"


def test_every_kept_document_has_text_and_language(ingested):
    _stats, table, _bad, _out, _uris = ingested
    kept = table[table["drop_reason"].isna()]
    assert len(kept) > 1300
    assert kept["text"].str.len().min() > 0
    assert kept["lang"].notna().all()
    assert kept["lang_score"].between(0, 1).all()
    # doc_ids come from WARC-Record-IDs: unique within a file; the damaged copies of
    # realpages-00010 repeat that file's ids, which is what dedup is for.
    assert not table.duplicated(["input_file", "doc_id"]).any()


def test_languages_agree_with_the_manifest(ingested, shared_data):
    """The real pages' manifest has a langid.py guess per page; lid.176 should mostly agree."""
    _stats, table, _bad, _out, _uris = ingested
    with gzip.open(shared_data / "realpages.manifest.tsv.gz", "rt") as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"), strict=True)) for line in f]
    ours = dict(zip(table["warc_record_id"], table["lang"], strict=True))
    for lang in ("de", "en", "zh"):
        pages = [r for r in rows if r["lang"] == lang]
        agree = sum(ours.get(r["record_id"]) == lang for r in pages)
        assert agree / len(pages) >= 0.9, (lang, agree, len(pages))


def test_cc_excerpt_languages_and_charsets(ingested):
    _stats, table, _bad, _out, _uris = ingested
    cc = table[table["input_file"].str.endswith("CC-MAIN-2020-34.resiliparse-excerpt.warc.gz")]
    by_url = {r.url: r for r in cc.itertuples()}
    assert by_url["http://003338.cn/l41/481397.html"].lang == "zh"
    assert by_url["http://06.live-radsport.ch/tippspiel/stats_140_petzi.html"].lang == "de"
    assert by_url["http://0900-hovenier.nl/gelderland/oosterbeek/"].lang == "nl"
    russian = by_url["http://01spb.ru/company/"]
    assert (russian.lang, russian.charset) == ("ru", "cp1251")
    assert "\ufffd" not in russian.text
    assert Counter(cc["lang"].dropna())["zh"] >= 9
    wget = table[table["input_file"].str.endswith("noncc.dolma-wget-sample-0000.warc.gz")]
    kept = wget[wget["drop_reason"].isna()]
    assert (kept["lang"] == "en").mean() >= 0.9


def test_failed_inputs_are_listed_and_keep_their_good_records(ingested, shared_data):
    stats, table, bad, _out, _uris = ingested
    failed = {Path(f["path"]).name: f["error"] for f in stats["failed_inputs"]}
    truncated = "edge.truncated-response.resiliparse-clipped.warc.gz"
    assert "truncated" in failed[truncated]
    assert "truncated" in failed["cut.warc.gz"]
    assert "Gzip" in failed["garbage.warc.gz"] or "unreadable" in failed["garbage.warc.gz"]
    assert "notwarc.warc.gz" in failed
    assert "no WARC record" in failed["empty.warc.gz"]
    # Partial output: the truncated page is still a document, and the damaged copies keep the
    # records before the damage.
    edge = table[table["input_file"].str.endswith(truncated)]
    assert len(edge) == 1 and edge["drop_reason"].isna().all()
    full, _ = warcio_counts(shared_data / "warc" / "realpages-00010.warc.gz")
    for name in ("cut", "garbage"):
        n = int((table["input_file"] == str(bad[name])).sum())
        assert 0 < n < full, name
    assert len(failed) == 5


def test_one_whole_part_per_input(ingested):
    """The Python workers write the table themselves: one Parquet file per input, named by its
    place in the batch, holding that input's rows in the order of its records; no attempt's
    hidden file is left in the committed table."""
    _stats, table, _bad, out, uris = ingested
    stage = Layout(out).stage("ingest")
    files = sorted(p.name for p in stage.iterdir() if p.name != "_stats.json")
    assert files == [f"part-{i:06d}.parquet" for i in range(len(uris))]
    for i, uri in enumerate(uris):
        part = pq.read_table(stage / files[i])
        assert part.schema.equals(INGEST)
        assert set(part.column("input_file").to_pylist()) <= {uri}
        assert part.num_rows == int((table["input_file"] == uri).sum())
        if Path(uri).name.startswith("realpages-"):
            with open(uri, "rb") as f:
                order = [r.rec_headers.get_header("WARC-Record-ID") for r in WarcioIterator(f)]
            ids = part.column("warc_record_id").to_pylist()
            assert ids == [r for r in order if r in set(ids)] and len(ids) > 50


def test_the_accepted_attempt_names_each_part(tmp_path):
    """Of several attempts at an input (a retry, a speculative copy), the one Spark answered
    becomes the part and the others' files go; an input set aside on the network gets an empty
    part whatever its attempt wrote."""
    rows = pa.table({n: pa.nulls(2, INGEST.field(n).type) for n in INGEST.names}).set_column(
        0, "doc_id", pa.array(["a", "b"])
    )
    for name in ("won", "lost", "died", "deferred"):
        pq.write_table(rows.cast(INGEST), tmp_path / f".part-{name}.parquet")
    retryable = [{"input_file": "s3://x", "input_error": "503", "input_retryable": True}]
    damaged = [{"input_file": "b.warc.gz", "input_error": "truncated", "input_retryable": False}]
    written = [
        {"index": 0, "partial": ".part-won.parquet", "errors": json.dumps(damaged)},
        {"index": 1, "partial": ".part-deferred.parquet", "errors": json.dumps(retryable)},
    ]
    failures = _accept(tmp_path, written)
    parts = sorted(tmp_path.iterdir())
    assert [p.name for p in parts] == ["part-000000.parquet", "part-000001.parquet"]
    assert pq.read_table(parts[0]).column("doc_id").to_pylist() == ["a", "b"]
    assert pq.read_table(parts[1]).num_rows == 0
    assert failures == damaged + retryable


def test_a_local_input_that_changed_since_it_was_planned_gets_no_checksum(tmp_path):
    """The ledger pairs the planned size with the hash; a file of another size by the time its
    task hashes it would pair two different files."""
    warc = tmp_path / "a.warc.gz"
    warc.write_bytes(b"x" * 10)
    expected = f"sha256:{hashlib.sha256(b'x' * 10).hexdigest()}"
    assert _local_checksum(str(warc), 10) == _local_checksum(f"file://{warc}", None) == expected
    assert _local_checksum(str(warc), 11) is None
    assert _local_checksum(str(tmp_path / "gone.warc.gz"), None) is None
    assert _local_checksum("https://example.org/a.warc.gz", 10) is None
