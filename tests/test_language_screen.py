"""The language screen before extraction (``ingest.languages``): what it reads of a page, and
that on real pages it drops nearly every page the quality stage's language rule drops, and
hardly any it keeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gristmill.filters.utf8 import next_byte
from gristmill.jobs.quality import check_languages
from gristmill.pipeline.config import Config, IngestConfig, config_from_dict
from gristmill.pipeline.config_checks import ConfigError
from gristmill.pipeline.documents import input_batches
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.language_screen import SCREENED, blocks, questions, screened

FILES = ["realpages-00000", "realpages-00001", "realpages-00002", "realpages-00003"]


def test_blocks_are_the_text_between_tags() -> None:
    html = (
        "<!DOCTYPE html><html><HEAD><title>T</title><style>p{}</style></HEAD><body>"
        "<p class='a>b'>One&nbsp;two\n\n  three</p><!-- a <p>comment</p> -->"
        "<SCRIPT type=x>if (a<b) {}</script><div>four <b>five</b></div>"
        "<svg><text>drawn</text></svg><script/>six < seven<br/>&amp;eight"
        "<noscript><p>nojs"
    )
    assert blocks(html) == ["One two three", "four", "five", "six < seven", "eight"]
    assert blocks("") == [] and blocks("plain text") == ["plain text"]


def test_scripts_and_comments_are_passed_over_wherever_they_end() -> None:
    """Scripts, styles and comments are passed over eight bytes a step: whatever their length
    (so wherever their end falls in a word of eight bytes), the text after them is read, and a
    "<", a "--" or a ">" inside them does not end them; one that never ends takes the rest."""
    for n in range(17):
        pad = "a" * n
        html = (
            f"<p>one</p><script>{pad}if (a<b) s = '</scr' + 'ipt>';</script><p>two</p>"
            f"<!--{pad} -- > ->-- ><p>no</p>--><p>three</p><style>{pad}p>a{{}}</style>four"
        )
        assert blocks(html) == ["one", "two", "three", "four"], n
    assert blocks("<p>one</p><!-- never ends <p>two</p>") == ["one"]
    assert blocks("<p>one</p><script>if (a < b) {} <p>two</p>") == ["one"]


def test_next_byte_finds_what_a_byte_by_byte_search_finds() -> None:
    """From any start, in an array that begins anywhere in memory: the first index holding the
    byte, or the array's size."""
    memory = np.frombuffer(b"xyz" + bytes(range(256)) * 2 + b"<" * 9, np.uint8)
    for offset in (0, 1, 3, 5):
        data = memory[offset:]
        for byte in (0, 7, 60, 255, 128):
            for i in range(data.size + 1):
                found = [k for k in range(i, data.size) if data[k] == byte]
                assert next_byte(data, i, byte) == (found[0] if found else data.size)


def test_blocks_read_any_character_the_page_holds() -> None:
    """The pass reads the page's UTF-8 bytes: characters of two, three and four bytes come out
    whole, a no-break space (U+00A0, whose second byte would read as one) and an ideographic
    space are spaces, an entity ends within 11 characters of any length, and a lone surrogate
    survives."""
    html = (
        "<p>café\u00a0中文\u3000😀 x</p><p>a&éééé; b&ééééééééééé;c</p><p>d&éééééééééééé;e</p>"
        "<div>\ud800 ok</div><p>ΑΒΓ&amp;δ</p>"
    )
    assert blocks(html) == [
        "café 中文 😀 x",
        "a b c",
        "d éééééééééééé;e",
        "\ud800 ok",
        "ΑΒΓ δ",
    ]


def test_questions_are_the_longest_blocks() -> None:
    long, short = "word " * 100, "menu item"
    html = f"<p>{short}</p><p>{long}</p><p>{short}</p><p>{long}x</p>"
    sample, *each = questions(html)
    assert sample == f"{long}x {long.strip()} {short} {short}"
    # Each long block's first 300 characters, as lid.176 reads them (no space at the end); the
    # short ones are not asked alone.
    assert each == [long[:300].rstrip()] * 2


def test_a_page_with_little_text_is_extracted_whatever_it_says() -> None:
    german = (
        "Die Stadt liegt am Ufer des Flusses und hat eine lange Geschichte. Im Sommer kommen "
        "viele Besucher, die durch die alten Gassen gehen und in den kleinen Cafés sitzen."
    )
    menu = "<ul><li>Startseite</li><li>Impressum</li><li>Datenschutz</li></ul>"
    english = frozenset(["en"])
    page = f"<body>{menu}<p>{german} {german}</p></body>"
    assert screened(page, english, 0.8) and screened(page, english, 0.8, page.encode())
    assert not screened(f"<body>{menu}<p>{german[:100]}</p></body>", english, 0.8)
    assert not screened(f"<body>{menu}<p>{german} {german}</p></body>", frozenset(["de"]), 0.8)


@pytest.fixture(scope="module")
def pages(shared_data: Path) -> dict[str, dict]:
    """Each record's ingest row with the screen off, by doc_id."""
    rows = {}
    for name in FILES:
        path = str(shared_data / "warc" / f"{name}.warc.gz")
        for batch in input_batches(path, IngestConfig()):
            rows.update({r["doc_id"]: r for r in batch.to_pylist()})
    return rows


@pytest.mark.parametrize("languages", [["en"], ["de"], ["de", "en"]])
def test_screened_pages_are_those_the_language_rule_drops(
    pages: dict[str, dict], shared_data: Path, languages: list[str]
) -> None:
    """Ingest with the screen: one row per record as before; a screened page is one the language
    rule would drop, but for at most 1% of those it keeps (German pages whose extracted text is
    English boilerplate, with ``[en]``), and most of those it drops are screened."""
    cfg = IngestConfig(languages=languages)
    with_screen = {}
    for name in FILES:
        path = str(shared_data / "warc" / f"{name}.warc.gz")
        for batch in input_batches(path, cfg):
            with_screen.update({r["doc_id"]: r for r in batch.to_pylist()})
    assert with_screen.keys() == pages.keys()
    gone = {d for d, r in with_screen.items() if r["drop_reason"] == SCREENED}
    for doc_id, row in with_screen.items():
        assert doc_id in gone or row == pages[doc_id]  # a page not screened is the same row
    assert {pages[d]["drop_reason"] for d in gone} <= {None, "empty_text"}
    quality = Config().quality
    kept = {
        d for d, r in pages.items()
        if not r["drop_reason"] and r["lang"] in languages
        and r["lang_score"] >= quality.min_lang_score
    }  # fmt: skip
    dropped = {d for d, r in pages.items() if not r["drop_reason"]} - kept
    assert len(gone & kept) <= 0.01 * len(kept), sorted(gone & kept)
    assert len(gone & dropped) >= 0.8 * len(dropped)


def test_the_screen_keeps_every_language_the_quality_stage_keeps() -> None:
    with pytest.raises(ConfigError, match=r"ingest\.languages.*\['fr'\]"):
        config_from_dict({"ingest": {"languages": ["en"]}, "quality": {"languages": ["en", "fr"]}})
    with pytest.raises(ConfigError, match=r"ingest\.languages.*every language"):
        config_from_dict({"ingest": {"languages": ["en"]}, "quality": {"languages": []}})
    with pytest.raises(ConfigError, match=r"ingest\.screen_confidence"):
        config_from_dict({"ingest": {"languages": ["en"], "screen_confidence": 0.2}})
    cfg = config_from_dict({"ingest": {"languages": ["en", "english"]}})
    with pytest.raises(UsageError, match=r"ingest\.languages.*english"):
        check_languages(cfg)
