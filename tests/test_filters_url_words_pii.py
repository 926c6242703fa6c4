"""The URL filter, C4's bad-words filter and PII masking, on real URLs and real crawl text: each
list drops what it names and nothing else, the allowlist wins, the quality stage's signal and
decision passes (the functions its Spark job maps) drop and mask as configured, and masking is a
function of the document alone."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest

from gristmill.filters import bad_words, c4, pii, url
from gristmill.filters.words import code_points
from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.config_checks import ConfigError
from gristmill.pipeline.quality import decide_batches, scored_batches, signal_batches
from gristmill.pipeline.warc import read_records
from gristmill.schemas.tables import INGEST, QUALITY, QUALITY_SIGNALS


def write_list(path: Path, entries: list[str]) -> str:
    path.write_text("# a comment line\n\n" + "\n".join(entries) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def real_urls(shared_data) -> list[str]:
    warc = shared_data / "warc" / "realpages-00004.warc.gz"
    urls = [r.url for r in read_records(str(warc), 10_000_000) if r.url]
    assert len(urls) > 50
    return urls


@pytest.fixture(scope="module")
def crawl_texts(shared_data) -> list[str]:
    path = shared_data / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
    with gzip.open(path, "rt") as f:
        return [json.loads(line)["text"] for line in f]


def host(u: str) -> str:
    return urlsplit(u).hostname or ""


def parent(h: str) -> str:
    return ".".join(h.split(".")[-2:])


def test_domain_blocklist_blocks_the_domain_and_its_subdomains_only(real_urls, tmp_path):
    chosen = sorted({parent(host(u)) for u in real_urls})[:5]
    cfg = url.UrlFilterConfig(blocked_domains=[write_list(tmp_path / "domains", chosen)])
    for u in real_urls:
        sig = url.signals(u, cfg)
        listed = parent(host(u)) in chosen
        assert url.decide(sig, cfg) == (url.BLOCKED_DOMAIN if listed else None), u
    # A subdomain listed blocks that subdomain, not its parent or siblings.
    sub = "news." + chosen[0]
    cfg = url.UrlFilterConfig(blocked_domains=[write_list(tmp_path / "sub", [sub.upper()])])
    assert url.decide(url.signals(f"https://{sub}/a", cfg), cfg) == url.BLOCKED_DOMAIN
    assert url.decide(url.signals(f"https://x.{sub}:8080/a", cfg), cfg) == url.BLOCKED_DOMAIN
    assert url.decide(url.signals(f"https://{chosen[0]}/a", cfg), cfg) is None
    assert url.decide(url.signals(f"https://www.{chosen[0]}/news.{chosen[0]}", cfg), cfg) is None


def test_url_words_subwords_urls_and_the_allowlist(real_urls, tmp_path):
    def path_words(v: str) -> list[str]:
        return [w for w in url._NOT_ALNUM.split(urlsplit(v).path.lower()) if len(w) > 3]

    u = next(v for v in real_urls if len(set(path_words(v))) >= 2)
    words = sorted(set(path_words(u)), key=path_words(u).index)
    lists = {
        "banned_words": write_list(tmp_path / "banned", [words[0].upper()]),
        "soft_banned_words": write_list(tmp_path / "soft", words[:2]),
        "banned_subwords": write_list(tmp_path / "sub", [words[0][1:-1]]),
        "blocked_urls": write_list(tmp_path / "urls", [u.split("://")[1]]),
    }
    expected = {
        "banned_words": url.BANNED_WORD,
        "soft_banned_words": url.SOFT_BANNED_WORDS,
        "banned_subwords": url.BANNED_SUBWORD,
        "blocked_urls": url.BLOCKED_URL,
    }
    marks = (words[0], words[1], words[0][1:-1])
    others = [
        v for v in real_urls if not any(m in url._NOT_ALNUM.sub("", v.lower()) for m in marks)
    ]
    assert len(others) > 30
    for key, path in lists.items():
        cfg = url.UrlFilterConfig(**{key: [path]})
        assert url.decide(url.signals(u, cfg), cfg) == expected[key], key
        assert [v for v in others if url.decide(url.signals(v, cfg), cfg)] == [], key
    # One soft word is not enough; the threshold counts distinct listed words.
    cfg = url.UrlFilterConfig(soft_banned_words=[lists["soft_banned_words"]], soft_word_threshold=3)
    assert url.decide(url.signals(u, cfg), cfg) is None
    allowed = write_list(tmp_path / "allowed", [parent(host(u))])
    cfg = url.UrlFilterConfig(banned_words=[lists["banned_words"]], allowed_domains=[allowed])
    assert url.decide(url.signals(u, cfg), cfg) is None
    assert url.decide(url.signals(u, url.UrlFilterConfig()), url.UrlFilterConfig()) is None
    cfg = url.UrlFilterConfig(banned_words=[lists["banned_words"]])
    assert url.signals("http://[broken/" + words[0], cfg)["url_banned_words"] == 1


def test_bad_words_match_whole_words_and_phrases_per_language(crawl_texts, tmp_path):
    text = next(t for t in crawl_texts if len(t.split()) > 200)
    words = sorted({w for w in text.lower().split() if w.isalpha() and len(w) > 6})
    word = words[len(words) // 2]
    inside = word[1:-1]  # in the text only inside the longer word, never alone
    assert f" {inside} " not in f" {text.lower()} "
    phrase = " ".join(text.lower().split()[10:12])
    lists = write_list(tmp_path / "en", [word.upper(), inside, phrase])
    cfg = bad_words.BadWordsConfig(lists={"en": lists})
    found = bad_words.signals(text, cfg, lang="en")["bad_words"]
    occurrences = [w.strip(".,;:!?\"'()") for w in text.lower().split()].count(word)
    assert (
        found >= occurrences + 1 and bad_words.decide({"bad_words": found}, cfg) == "c4_bad_words"
    )
    clean = bad_words.signals("Nothing listed here at all.", cfg, lang="en")
    assert clean == {"bad_words": 0} and bad_words.decide(clean, cfg) is None
    assert bad_words.signals(text, cfg, lang="de") == {"bad_words": None}  # no German list
    assert bad_words.decide({"bad_words": None}, cfg) is None
    zh = write_list(tmp_path / "zh", ["坏词"])
    cfg = bad_words.BadWordsConfig(lists={"zh": zh})
    assert bad_words.signals("这是一个坏词的句子坏词", cfg, lang="zh") == {"bad_words": 2}
    tolerant = bad_words.BadWordsConfig(lists={"zh": zh}, max_matches=2)
    assert bad_words.decide({"bad_words": 2}, tolerant) is None


def test_pii_masks_every_email_and_public_ip_of_real_text(crawl_texts):
    cfg = pii.PiiConfig()
    emails = ips = 0
    for text in crawl_texts:
        masked, counts = pii.mask(text, cfg)
        remaining = [m for m in pii.EMAIL.findall(masked) if m not in cfg.email_placeholders]
        assert remaining == []
        placed = sum(masked.count(p) - text.count(p) for p in cfg.email_placeholders)
        assert placed == counts["pii_emails"]
        emails, ips = emails + counts["pii_emails"], ips + counts["pii_ip_addresses"]
    assert emails >= 20 and ips >= 1  # the sample holds real addresses
    line = "Ping 8.8.8.8 or 192.168.1.10 or 127.0.0.1, write to a.b@mail.example.net."
    masked, counts = pii.mask(line, cfg)
    assert counts == {"pii_emails": 1, "pii_ip_addresses": 1}
    assert "192.168.1.10" in masked and "127.0.0.1" in masked and "8.8.8.8" not in masked
    # The placeholder a document gets depends on that document alone (datatrove's turn carries
    # over between documents, so its output depends on the split into tasks).
    two = "x@y.org and z@w.org"
    assert (
        pii.mask(two, cfg)[0]
        == pii.mask(two, cfg)[0]
        == ("email@example.com and firstname.lastname@example.org")
    )
    off = pii.PiiConfig(emails=False, ip_addresses=False)
    assert pii.mask(line, off) == (line, {"pii_emails": 0, "pii_ip_addresses": 0})


def test_an_address_s_local_part_is_at_most_64_characters():
    """RFC 5321's longest local part bounds where a match may start, so a long word without an
    address is read in linear time (a word of 16,000 "a-" with an "@" at its end took 4.7 s)."""
    cfg = pii.PiiConfig()
    longest, longer = "l" * 64 + "@mail.example.net", "l" * 65 + "@mail.example.net"
    assert pii.mask(f"to {longest}.", cfg) == (
        "to email@example.com.",
        {"pii_emails": 1, "pii_ip_addresses": 0},
    )
    assert pii.mask(f"to {longer}.", cfg)[1]["pii_emails"] == 0
    for word in ("a-" * 8000 + "@", "x@" + "a-" * 8000, "a." * 8000 + "@x.com"):
        assert pii.mask(word, cfg)[1]["pii_emails"] == 0


def test_ip_scan_finds_every_text_ipv4_can_match():
    """The compiled scan that lets a page skip the IPV4 regex, against the regex it stands for,
    on strings of digits, dots and other characters (a non-ASCII digit too)."""
    hint = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
    pieces = [*"0123456789....a \u0663", "1.2", "255.", "1234"]
    rng = random.Random(1)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 15)))
        found = pii._has_dotted_quad(code_points(text))
        assert found == bool(hint.search(text)), text
        assert found or not pii.IPV4.search(text)


def test_emails_are_searched_in_the_words_holding_an_at_sign(crawl_texts):
    """Masking searches only the whitespace-delimited words that hold an "@": the same text and
    count as the regex over the whole text, on crawl text and on mixed strings."""
    placeholders = pii.PiiConfig().email_placeholders
    rng = random.Random(4)
    pieces = [*"ab.@-_ \n\t[]:1é\u00a0", "x@y.org", "a.b@c-d.e", "[1.2.3.4]", "@@", "u+t@m.ex.com"]
    mixed = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 20))) for _ in range(20_000)]
    for text in [t for t in crawl_texts if "@" in t] + mixed:
        whole = pii._replace(pii.EMAIL, text, placeholders)
        assert pii._replace(pii.EMAIL, text, placeholders, spans=pii.at_sign_words(text)) == whole


def test_quality_passes_drop_by_url_and_mask_the_kept_text(real_urls, crawl_texts, tmp_path):
    """The quality stage's two mapInArrow bodies over real URLs and crawl text: a blocked domain
    drops with its reason before any other rule, addresses are masked in the stored text and
    counted, and every kept page stores its cleaned text, a dropped one none."""
    with_email = [t for t in crawl_texts if pii.mask(t, pii.PiiConfig())[1]["pii_emails"]][:5]
    texts = with_email + crawl_texts[:20]
    urls = real_urls[: len(texts)]
    blocked = parent(host(urls[0]))
    quality = {
        "languages": [],
        "min_lang_score": 0.0,
        "url_filter": {"blocked_domains": [write_list(tmp_path / "d", [blocked])]},
    }
    cfg = config_from_dict({"quality": quality}).quality
    rows = [
        {f.name: None for f in INGEST}
        | {"doc_id": str(i), "url": u, "text": t, "lang": "en", "lang_score": 0.9}
        for i, (u, t) in enumerate(zip(urls, texts, strict=True))
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=INGEST)
    scored = list(signal_batches([batch], cfg))
    out = pa.Table.from_batches(
        list(decide_batches(scored, cfg, 0, {})), schema=QUALITY
    ).to_pylist()
    for row, original in zip(out, texts, strict=True):
        if parent(host(row["url"])) == blocked:
            assert row["drop_reason"] == url.BLOCKED_DOMAIN and row["url_blocked_domain"] == 1
        else:
            assert row["url_blocked_domain"] == 0
            assert not (row["drop_reason"] or "").startswith("url_")
        if row["drop_reason"] is None and row["pii_emails"]:
            assert "email@example.com" in row["text"]
            assert not [m for m in pii.EMAIL.findall(row["text"]) if "example." not in m]
        if row["drop_reason"] is None:
            assert row["text"] == pii.mask(c4.clean(original, cfg.c4)[0], cfg.pii)[0]
        else:
            assert row["text"] is None
    assert sum(r["pii_emails"] for r in out) >= 5


def test_lists_are_checked_before_spark_and_recipes_set_pii(tmp_path):
    from gristmill.jobs.quality import check_lists
    from gristmill.pipeline.errors import UsageError

    cfg = config_from_dict({"quality": {"bad_words": {"lists": {"en": str(tmp_path / "no")}}}})
    with pytest.raises(UsageError, match=r"quality.bad_words.lists.en.*not found"):
        check_lists(cfg)
    cfg = config_from_dict({"quality": {"url_filter": {"blocked_domains": [str(tmp_path)]}}})
    with pytest.raises(UsageError, match=r"quality.url_filter.blocked_domains\[0\]"):
        check_lists(cfg)
    with pytest.raises(ConfigError, match="soft_word_threshold"):
        config_from_dict({"quality": {"url_filter": {"soft_word_threshold": 0}}})
    assert config_from_dict({}).quality.pii.emails
    c4 = config_from_dict({"quality": {"recipe": "c4"}}).quality.pii
    assert not c4.emails and not c4.ip_addresses
    mine = config_from_dict({"quality": {"recipe": "c4", "pii": {"emails": True}}}).quality.pii
    assert mine.emails and not mine.ip_addresses


def test_rows_dropped_by_language_are_not_scored_and_decide_alike(real_urls, crawl_texts, tmp_path):
    """The signal pass reads a row the language rule drops no further than the URL filter: its
    other signals are null, and every decision is the one the fully scored rows get, the URL
    filter's reason first where both rules drop."""
    texts = crawl_texts[:40]
    urls = real_urls[: len(texts)]
    blocked = parent(host(urls[3]))
    langs = [("en", 0.9), ("de", 0.95), ("en", 0.3), ("fr", 0.8)]
    rows = [
        {f.name: None for f in INGEST}
        | {"doc_id": str(i), "url": u, "text": t, "lang": lang, "lang_score": score}
        for i, (u, t, (lang, score)) in enumerate(
            zip(urls, texts, [langs[i % 4] for i in range(len(texts))], strict=True)
        )
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=INGEST)
    url_filter = {"blocked_domains": [write_list(tmp_path / "d", [blocked])]}
    gated = config_from_dict({"quality": {"url_filter": url_filter}}).quality
    everything = config_from_dict(
        {"quality": {"url_filter": url_filter, "languages": [], "min_lang_score": 0.0}}
    ).quality
    partial = pa.Table.from_batches(list(signal_batches([batch], gated)), schema=QUALITY)
    whole = pa.Table.from_batches(list(signal_batches([batch], everything)), schema=QUALITY)
    signal_names = [f.name for f in QUALITY_SIGNALS]
    for row, full in zip(partial.to_pylist(), whole.to_pylist(), strict=True):
        assert row["url_blocked_domain"] == full["url_blocked_domain"]
        if (row["lang"], row["lang_score"]) == ("en", 0.9):
            assert row == full
        else:
            assert row["n_chars"] is None and row["text"] is None
            assert {row[n] for n in signal_names if not n.startswith("url_")} == {None}
    decided = [
        pa.Table.from_batches(list(decide_batches(t.to_batches(), gated, 0, {})), schema=QUALITY)
        for t in (partial, whole)
    ]
    in_one_pass = pa.Table.from_batches(list(scored_batches([batch], gated, 0, {})), schema=QUALITY)
    reasons = [t.column("drop_reason").to_pylist() for t in (*decided, in_one_pass)]
    assert reasons[0] == reasons[1] == reasons[2]
    assert {"lang_not_allowed", "lang_score_low", url.BLOCKED_DOMAIN} <= set(reasons[0])
    assert reasons[0][3] == url.BLOCKED_DOMAIN  # a French page on a blocked domain
