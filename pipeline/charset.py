"""Turning HTML payload bytes into text when the declared charset may be missing or wrong.

Order of trust: a byte-order mark, then the HTTP header's charset, then the page's ``<meta>``
charset, then statistical detection, then UTF-8. The first candidate that decodes strictly wins;
if none does, the first is used with replacement characters and the share of them is returned, so
the caller can drop pages that are mostly garbage. Labels are mapped the way browsers map them
(WHATWG Encoding): a page labelled gb2312 is decoded as GB18030 and one labelled iso-8859-1 as
windows-1252 — on the real pages in shared/data, 9 "gb2312/gbk" pages only decode as gb18030.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from resiliparse.parse.encoding import detect_encoding

# WHATWG label -> Python codec for the labels whose Python meaning differs from a browser's.
_WHATWG = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932",
    "sjis": "cp932",
}
# Python codecs that decode bytes to text but are no page's charset: escapes, transfer codes and
# codecs that yield lone surrogates (UTF-7, the escape codecs), which no UTF-8 writer downstream
# takes (fastText's language ID refused one and failed its task). Browsers know none of them
# (WHATWG maps utf-7 to nothing); a page labelled so is decoded from its next candidate. Codecs
# that are no text encoding at all (base64, hex, zip, rot13) are refused by ``codecs`` itself.
_NOT_CHARSETS = frozenset(
    {"utf-7", "unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"}
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def normalize_label(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None if the label is unknown or names no
    page's charset (``charset=base64``, ``<meta charset="hex">``, ``utf-7``)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        return None
    return info.name


def meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:4096])
    return match.group(1).decode("ascii", "ignore") if match else None


def _labels(payload: bytes, declared: str | None) -> Iterator[str | None]:
    """The candidate labels in order of trust, each looked for only when every one before it
    failed to decode: statistical detection reads the whole payload (about 7% of extraction's
    time), and the declared charset decodes nearly every page."""
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            yield codec
    yield declared
    yield meta_charset(payload)
    yield detect_encoding(payload)
    yield "utf-8"


def decode_html(payload: bytes, declared: str | None) -> tuple[str, str, float]:
    """Decode a page; returns (text, codec used, share of replacement characters)."""
    candidates: list[str] = []
    for label in _labels(payload, declared):
        codec = normalize_label(label)
        if not codec or codec in candidates:
            continue
        candidates.append(codec)
        try:
            return payload.decode(codec), codec, 0.0
        except UnicodeDecodeError:
            continue
    codec = candidates[0]
    text = payload.decode(codec, errors="replace")
    return text, codec, text.count("\ufffd") / max(len(text), 1)


# File signatures of the binary formats servers most often label text/html: images, PDF,
# archives, compressed bodies sent without Content-Encoding, WebAssembly.
BINARY_MAGIC = (
    b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"%PDF-", b"PK\x03\x04", b"\x1f\x8b",
    b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"RIFF", b"\x00asm", b"wOFF", b"wOF2", b"OggS",
)  # fmt: skip


def looks_binary(payload: bytes, declared: str | None = None) -> bool:
    """A known binary signature, or NUL bytes, which do not occur in text HTML but in a page
    in UTF-16 or UTF-32: one with a BOM, or whose HTTP header ``declared`` such a charset."""
    head = payload[:8192]
    if head.startswith(BINARY_MAGIC):
        return True
    wide = (normalize_label(declared) or "").startswith(("utf-16", "utf-32"))
    if wide or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return head.count(b"\x00") > len(head) // 100
