"""Ingest's per-record decisions on crafted records (no Spark): every record gets one row."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import (
    BINARY,
    EMPTY,
    HTTP_STATUS,
    NOT_HTML,
    TOO_LARGE,
    ingest_input,
)

PAGE = "<html><body><article><p>{}</p></article></body></html>"
TEXT = "A paragraph of ordinary English prose about rivers and bridges, long enough to keep. " * 5
# "Café" with its accent as a combining mark: every text comes out in NFC.
DECOMPOSED = "The Cafe\u0301 on the river serves coffee to everyone who crosses the bridge. " * 5


def write_warc(path: Path, records: list[tuple[str, str, bytes, str]]) -> None:
    """records: (uri, http status line, payload, content type); 'conversion' status = WET."""
    with path.open("wb") as f:
        writer = WARCWriter(f, gzip=True)
        for uri, status, payload, ctype in records:
            if status == "conversion":
                rec = writer.create_warc_record(
                    uri, "conversion", payload=io.BytesIO(payload),
                    warc_content_type="text/plain",
                )  # fmt: skip
            else:
                headers = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
                rec = writer.create_warc_record(
                    uri, "response", payload=io.BytesIO(payload), http_headers=headers
                )
            writer.write_record(rec)


def test_each_record_gets_a_row_with_its_reason(tmp_path):
    html = PAGE.format(TEXT).encode()
    path = tmp_path / "crafted.warc.gz"
    write_warc(
        path,
        [
            ("https://a.example/ok", "200 OK", html, "text/html; charset=utf-8"),
            ("https://a.example/big", "200 OK", PAGE.format(TEXT * 400).encode(), "text/html"),
            ("https://a.example/png", "200 OK", b"\x89PNG\r\n\x1a\n" + bytes(500), "image/png"),
            ("https://a.example/bin", "200 OK", b"<html>" + bytes(2000), "text/html"),
            ("https://a.example/gone", "404 Not Found", html, "text/html"),
            ("https://a.example/blank", "200 OK", b"<html><body></body></html>", "text/html"),
            ("https://a.example/wet", "conversion", TEXT.encode(), "text/plain"),
            ("https://a.example/nfd", "conversion", DECOMPOSED.encode(), "text/plain"),
        ],
    )
    cfg = IngestConfig(max_record_bytes=100_000)
    rows = {r["url"].rsplit("/", 1)[1]: r for r in ingest_input(str(path), cfg)}
    assert {k: r["drop_reason"] for k, r in rows.items()} == {
        "ok": None,
        "big": TOO_LARGE,
        "png": NOT_HTML,
        "bin": BINARY,
        "gone": HTTP_STATUS,
        "blank": EMPTY,
        "wet": None,
        "nfd": None,
    }
    assert rows["ok"]["text"].startswith("A paragraph of ordinary English prose")
    assert rows["wet"]["text"] == TEXT.strip()
    assert rows["nfd"]["text"] == unicodedata.normalize("NFC", DECOMPOSED).strip() != DECOMPOSED
    assert rows["big"]["text"] is None and rows["big"]["payload_bytes"] > cfg.max_record_bytes
    assert len({r["doc_id"] for r in rows.values()}) == 8
