"""Ingest's core: WARC records of one input file -> document rows (text, language, drop reason).

Pure Python over pyarrow batches; ``jobs/ingest.py`` runs :func:`ingest_batches` inside a
``mapInArrow`` task, one input file each, whose Python worker writes the rows. Every document
record becomes exactly one row, kept or with a drop reason, so the stage's counts reconcile; a
file that fails part-way adds one row with a null doc_id and the error, after the rows of the
records read before the failure.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from gristmill.pipeline import langid, language_screen
from gristmill.pipeline.charset import decode_html, looks_binary
from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.extract import composed, extractor
from gristmill.pipeline.inputs import display_name
from gristmill.pipeline.remote import NetworkError
from gristmill.pipeline.warc import CorruptInput, Record, read_records
from gristmill.schemas.tables import INGEST_EVENTS

HTML_TYPES = ("text/html", "application/xhtml+xml")

# Drop reasons of the ingest stage.
TOO_LARGE = "too_large"
NOT_HTML = "not_html"
HTTP_STATUS = "http_status_not_2xx"
BINARY = "binary_payload"
UNDECODABLE = "undecodable"
EXTRACTION_FAILED = "extraction_failed"
EMPTY = "empty_text"
# A record whose Content-Length is no length: where its payload ends cannot be known.
MALFORMED = "malformed_record"
# A WARC-Record-ID seen before in the same file: the spec makes it unique, and (doc_id,
# input_file) is the key by which later stages find a document's text in the ingest table.
REPEATED_RECORD = "repeated_record_id"


def doc_id_for(record_id: str, record: Record | None, input_name: str, index: int) -> str:
    """A stable id from the WARC-Record-ID (unique by the WARC spec), else from the input's
    file name, the record's position and what the record says of itself (its URL, date and
    length): a crawl of one's own names each night's files alike (night-1/part-00000.warc.gz),
    and name and position alone collided across them; the input's path would change the id
    of a file moved or read by another scheme (s3:// or https://)."""
    described = f"{record.url}#{record.date}#{record.length}" if record else ""
    key = record_id or f"{input_name}#{index}#{described}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _is_html(record: Record) -> bool:
    if record.content_type in HTML_TYPES:
        return True
    if record.content_type not in (None, "", "unknown", "application/octet-stream"):
        return False
    head = (record.payload or b"")[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _document(
    record: Record, cfg: IngestConfig, extract: Callable[[str], str], screen: frozenset[str]
) -> tuple[str | None, str | None, str | None]:
    """(text, charset, drop_reason) of one record; ``screen``: the languages a page may be in
    to be extracted (empty: any)."""
    if record.malformed:
        return None, None, MALFORMED
    if record.payload is None:
        return None, None, TOO_LARGE
    if record.kind == "conversion":  # WET: already plain UTF-8 text
        text, charset, bad = decode_html(record.payload, "utf-8")
        text = composed(text)
    else:
        if record.http_status is not None and not 200 <= record.http_status < 300:
            return None, None, HTTP_STATUS
        if not _is_html(record):
            return None, None, NOT_HTML
        if looks_binary(record.payload, record.charset):
            return None, None, BINARY
        html, charset, bad = decode_html(record.payload, record.charset)
        if bad > cfg.max_replacement_ratio:
            return None, charset, UNDECODABLE
        if screen and language_screen.screened(
            html, screen, cfg.screen_confidence, _utf8(record.payload, charset, bad)
        ):
            return None, charset, language_screen.SCREENED
        try:
            text = extract(html)
        except Exception:  # a parser failure on one hostile page must not fail the task
            return None, charset, EXTRACTION_FAILED
    if bad > cfg.max_replacement_ratio:
        return None, charset, UNDECODABLE
    text = text.strip()
    if len(text) < max(cfg.min_text_chars, 1):
        return None, charset, EMPTY
    return text, charset, None


def _utf8(payload: bytes, charset: str, bad: float) -> bytes | None:
    """The payload as the UTF-8 of its decoded text, where it is that: decoded strictly as
    UTF-8 (a UTF-8 BOM is no character of the text)."""
    if bad:
        return None
    if charset == "utf-8":
        return payload
    return payload[len(codecs.BOM_UTF8) :] if charset == "utf-8-sig" else None


def ingest_input(uri: str, cfg: IngestConfig, size: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows for one input file: one per document record, then an error row if the file failed.

    The error row of a network failure is ``input_retryable``: the job drops the file's rows from
    this batch and the ledger plans the file again, so each record arrives exactly once.
    ``size`` is the file's length as the ledger recorded it, when known.
    """
    extract = extractor(cfg.extractor)
    screen = frozenset(cfg.languages)
    name = display_name(uri)
    index = 0
    truncated: list[str] = []
    seen: set[str] = set()
    try:
        records = read_records(uri, cfg.max_record_bytes, cfg.network, size)
        for index, record in enumerate(records):
            doc_id = doc_id_for(record.record_id, record, name, index)
            outcome: tuple[str | None, str | None, str | None]
            if doc_id in seen:
                outcome = (None, None, REPEATED_RECORD)
            else:
                seen.add(doc_id)
                outcome = _document(record, cfg, extract, screen)
            text, charset, reason = outcome
            if record.truncated:
                truncated.append(record.record_id)
            yield {
                "doc_id": doc_id,
                "url": record.url,
                "warc_date": record.date,
                "warc_record_id": record.record_id,
                "input_file": uri,
                "content_type": record.content_type,
                "charset": charset,
                "payload_bytes": record.length,
                "text": text,
                "drop_reason": reason,
            }
    except NetworkError as exc:
        yield _error_row(uri, str(exc), retryable=True)
        return
    except CorruptInput as exc:
        yield _error_row(uri, "; ".join([str(exc), *_truncated(truncated)]))
        return
    if truncated:
        yield _error_row(uri, _truncated(truncated)[0])


def _truncated(record_ids: list[str]) -> list[str]:
    """The file's note on records shorter than their Content-Length (kept with what they hold,
    as Common Crawl's own truncated records are), if any."""
    if not record_ids:
        return []
    return [
        f"truncated: {len(record_ids)} record(s) shorter than their Content-Length, "
        f"first {record_ids[0]}"
    ]


def _error_row(uri: str, message: str, retryable: bool = False) -> dict[str, Any]:
    return {
        "doc_id": None,
        "input_file": uri,
        "input_error": message,
        "input_retryable": retryable,
    }


def _with_language(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    kept = [r for r in rows if r.get("text")]
    langs, scores = langid.identify([r["text"] for r in kept])
    for row, lang, score in zip(kept, langs, scores, strict=True):
        row["lang"], row["lang_score"] = lang, score
    return pa.RecordBatch.from_pylist(rows, schema=INGEST_EVENTS)


def ingest_batches(
    batches: Iterable[pa.RecordBatch], cfg: IngestConfig
) -> Iterator[pa.RecordBatch]:
    """Input URIs in (columns ``uri`` and ``size``, the length the ledger recorded or null),
    ingest rows out in batches."""
    for batch in batches:
        sizes = batch.column("size").to_pylist()
        for uri, size in zip(batch.column("uri").to_pylist(), sizes, strict=True):
            yield from input_batches(uri, cfg, size)


def input_batches(uri: str, cfg: IngestConfig, size: int | None = None) -> Iterator[pa.RecordBatch]:
    """One input file's ingest rows (:func:`ingest_input`) in batches of ``cfg.batch_size``."""
    rows: list[dict[str, Any]] = []
    for row in ingest_input(uri, cfg, size):
        rows.append(row)
        if len(rows) >= cfg.batch_size:
            yield _with_language(rows)
            rows = []
    if rows:
        yield _with_language(rows)
