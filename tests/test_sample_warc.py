"""The generated demo sample: deterministic, well-formed, and holding exactly what it claims.

Later stage tests and ``make demo`` trust ``sample_expected.json`` (which pages are duplicates,
spam, contaminated, ...), so these tests check the manifest against the WARC itself, with FastWARC
(the project's reader) and warcio (for digests), without Spark.
"""

from __future__ import annotations

import json
import re
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from gristmill.filters import c4, fineweb, gopher_quality, gopher_repetition
from gristmill.pipeline.config import QualityConfig
from gristmill.pipeline.sample_warc import CATEGORIES, SamplePaths, main, write_sample

Responses = dict[str, tuple[str | None, bytes]]  # URI -> (HTTP Content-Type, payload)


class _TextParser(HTMLParser):
    """Character data of a page, entity-decoded; with ``tag``, only inside that element."""

    def __init__(self, tag: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.tag, self.depth, self.parts = tag, 0, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.depth += tag == self.tag

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == self.tag

    def handle_data(self, data: str) -> None:
        if self.tag is None or self.depth > 0:
            self.parts.append(data)


def page_text(payload: bytes, encoding: str = "utf-8", tag: str | None = None) -> str:
    parser = _TextParser(tag)
    parser.feed(payload.decode(encoding))
    parser.close()
    return "".join(parser.parts)


def ngrams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def expected(sample: SamplePaths) -> dict[str, Any]:
    return json.loads(sample.expected.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def benchmark(sample: SamplePaths) -> list[dict[str, str]]:
    return [json.loads(line) for line in sample.benchmark.read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def responses(sample: SamplePaths) -> Responses:
    out: Responses = {}
    with sample.warc.open("rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            out[rec.headers["WARC-Target-URI"]] = (rec.http_content_type, rec.reader.read())
    return out


@pytest.fixture(scope="module")
def html_texts(expected: dict[str, Any], responses: Responses) -> dict[str, str]:
    """Text of every HTML page, decoded with the encoding the generator used."""
    encodings = {uri: c["encoding"] for uri, c in expected["charsets"].items()}
    texts = {
        uri: page_text(body, encodings.get(uri, "utf-8"))
        for uri, (ctype, body) in responses.items()
        if ctype == "text/html"
    }
    assert len(texts) == len(responses) - len(expected["categories"]["non_html"])
    return texts


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    """Byte-identical output is what lets the demo's numbers be compared between runs."""
    first, second = write_sample(tmp_path / "a"), write_sample(tmp_path / "b")
    for name in ("warc", "benchmark", "reference", "expected"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes(), name
    other = write_sample(tmp_path / "c", seed=1)
    assert other.warc.read_bytes() != first.warc.read_bytes()


def test_one_gzip_member_per_record_without_timestamps(sample: SamplePaths) -> None:
    """Per-record gzip members (as Common Crawl) let readers seek; mtime 0 keeps bytes fixed."""
    data, members = sample.warc.read_bytes(), 0
    while data:
        assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"
        inflater = zlib.decompressobj(wbits=31)
        inflater.decompress(data)
        assert inflater.eof
        data, members = inflater.unused_data, members + 1
    with sample.warc.open("rb") as f:
        records = sum(1 for _ in ArchiveIterator(f, parse_http=False))
    assert members == records


def test_record_layout_is_common_crawl_like(sample: SamplePaths, expected: dict[str, Any]) -> None:
    with sample.warc.open("rb") as f:
        records = [(rec.record_type, dict(rec.headers)) for rec in ArchiveIterator(f)]
    kinds = [kind for kind, _ in records]
    assert kinds[0] == WarcRecordType.warcinfo
    assert kinds[1:] == [WarcRecordType.request, WarcRecordType.response] * (len(kinds) // 2)
    ids = [headers["WARC-Record-ID"] for _, headers in records]
    assert len(set(ids)) == len(ids)
    for (_, req), (_, resp) in zip(records[1::2], records[2::2], strict=True):
        assert req["WARC-Target-URI"] == resp["WARC-Target-URI"]
        assert req["WARC-Concurrent-To"] == resp["WARC-Record-ID"]
        assert req["WARC-Warcinfo-ID"] == resp["WARC-Warcinfo-ID"] == ids[0]
        assert re.fullmatch(r"https://[a-z0-9-]+\.example/\S+", resp["WARC-Target-URI"])
    planted = [uri for uris in expected["categories"].values() for uri in uris]
    assert len(planted) == len(set(planted)) == (len(records) - 1) // 2


def test_digests_verify_with_warcio(sample: SamplePaths) -> None:
    """What ``warcio check`` does: every block and payload digest matches the bytes."""
    with sample.warc.open("rb") as f:
        iterator = WarcioIterator(f, check_digests=True)
        for record in iterator:
            record.content_stream().read()
            assert record.digest_checker.passed is True, record.rec_headers


def test_categories_and_sizes(
    sample: SamplePaths, expected: dict[str, Any], responses: Responses
) -> None:
    cats = expected["categories"]
    assert tuple(cats) == CATEGORIES
    assert set(responses) == {uri for uris in cats.values() for uri in uris}
    sizes = {name: len(uris) for name, uris in cats.items()}
    assert 70 <= sizes["good"] <= 90
    assert sizes["exact_duplicates"] == sizes["near_duplicates"] == 8
    assert sizes["spam"] >= 10 and sizes["contaminated"] == 6 and sizes["non_html"] == 2
    assert sizes["low_quality"] >= 10
    assert sizes["non_english"] >= 9 and sizes["charset"] >= 3 and sizes["empty"] >= 1
    assert 120 <= sum(sizes.values()) <= 200
    assert sample.warc.stat().st_size < 1_000_000
    langs = {expected["languages"][uri] for uri in cats["non_english"]}
    assert langs == {"de", "fr", "es"}


def test_good_pages_have_boilerplate_and_enough_words(
    expected: dict[str, Any], responses: Responses
) -> None:
    for uri in expected["categories"]["good"]:
        body = responses[uri][1]
        for tag in (b"<title>", b"<nav>", b"<main>", b"<article>", b"<h1>", b"<p>", b"<footer>"):
            assert tag in body, (uri, tag)
        words = len(page_text(body, tag="article").split())
        assert 150 <= words <= 1500, (uri, words)


def test_contaminated_pages_hold_their_passages_verbatim(
    expected: dict[str, Any], benchmark: list[dict[str, str]], html_texts: dict[str, str]
) -> None:
    items = {item["id"]: item for item in benchmark}
    contamination = expected["contamination"]
    assert set(contamination) == set(expected["categories"]["contaminated"])
    for uri, ids in contamination.items():
        for item_id in ids:
            item = items[item_id]
            assert f"{item['question']} {item['answer']}" in html_texts[uri], (uri, item_id)
    (heavy,) = expected["heavily_contaminated"]
    assert len(contamination[heavy]) > 10  # GPT-3 drops a document cut into more than 10 pieces
    assert all(len(ids) == 1 for uri, ids in contamination.items() if uri != heavy)
    planted = [i for ids in contamination.values() for i in ids]
    assert len(planted) == len(set(planted))
    assert expected["benchmark_not_planted"]
    assert set(planted) | set(expected["benchmark_not_planted"]) == set(items)


def test_benchmark_text_occurs_only_where_planted(
    sample: SamplePaths,
    expected: dict[str, Any],
    benchmark: list[dict[str, str]],
    html_texts: dict[str, str],
) -> None:
    """Otherwise decontamination results on the demo could not be checked exactly."""
    bench_grams = set().union(*(ngrams(i["question"]) | ngrams(i["answer"]) for i in benchmark))
    contaminated = set(expected["categories"]["contaminated"])
    for uri, text in html_texts.items():
        if uri not in contaminated:
            assert not ngrams(text) & bench_grams, uri
    assert not ngrams(sample.reference.read_text("utf-8")) & bench_grams


def test_benchmark_jsonl(benchmark: list[dict[str, str]]) -> None:
    assert 18 <= len(benchmark) <= 25
    assert len({item["id"] for item in benchmark}) == len(benchmark)
    for item in benchmark:
        assert set(item) == {"id", "question", "answer"}
        assert len(item["question"].split()) >= 13  # at least one 13-gram on its own
        assert len(item["answer"].split()) >= 30


def test_reference_is_prose_absent_from_pages(
    sample: SamplePaths, html_texts: dict[str, str]
) -> None:
    lines = sample.reference.read_text("utf-8").splitlines()
    assert len(lines) >= 30 and all(len(line.split()) >= 10 for line in lines)
    page_grams = set().union(*(ngrams(text) for text in html_texts.values()))
    assert not any(ngrams(line) & page_grams for line in lines)


def test_duplicates_match_their_sources(expected: dict[str, Any], responses: Responses) -> None:
    cats = expected["categories"]
    exact, near = cats["exact_duplicates"], cats["near_duplicates"]
    assert set(expected["duplicate_of"]) == set(exact) | set(near)
    for uri, source in expected["duplicate_of"].items():
        assert source in expected["categories"]["good"]
        copy_words = page_text(responses[uri][1], tag="article").split()
        source_words = page_text(responses[source][1], tag="article").split()
        assert responses[uri][1] != responses[source][1]  # other site: other nav and footer
        if uri in exact:
            assert copy_words == source_words
        else:
            assert len(copy_words) == len(source_words)
            changed = sum(a != b for a, b in zip(copy_words, source_words, strict=True))
            assert 0 < changed <= 0.05 * len(source_words), (uri, changed)


def test_spam_non_html_and_empty(expected: dict[str, Any], responses: Responses) -> None:
    cats = expected["categories"]
    spam_words = [len(page_text(responses[u][1], tag="article").split()) for u in cats["spam"]]
    assert sum(n < 50 for n in spam_words) >= 3  # stubs a length filter must catch
    assert any(b"lorem ipsum" in responses[u][1].lower() for u in cats["spam"])
    types = {responses[u][0] for u in cats["non_html"]}
    assert types == {"image/png", "application/pdf"}
    png = next(body for ctype, body in map(responses.get, cats["non_html"]) if ctype == "image/png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"\0" in png
    for uri in cats["empty"]:
        assert not page_text(responses[uri][1], tag="main").strip()


def test_charset_pages(expected: dict[str, Any], responses: Responses) -> None:
    wrong = 0
    for uri in expected["categories"]["charset"]:
        declared = expected["charsets"][uri]
        body = responses[uri][1]
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
        text = body.decode(declared["encoding"])
        assert any(ord(ch) > 127 for ch in text)
        assert f'<meta charset="{declared["meta"]}">' in text
        header = declared["header"]
        wrong += header is None or header == "utf-8"
    assert wrong >= 1
    assert {c["encoding"] for c in expected["charsets"].values()} == {"cp1252", "latin-1"}


def test_non_english_pages_are_identified(
    expected: dict[str, Any], html_texts: dict[str, str]
) -> None:
    """The hand-written passages must be long enough for lid.176 to be sure of them."""
    from gristmill.pipeline import langid

    uris = list(expected["languages"])
    langs, scores = langid.identify([html_texts[uri] for uri in uris])
    assert langs == [expected["languages"][uri] for uri in uris]
    assert min(scores) > 0.8


def test_cli_prints_the_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tmp_path)])
    printed = capsys.readouterr().out.split()
    assert printed == [
        str(tmp_path / name)
        for name in (
            "sample.warc.gz",
            "sample_benchmark.jsonl",
            "sample_reference.txt",
            "sample_negative.jsonl",
            "sample_expected.json",
        )
    ]


def test_low_quality_pages_pass_the_heuristics_and_negatives_are_apart(
    sample: SamplePaths, expected: dict[str, Any], responses: Responses
) -> None:
    """The planted crawl-like pages are grammatical prose that every heuristic rule set keeps, so
    what removes them in the demo is the classifier; the negatives it trains on are other pages."""
    cfg = QualityConfig()
    sections = {gopher_quality: cfg.gopher_quality, gopher_repetition: cfg.gopher_repetition}
    planted = set()
    for uri in expected["categories"]["low_quality"]:
        text = page_text(responses[uri][1], tag="article")
        planted.add(text)
        for module, section in sections.items():
            assert module.decide(module.signals(text), section) is None, (uri, module.__name__)
        assert c4.decide(c4.signals(text, cfg.c4), cfg.c4) is None, uri
        assert fineweb.decide(fineweb.signals(text), cfg.fineweb) is None, uri
    negatives = [json.loads(line)["text"] for line in sample.negative.read_text().splitlines()]
    assert len(negatives) >= 500 and len(set(negatives)) >= 0.95 * len(negatives)
    assert not planted & set(negatives)
