"""A corpus of damaged WARCs, generated here: every bad record or file is counted with its reason,
the good records around the damage are kept, and memory stays bounded by ingest.max_record_bytes
however large a record claims or inflates to be."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pytest

from gristmill.jobs.ingest import run_ingest
from gristmill.pipeline.config import Config, IngestConfig
from gristmill.pipeline.documents import BINARY, MALFORMED, TOO_LARGE, ingest_input
from gristmill.pipeline.langid import identify

MiB = 1 << 20


def http_record(
    payload: bytes,
    content_type: bytes = b"text/html; charset=utf-8",
    length: int | None = None,
    ids: bool = True,
    url: str | None = None,
) -> bytes:
    """One WARC response record's bytes; ``length`` overrides the true Content-Length."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n\r\n" + payload
    lines = [b"WARC/1.0", b"WARC-Type: response"]
    if ids:
        url = url or f"https://other.example/{uuid.uuid4().hex}"
        lines += [
            f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>".encode(),
            f"WARC-Target-URI: {url}".encode(),
            b"WARC-Date: 2024-01-01T00:00:00Z",
        ]
    lines += [
        b"Content-Type: application/http; msgtype=response",
        b"Content-Length: %d" % (len(http) if length is None else length),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + http + b"\r\n\r\n"


def page(words: str) -> bytes:
    return f"<html><body><p>{words}</p></body></html>".encode()


def good(name: str) -> bytes:
    """A gzip member holding a page that survives ingest; its URL says which one it is."""
    text = " ".join(f"The {name} page says sentence {j} about rivers and hills." for j in range(20))
    return gzip.compress(http_record(page(text), url=f"https://good.example/{name}"))


def write_inflating_record(path: Path, mode: str, size: int) -> None:
    """Append a gzip member whose record inflates to ``size`` bytes of zeros, streamed to disk
    (a 200 MB record or a 1 GB decompression bomb costs a few hundred KB here)."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
        "WARC-Target-URI: https://huge.example/\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http) + size}\r\n\r\n"
    ).encode()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * MiB
    with path.open(mode) as out:
        out.write(deflate.compress(head + http))
        for start in range(0, size, MiB):
            out.write(deflate.compress(zeros[: min(MiB, size - start)]))
        out.write(deflate.compress(b"\r\n\r\n") + deflate.flush())


def build_corpus(root: Path) -> dict[str, dict]:
    """name -> {"path", "kept": good pages expected kept, "reasons": drop reasons expected,
    "error": text expected in the file's failure, or None}."""
    root.mkdir(parents=True, exist_ok=True)
    cases: dict[str, dict] = {}

    def case(name, data, kept, reasons=(), error=None):
        path = root / name
        if data is not None:
            path.write_bytes(data)
        cases[name] = {
            "path": path,
            "kept": kept,
            "reasons": None if reasons is None else sorted(reasons, key=str),
            "error": error,
        }

    case(
        "truncated-gzip.warc.gz",
        good("t1") + good("t2") + good("t3")[:60],
        ["t1", "t2"],
        error="truncated gzip member",
    )
    case(
        "length-too-short.warc.gz",
        good("s1") + gzip.compress(http_record(page("cut " * 400), length=60)) + good("s2"),
        ["s1", "s2"],
        reasons=None,  # what is left of the cut record decides its fate
        error="resumed at offset",
    )
    case(
        "length-too-long.warc.gz",
        good("l1") + gzip.compress(http_record(page("long " * 50), length=9000)),
        ["l1"],
        reasons=None,  # the cut record keeps what it has: a real page
        error="truncated: 1 record(s) shorter than their Content-Length",
    )
    # Content-Lengths past their own gzip member: FastWARC reads on into the next members. One
    # swallows two whole records and the file ends inside the third; one ends inside the next
    # record's header, which then fails to parse. Each is cut where the next record starts.
    long_page = page("long " * 50)
    case(
        "length-past-member.warc.gz",
        good("x1") + gzip.compress(http_record(long_page, length=9000)) + good("x2") + good("x3"),
        ["x1", "x2", "x3"],
        reasons=[None],
        error="runs past its gzip member",
    )
    case(
        "length-into-header.warc.gz",
        good("y1")
        + gzip.compress(http_record(long_page, length=len(long_page) + 400))
        + good("y2")
        + good("y3"),
        ["y1", "y2", "y3"],
        reasons=[None],
        error="cut where the next record starts",
    )
    # Runs exactly onto the record after the next one, which then parses without a hitch; runs
    # 20 bytes into the next record's header, fewer than the head the cut searches for.
    own = len(http_record(long_page).split(b"\r\n\r\n", 1)[1]) - len(b"\r\n\r\n")
    whole = own + len(gzip.decompress(good("w2")))
    case(
        "length-onto-a-record.warc.gz",
        good("w1") + gzip.compress(http_record(long_page, length=whole)) + good("w2") + good("w3"),
        ["w1", "w2", "w3"],
        reasons=[None],
        error="runs past its gzip member",
    )
    case(
        "length-a-little-long.warc.gz",
        good("v1")
        + gzip.compress(http_record(long_page, length=own + 20))
        + good("v2")
        + good("v3"),
        ["v1", "v2", "v3"],
        reasons=[None],
        error="cut where the next record starts",
    )
    # The same in an uncompressed WARC, where the record after the long one cannot parse: read
    # on from the next record header, the long one cut there. One runs into the next header,
    # one 20 bytes into it, one past a whole record into the header after it; and garbage
    # between two records costs none of them.
    unzipped = {name: gzip.decompress(good(name)) for name in ("p1", "p2", "p3")}
    for name, length, names in (
        ("plain-length-into-header.warc", len(long_page) + 400, ["p1", "p2", "p3"]),
        ("plain-length-a-little-long.warc", own + 20, ["p1", "p2", "p3"]),
        ("plain-length-past-a-record.warc", own + len(unzipped["p2"]) + 50, ["p1", "p2", "p3"]),
    ):
        case(
            name,
            unzipped["p1"]
            + http_record(long_page, length=length)
            + unzipped["p2"]
            + unzipped["p3"],
            names,
            reasons=[None],
            error="cut where the next record starts",
        )
    # Runs exactly over the next record, onto the one after it, which then parses without a
    # hitch; a page that quotes a WARC header is no record running over another.
    case(
        "plain-length-onto-a-record.warc",
        unzipped["p1"]
        + http_record(long_page, length=own + len(unzipped["p2"]))
        + unzipped["p2"]
        + unzipped["p3"],
        ["p1", "p2", "p3"],
        reasons=[None],
        error="runs over the records after it",
    )
    quoted = http_record(page("WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 4\r\n\r\nquote"))
    case("plain-quotes-a-header.warc", unzipped["p1"] + quoted + unzipped["p2"], ["p1", "p2"], None)
    case(
        "plain-garbage-bytes.warc",
        unzipped["p1"] + bytes(range(256)) * 8 + unzipped["p2"],
        ["p1", "p2"],
        error="resumed at offset",
    )
    case(
        "length-not-a-number.warc.gz",
        good("n1")
        + gzip.compress(http_record(long_page).replace(b"Content-Length: ", b"Content-Length: x"))
        + good("n2"),
        ["n1", "n2"],
        reasons=[MALFORMED],
        error="resumed at offset",
    )
    case(
        "garbage-member.warc.gz",
        good("g1") + gzip.compress(b"\x13\x37 this is not a header\r\n\r\n" * 20) + good("g2"),
        ["g1", "g2"],
        error="resumed at offset",
    )
    case(
        "garbage-bytes.warc.gz",
        good("b1") + bytes(range(256)) * 8 + good("b2"),
        ["b1", "b2"],
        error="resumed at offset",
    )
    case(
        "missing-headers.warc.gz",
        gzip.compress(http_record(page("anonymous " * 50), ids=False)) + good("m1"),
        ["m1"],
        reasons=[None],  # kept, with an id made from its file, position and URL
    )
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 16
    case(
        "binary-as-html.warc.gz",
        gzip.compress(http_record(png)) + good("p1"),
        ["p1"],
        reasons=[BINARY],
    )
    mislabelled = ("Café crème brûlée à la façon de grand-mère. " * 30).encode("cp1252")
    bogus = ("Ein schöner Tag am Fluss, sagte er. " * 30).encode("utf-8")
    shift_jis = ("日本語のページです。川と山の話。" * 40).encode("shift_jis")
    # Labels that name Python codecs but no page's charset: transfer codes, and UTF-7, which
    # decodes "+2AA-" to a lone surrogate that language ID cannot take.
    hexed = ("Der Fluss fließt ruhig durch das Tal, sagte sie. " * 30).encode("utf-8")
    base64_meta = ('<html><head><meta charset="base64"></head><body><p>' + "Río y montaña, "
                   "dijo él. " * 30 + "</p></body></html>").encode("utf-8")  # fmt: skip
    utf7_meta = b'<html><head><meta charset="utf-7"></head><body><p>' + (
        b"Plain words about rivers +2AA- and hills. " * 30) + b"</p></body></html>"  # fmt: skip
    wide = page("Ein breiter Text über Berge und Täler. " * 30).decode().encode("utf-16-le")
    case(
        "charsets.warc.gz",
        gzip.compress(http_record(mislabelled, content_type=b"text/html; charset=utf-8"))
        + gzip.compress(http_record(bogus, content_type=b"text/html; charset=x-no-such-charset"))
        + gzip.compress(http_record(shift_jis, content_type=b"text/html"))
        + gzip.compress(http_record(hexed, content_type=b"text/html; charset=hex"))
        + gzip.compress(http_record(base64_meta, content_type=b"text/html"))
        + gzip.compress(http_record(utf7_meta, content_type=b"text/html"))
        + gzip.compress(http_record(wide, content_type=b"text/html; charset=utf-16le"))
        + good("c1"),
        ["c1"],
        reasons=[None] * 7,  # each decoded right: see test_wrong_charsets_are_recovered
    )
    (root / "huge-record.warc.gz").write_bytes(good("h1"))
    write_inflating_record(root / "huge-record.warc.gz", "ab", 200 * MiB)
    with (root / "huge-record.warc.gz").open("ab") as out:
        out.write(good("h2"))
    case("huge-record.warc.gz", None, ["h1", "h2"], reasons=[TOO_LARGE])
    (root / "bomb.warc.gz").write_bytes(good("z1"))
    write_inflating_record(root / "bomb.warc.gz", "ab", 1024 * MiB)
    case("bomb.warc.gz", None, ["z1"], reasons=[TOO_LARGE])
    case("empty.warc.gz", b"", [], error="no WARC record found")
    case("image.warc", png, [], error="no WARC record found")
    # An uncompressed WARC named .gz: read whole, and no gzip member reported damaged.
    plain = [http_record(page(f"The u{k} page says sentence {k} about rivers and hills. " * 20),
                         url=f"https://good.example/u{k}") for k in (1, 2)]  # fmt: skip
    case("uncompressed.warc.gz", b"".join(plain), ["u1", "u2"])
    case("notes.warc.gz", gzip.compress(b"just some notes\n" * 100), [], error="no WARC record")
    return cases


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, dict]:
    return build_corpus(tmp_path_factory.mktemp("malformed"))


def outcome(path: Path) -> tuple[list[str], list, str | None]:
    """(good pages kept, drop reasons of the other records, the file's error) from the core."""
    rows = list(ingest_input(str(path), IngestConfig()))
    docs = [r for r in rows if r["doc_id"] is not None]
    errors = [r["input_error"] for r in rows if r["doc_id"] is None]
    assert len(errors) <= 1
    kept = [
        r["url"].rsplit("/", 1)[1]
        for r in docs
        if r["drop_reason"] is None and (r["url"] or "").startswith("https://good.example/")
    ]
    others = [r["drop_reason"] for r in docs if not (r["url"] or "").startswith("https://good.")]
    return kept, sorted(others, key=str), errors[0] if errors else None


@pytest.mark.parametrize(
    "name",
    [
        "truncated-gzip.warc.gz", "length-too-short.warc.gz", "length-too-long.warc.gz",
        "garbage-member.warc.gz", "garbage-bytes.warc.gz", "missing-headers.warc.gz",
        "binary-as-html.warc.gz", "charsets.warc.gz", "huge-record.warc.gz", "bomb.warc.gz",
        "length-past-member.warc.gz", "length-into-header.warc.gz", "length-not-a-number.warc.gz",
        "length-onto-a-record.warc.gz", "length-a-little-long.warc.gz",
        "empty.warc.gz", "image.warc", "notes.warc.gz", "uncompressed.warc.gz",
        "plain-length-into-header.warc", "plain-length-a-little-long.warc",
        "plain-length-past-a-record.warc", "plain-garbage-bytes.warc",
        "plain-length-onto-a-record.warc", "plain-quotes-a-header.warc",
    ],
)  # fmt: skip
def test_each_damage_is_counted_and_good_records_kept(corpus, name):
    expected = corpus[name]
    kept, others, error = outcome(expected["path"])
    assert kept == expected["kept"]
    if expected["reasons"] is not None:
        assert others == expected["reasons"]
    if expected["error"] is None:
        assert error is None
    else:
        assert expected["error"] in error


@pytest.mark.parametrize(
    "name",
    [
        "length-past-member.warc.gz", "length-into-header.warc.gz",
        "length-onto-a-record.warc.gz", "length-a-little-long.warc.gz",
        "plain-length-into-header.warc", "plain-length-a-little-long.warc",
        "plain-length-past-a-record.warc", "plain-length-onto-a-record.warc",
    ],
)  # fmt: skip
def test_a_record_running_past_its_member_keeps_only_its_own_bytes(corpus, name):
    """The record whose Content-Length is too long keeps its own page, cut where the next
    member's record starts: none of the records it ran into is read twice or into it."""
    rows = list(ingest_input(str(corpus[name]["path"]), IngestConfig()))
    cut = [r for r in rows if (r.get("url") or "").startswith("https://other.example/")]
    assert len(cut) == 1 and cut[0]["text"] == ("long " * 50).strip()
    urls = [r["url"] for r in rows if r["doc_id"]]
    assert len(urls) == len(set(urls)) == 4


def test_wrong_charsets_are_recovered(corpus):
    """A cp1252 page declared utf-8, a page with a made-up charset name, a Shift_JIS page with
    none, pages labelled with codecs that are no charset (hex, base64, UTF-7) and a UTF-16 page
    without a BOM whose header says so: each decodes to its real text (the next candidate that
    decodes strictly), none has a lone surrogate, and language ID takes them all."""
    rows = list(ingest_input(str(corpus["charsets.warc.gz"]["path"]), IngestConfig()))
    texts = [(r["charset"], r["text"]) for r in rows if r["doc_id"] and r["text"]]
    assert any(c == "cp1252" and "Café crème brûlée" in t for c, t in texts)
    assert any("schöner Tag" in t for _, t in texts)
    assert any("日本語のページです" in t for _, t in texts)
    assert any(c == "utf-8" and "Der Fluss fließt" in t for c, t in texts)
    assert any(c == "utf-8" and "Río y montaña" in t for c, t in texts)
    assert any("rivers +2AA- and hills" in t for _, t in texts)
    assert any(c == "utf-16-le" and "Berge und Täler" in t for c, t in texts)
    assert all("\ufffd" not in t and t.encode("utf-8") for _, t in texts)
    assert len(identify([t for _, t in texts])[0]) == len(texts)


@pytest.mark.parametrize("name", ["huge-record.warc.gz", "bomb.warc.gz"])
def test_memory_stays_bounded(corpus, name):
    """A 200 MB record and a gzip member inflating to 1 GB, read in a fresh process: the peak
    RSS stays far below the inflated size, because payloads over the cap are never read."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent (here,
    # pytest with a JVM attached), while VmHWM belongs to the new process image alone.
    code = (
        "import json, sys\n"
        "from gristmill.pipeline.config import IngestConfig\n"
        "from gristmill.pipeline.documents import ingest_input\n"
        "rows = list(ingest_input(sys.argv[1], IngestConfig()))\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(json.dumps({'rows': len(rows), 'peak_mb': int(status) // 1024}))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code, str(corpus[name]["path"])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    result = json.loads(shown.stdout)
    assert result["rows"] >= 2 and result["peak_mb"] < 300, result


def test_spark_ingest_of_the_whole_corpus_reconciles(corpus, spark, tmp_path):
    uris = sorted(str(c["path"]) for c in corpus.values())
    stats, _ = run_ingest(spark, uris, tmp_path / "out", Config())
    assert stats["in"] == stats["out"] + sum(stats["dropped"].values())
    failed = {Path(f["path"]).name: f["error"] for f in stats["failed_inputs"]}
    assert failed.keys() == {n for n, c in corpus.items() if c["error"]}
    for name, error in failed.items():
        assert corpus[name]["error"] in error
    assert stats["dropped"][TOO_LARGE] == 2 and stats["dropped"][BINARY] == 1
    assert stats["out"] >= sum(len(c["kept"]) for c in corpus.values())
