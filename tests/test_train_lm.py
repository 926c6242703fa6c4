"""train-lm and the perplexity signal: a 5-gram Kneser-Ney model estimated on Spark from real
Wikipedia text (WikiText-2 valid, detokenized, minus a held-out slice), loaded by kenlm.

Checked: the normalization and the discount formula on their own; every order's distribution
sums to one under kenlm's own scoring; held-out Wikipedia scores lower than Common Crawl spam
and boilerplate; the model equals lmplz's (make's install builds it into the venv); the inputs the
job reads; the command line.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import unicodedata
from pathlib import Path

import kenlm
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.filters.nfkc import mapped
from gristmill.filters.perplexity import (
    LanguageModel,
    binary_beside,
    cutoffs_for,
    document_perplexity,
    load_model,
    percentile_of,
    perplexities,
    read_cutoffs,
)
from gristmill.filters.words import code_points
from gristmill.jobs import train_lm
from gristmill.jobs.text_inputs import read_text_documents
from gristmill.pipeline import lm_text
from gristmill.pipeline.config import IngestConfig, load_config
from gristmill.pipeline.documents import ingest_input
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.kneser_ney import (
    DiscountError,
    Discounts,
    arpa_line,
    modified_kn_discounts,
    sentence_ngrams,
)
from gristmill.pipeline.lm_text import detokenize_wikitext, lm_lines, normalize, scored_lines
from tests.conftest import unavailable

ORDER = 5
HELD_OUT = 300  # paragraphs at the end of WikiText-2 valid, never trained on
SPAM_WARC = "warc/CC-MAIN-2020-34.resiliparse-excerpt.warc.gz"


# -- the pure parts -------------------------------------------------------------------------------


def test_normalization():
    assert normalize("Café DÉJÀ-vu: ５０％ OFF!!") == "cafe deja vu 00 off"
    assert normalize("It's 1,234.5 km — don’t <s> </s> <unk>") == "its 00000 km dont s s unk"
    assert normalize("  \t ") == ""
    assert lm_lines("One. Two, e.g. three!\n\nFour… five? 今天很好。我们去") == [
        "one",
        "two e g three",
        "four five",
        "今天很好",
        "我们去",
    ]
    # Normalized text is a fixed point: the model's training text normalizes to itself.
    assert lm_lines("one\ntwo e g three") == ["one", "two e g three"]
    # Every line break ends a sentence, whatever ends the line; a sentence end's trailing spaces
    # stay on its line, so a lowercase next line still starts a sentence of its own.
    assert lm_lines("e.g.\nthe end. \r\nnext\u2028Last one! now") == [
        "e g",
        "the end",
        "next",
        "last one now",
    ]


# The normalization as its module docstring defines it, a sentence at a time, in plain Python.
_REFERENCE_BREAK = r"\s(?<=[.!?…]\s)[^\S\n]*(?![a-z])|\n"
_REFERENCE_CJK_BREAK = _REFERENCE_BREAK + "|(?<=[\u3002\uff01\uff1f])[^\\S\\n]*"


def _reference_char(c: str) -> str:
    category = unicodedata.category(c)
    if category == "Nd":
        return "0"
    if c in "'’ʼ‘`´" or category == "Cf":
        return ""
    if (category[0] in "PS" or category == "Cc") and c not in "\t\n\r":
        return " "
    return c


def reference_lm_lines(text: str) -> list[str]:
    cjk = any(stop in text for stop in "\u3002\uff01\uff1f")
    pattern = _REFERENCE_CJK_BREAK if cjk else _REFERENCE_BREAK
    lines = []
    for sentence in re.split(pattern, "\n".join(text.splitlines())):
        folded = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", sentence).lower())
        folded = "".join(c for c in folded if unicodedata.category(c) != "Mn")
        folded = re.sub(r"[.,](?<=\d[.,])(?=\d)", "", unicodedata.normalize("NFC", folded))
        line = " ".join("".join(map(_reference_char, folded)).split())
        if line:
            lines.append(line)
    return lines


def test_compiled_normalization_equals_its_definition(shared_data):
    """lm_lines (numba passes over code points, accents stripped by a per-character table)
    against the definition, on real pages and on strings mixing every case it treats: stops
    before spaces, lowercase and line ends of every kind, CJK stops, digit grouping, accents,
    combining marks, compatibility forms, final sigma, Hangul, invisible characters."""
    warc = sorted((shared_data / "warc").glob("realpages-*.warc.gz"))[0]
    pages = [row["text"] for row in ingest_input(str(warc), IngestConfig()) if row.get("text")]
    assert len(pages) > 50
    for text in pages:
        assert lm_lines(text) == reference_lm_lines(text)
    # Steps 2 and 3 go by the per-character table on nearly every page, so the comparison above
    # tests that table, not the whole-text path it falls back to.
    alone = sum(mapped(code_points(text), *lm_text._folds())[1] for text in pages)
    assert alone > 0.9 * len(pages), (alone, len(pages))
    pieces = [
        *"aZz9 .!?…,'’\n\r\t\u00a0\u2028\x0b\x1c\x85é\u0301ΣİﬁＡ５％-\u200b\u3002\uff01\uff1f",
        *("e.g.", "1,234.5", "ΟΔΟΣ", "\u1100\u1161", "Dr. Smith", "one!  now", "ा", "ǅ"),
        *("ệ", "ǖ", "ΐ", "\u0344", "\u0958", "ো", "\u09c7", "\u09be", "\u0b47\u0b3e", "Å"),
        *("\u1100\u0301\u1161", "\u0f73", "\u0301\u0327", "가\u11a8", "\u0dd9\u0dca"),
    ]
    rng = random.Random(5)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert lm_lines(text) == reference_lm_lines(text), text
        assert normalize(text) == " ".join(" ".join(reference_lm_lines(text)).split())


def test_scored_lines_are_the_lm_lines_in_utf8_with_their_tokens(shared_data):
    """What perplexity scores: the LM lines as UTF-8 bytes, and their words and </s> counted,
    on real pages and on texts of one-, two-, three- and four-byte characters."""
    warc = sorted((shared_data / "warc").glob("realpages-*.warc.gz"))[1]
    pages = [row["text"] for row in ingest_input(str(warc), IngestConfig()) if row.get("text")]
    pieces = [*"aZ9 .!?\n\t", "é", "Ω", "日本。", "\u20ac", "\U0001f600", "\U0001d518", "\u00a0"]
    rng = random.Random(7)
    texts = [
        *pages,
        *("".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(3000)),
    ]
    for text in texts:
        lines = lm_lines(text)
        tokens = sum(len(line.split(" ")) + 1 for line in lines)
        assert scored_lines(text) == ([line.encode() for line in lines], tokens), text


def test_accents_stripped_character_by_character_as_whole_texts():
    """Step 3 goes by a per-character table where that gives what stripping the whole text
    gives: every character with a decomposition, alone and between a letter, combining marks
    of every kind, Hangul jamo and syllables and Indic vowel signs, as the definition strips
    it; and no code point outside the table's ranges has a decomposition or is a mark."""
    decomposing = [
        chr(c) for c in range(0x30000) if unicodedata.decomposition(chr(c)) and chr(c) != "\n"
    ]
    neighbours = ("a", "\u0301", "\u1161", "\u09be", "\u0b3e", "\u11a8", "ᄀ", "\u0327", "가")
    neighbours += ("\U0001d165", "\u302e", "\u093c", "\u0bbe")
    for char in decomposing:
        for text in (char, *(n + char + n for n in neighbours)):
            assert lm_lines(text) == reference_lm_lines(text), ascii(text)
    # The table looks for decompositions and marks where this Unicode database has them.
    scanned = {c for r in lm_text._ACCENT_RANGES for c in r}
    for char in (chr(c) for c in range(0x110000) if c not in scanned):
        fields = unicodedata.decomposition(char)
        assert not fields or fields.startswith("<"), ascii(char)
        assert not unicodedata.combining(char) and unicodedata.category(char) != "Mn", ascii(char)


def test_wikitext_detokenizer():
    raw = " = = Life = = \n In 1 @,@ 000 , the <unk> well @-@ known ( big ) ship 's crew . \n"
    assert detokenize_wikitext(raw).splitlines() == [
        "Life",
        "In 1,000, the well-known (big) ship's crew.",
    ]


def test_counted_ngrams_of_a_sentence():
    assert sorted(sentence_ngrams(["a", "b"], 3)) == [
        (2, "<s> a"),
        (2, "a b"),
        (2, "b </s>"),
        (3, "<s> a b"),
        (3, "a b </s>"),
    ]
    assert sorted(sentence_ngrams(["a"], 5)) == [(2, "<s> a"), (2, "a </s>"), (3, "<s> a </s>")]
    assert sorted(sentence_ngrams(["a"], 1)) == [(1, "</s>"), (1, "a")]


def test_discounts_as_lmplz():
    # The 5-grams of this test's training text: count-of-counts, and the discounts lmplz
    # printed for them ("5 131661 D1=0.970313 D2=1.573 D3+=1.92931").
    d = modified_kn_discounts(5, [129235, 1977, 290, 80])
    assert d == pytest.approx((0.970313, 1.573, 1.92931), abs=1e-5)
    with pytest.raises(DiscountError, match="adjusted count 2"):
        modified_kn_discounts(3, [10, 0, 3, 1])
    stats = {1: {"n1": 5, "n2": 0, "n3": 1, "n4": 1}}
    with pytest.raises(DiscountError):
        train_lm.estimate_discounts(stats, fallback=False)
    assert train_lm.estimate_discounts(stats, fallback=True) == ({1: Discounts(0.5, 1, 1.5)}, [1])


def test_arpa_line():
    assert arpa_line("a b", 0.01, 1.0) == "-2\ta b\t0"
    assert arpa_line("<s>", 1.0, 0.5) == "0\t<s>\t-0.30103"
    assert arpa_line("a b c", 1.0000001) == "0\ta b c"  # rounding above 1 clipped, as lmplz


# -- the model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    """(training .txt, held-out paragraphs) from WikiText-2 valid."""
    text = (shared_data / "reference" / "wikitext-2_valid.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in detokenize_wikitext(text).splitlines() if p.strip()]
    train, held_out = paragraphs[:-HELD_OUT], paragraphs[-HELD_OUT:]
    path = tmp_path_factory.mktemp("lm-text") / "wiki.txt"
    path.write_text("\n".join(train) + "\n", encoding="utf-8")
    return path, held_out


def lm_args(*argv: str) -> argparse.Namespace:
    """train-lm's arguments as its command line parses them (defaults included)."""
    parser = argparse.ArgumentParser()
    train_lm.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def model(spark, corpus, tmp_path_factory):
    """(model directory, lm.json) trained by the job, in the test session's Spark."""
    out = tmp_path_factory.mktemp("lm") / "wiki5"
    args = lm_args("--text", str(corpus[0]), "--order", str(ORDER), "--out", str(out))
    cfg = load_config(None)
    train_lm.check(args, cfg)
    meta = train_lm.run(spark, args, cfg)
    return out, meta


def arpa_unigrams(path: Path) -> list[str]:
    words, inside = [], False
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("\\1-grams:"):
                inside = True
            elif inside and not line.strip():
                return words
            elif inside:
                words.append(line.split("\t")[1])
    return words


def test_model_files(model):
    out, meta = model
    binary = ["model.binary"] if train_lm.build_binary_tool() else []
    assert sorted(p.name for p in out.iterdir()) == [
        "cutoffs.json",
        "lm.json",
        "model.arpa",
        *binary,
    ]
    assert meta["binary"] == (binary[0] if binary else None)
    assert not list(out.parent.glob("*.tmp-*"))
    assert json.loads((out / "lm.json").read_text()) == meta
    arpa = (out / "model.arpa").read_bytes()
    assert hashlib.sha256(arpa).hexdigest() == meta["arpa_sha256"]
    header = arpa.split(b"\n\n", 1)[0].decode().splitlines()
    assert header == ["\\data\\"] + [f"ngram {k}={n}" for k, n in meta["ngrams"].items()]
    assert meta["order"] == ORDER and list(meta["discounts"]) == ["1", "2", "3", "4", "5"]
    for d in meta["discounts"].values():
        assert 0 < d["D1"] < 1 < d["D2"] < 2 and 0 < d["D3+"] < 3
    assert meta["vocab_size"] == meta["ngrams"]["1"] > 10_000
    assert meta["sentences"] > 6000 and meta["tokens"] > 140_000


def test_cutoffs_are_the_model_perplexity_percentiles_of_the_documents(model, corpus):
    """cutoffs.json: each whole percentile of the training documents' perplexities under the
    model, as the quality stage will read head (30th) and middle (60th) from it."""
    out, meta = model
    frozen = read_cutoffs(out / "cutoffs.json")
    assert frozen["model_sha256"] == meta["arpa_sha256"] and list(frozen["languages"]) == ["en"]
    table = frozen["languages"]["en"]
    assert table == sorted(table) and table[0] < table[-1]
    lm = kenlm.Model(str(out / "model.arpa"))
    lines = corpus[0].read_text(encoding="utf-8").splitlines()
    ppl = np.array([document_perplexity(line, LanguageModel(lm, None)) for line in lines])
    ppl = ppl[np.isfinite(ppl)]
    for percentile in (10, 30, 60, 90):
        below = (ppl <= table[percentile - 1]).mean()
        assert abs(below - percentile / 100) < 0.01, percentile
    head, middle = cutoffs_for(frozen["languages"], 30, 60)["en"]
    assert (head, middle) == (table[29], table[59])
    assert percentile_of(table, 45.5) == pytest.approx((table[44] + table[45]) / 2)


def test_the_percentile_table_does_not_depend_on_the_partitioning(spark, monkeypatch):
    """Exact percentiles up to PERCENTILE_SAMPLE values of a language (numpy's, linear between
    ranks), a hash-chosen sample past it: the same table from 1 partition or 7, where Spark's
    percentile_approx answered differently past about 50,000 values."""
    from gristmill.jobs import quality

    rng = np.random.default_rng(5)
    few = rng.lognormal(5.0, 0.5, 3_000)
    many = rng.lognormal(6.0, 0.7, 40_000)
    many[:1_200] = np.percentile(many, 30)  # 3% of the pages share one value (a template's)
    values = [("de", float(v)) for v in few] + [("en", float(v)) for v in many] + [("en", None)]
    rows = [(lang, v, f"doc{i}") for i, (lang, v) in enumerate(values)]
    monkeypatch.setattr(quality, "PERCENTILE_SAMPLE", 10_000)  # en sampled, de whole
    schema = "lang string, perplexity double, doc_id string"
    tables = [
        quality.perplexity_table(spark.createDataFrame(rows, schema).repartition(n)) for n in (1, 7)
    ]
    assert tables[0] == tables[1]
    table = tables[0]
    assert table["de"] == pytest.approx(list(np.percentile(few, range(1, 100))), rel=1e-12)
    # en: about 10,000 of its 40,000 values, within 1.5% of rank of the whole's (3 sigma); the
    # pages that share a value are sampled one by one (by doc_id), not all in or all out.
    for p in (1, 30, 40, 60, 99):
        below = (many < table["en"][p - 1]).mean(), (many <= table["en"][p - 1]).mean()
        assert below[0] - 0.015 < p / 100 < below[1] + 0.015, (p, below)


def test_every_order_is_a_distribution(model, corpus):
    """sum over the vocabulary of p(w | h) = 1, p from kenlm's full_scores (backoffs applied),
    for contexts whose longest match is each order, at and after the sentence start."""
    out, _ = model
    lm = kenlm.Model(str(out / "model.arpa"))
    assert lm.order == ORDER
    vocabulary = [w for w in arpa_unigrams(out / "model.arpa") if w != "<s>"]
    trained = (s for p in corpus[0].read_text(encoding="utf-8").splitlines() for s in lm_lines(p))
    sentence = next(s for s in trained if len(s.split()) >= 8).split()
    contexts = [(True, sentence[:n]) for n in range(ORDER)]
    contexts += [(False, sentence[2 : 2 + n]) for n in range(ORDER)]
    contexts += [(False, ["unseenword", "qqqq"]), (True, ["the", "unseenword"])]
    for bos, context in contexts:
        total = 0.0
        for word in vocabulary:
            *_, (log10_p, _, _) = lm.full_scores(" ".join([*context, word]), bos=bos, eos=False)
            total += 10.0**log10_p
        assert total == pytest.approx(1.0, abs=1e-3), (bos, context)
    # The last sentence-start context is a 4-word context: the top order answered.
    scores = list(lm.full_scores(" ".join(sentence[:ORDER]), bos=True, eos=False))
    assert scores[-1][1] == ORDER


def test_wikipedia_scores_lower_than_spam_and_boilerplate(model, corpus, shared_data):
    out, _ = model
    arpa = str(out / "model.arpa")
    held_out = corpus[1]
    spam = [
        r["text"]
        for r in ingest_input(str(shared_data / SPAM_WARC), IngestConfig())
        if r.get("text")
    ]
    low = (shared_data / "reference" / "cs336_low_quality_cc.txt").read_text(encoding="utf-8")
    assert len(spam) >= 10
    wiki_pp = perplexities(held_out, arpa)
    spam_pp = perplexities(spam, arpa)
    assert statistics.median(wiki_pp) * 5 < statistics.median(spam_pp)
    whole_wiki, whole_spam, whole_low = perplexities(
        ["\n".join(held_out), "\n".join(spam), low], arpa
    )
    assert whole_wiki * 3 < whole_low
    assert whole_wiki * 10 < whole_spam
    assert math.isnan(perplexities(["", " -- "], arpa)[1])


def kenlm_tool(path: str | None, name: str) -> str:
    """One of KenLM's tools, which make's install step builds into the venv where it can
    (scripts/build-kenlm.sh)."""
    if path is None:
        unavailable(f"no {name} on PATH or in the venv: scripts/build-kenlm.sh builds it")
    return path


def test_workers_memory_map_the_binary_model(model, corpus, tmp_path):
    """The quality stage opens model.binary, memory-mapped (shared by every worker on a
    machine), scoring exactly as the ARPA does; an ARPA newer than its binary is read as ARPA."""
    kenlm_tool(train_lm.build_binary_tool(), "build_binary")
    out, _ = model
    arpa = out / "model.arpa"
    assert binary_beside(arpa) == out / "model.binary"
    assert load_model(arpa).kenlm.path == str(out / "model.binary").encode()
    maps = Path("/proc/self/maps").read_text()
    assert str((out / "model.binary").resolve()) in maps
    held_out = corpus[1][:50]
    from_binary = [document_perplexity(t, load_model(arpa)) for t in held_out]
    parsed = LanguageModel(kenlm.Model(str(arpa)), None)
    expected = [document_perplexity(t, parsed) for t in held_out]
    assert from_binary == pytest.approx(expected, rel=1e-6, nan_ok=True)
    # A retrained ARPA copied over an old directory: the older binary must not answer for it.
    stale = tmp_path / "model.arpa"
    shutil.copy(out / "model.binary", tmp_path / "model.binary")
    shutil.copy(arpa, stale)
    built = (tmp_path / "model.binary").stat().st_mtime
    os.utime(stale, (built + 60, built + 60))
    assert binary_beside(stale) is None


def test_same_model_as_lmplz(model, corpus, tmp_path):
    """lmplz on the same normalized sentences: same n-grams, same probabilities (to float32
    rounding), and so the same perplexity on held-out text."""
    venv = str(Path(sys.executable).parent)
    lmplz = kenlm_tool(shutil.which("lmplz") or shutil.which("lmplz", path=venv), "lmplz")
    out, _ = model
    sentences = tmp_path / "sentences.txt"
    with sentences.open("w", encoding="utf-8") as f:
        for paragraph in corpus[0].read_text(encoding="utf-8").splitlines():
            f.writelines(line + "\n" for line in lm_lines(paragraph))
    theirs = tmp_path / "lmplz.arpa"
    subprocess.run(
        [
            lmplz,
            "-o",
            str(ORDER),
            "-S",
            "256M",
            "-T",
            str(tmp_path),
            "--text",
            str(sentences),
            "--arpa",
            str(theirs),
        ],
        check=True,
        capture_output=True,
    )
    ours_entries, theirs_entries = read_arpa(out / "model.arpa"), read_arpa(theirs)
    assert ours_entries.keys() == theirs_entries.keys()
    worst = max(
        max(abs(a - b) for a, b in zip(ours_entries[g], theirs_entries[g], strict=True))
        for g in ours_entries
    )
    assert worst < 1e-5
    held_out = corpus[1]
    ours_pp = perplexities(["\n".join(held_out)], str(out / "model.arpa"))[0]
    theirs_pp = perplexities(["\n".join(held_out)], str(theirs))[0]
    assert ours_pp == pytest.approx(theirs_pp, rel=0.02)


def read_arpa(path: Path) -> dict[tuple[int, str], tuple[float, ...]]:
    """{(order, n-gram): (log10 p, log10 backoff or 0)}."""
    entries, order = {}, 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.endswith("-grams:"):
                order = int(line[1 : line.index("-")])
            elif order and line and line != "\\end\\":
                fields = line.split("\t")
                backoff = float(fields[2]) if len(fields) > 2 else 0.0
                entries[order, fields[1]] = (float(fields[0]), backoff)
    return entries


# -- inputs and the command line ------------------------------------------------------------------


def test_reads_text_jsonl_and_parquet(spark, tmp_path):
    (tmp_path / "a.txt").write_text("doc one\ndoc two\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write('{"text": "doc three", "id": 1}\n{"id": 2}\n')
    table = pa.table({"text": ["doc four", "dropped"], "drop_reason": [None, "too_few_words"]})
    (tmp_path / "stage").mkdir()
    pq.write_table(table, tmp_path / "stage" / "part-0.parquet")
    paths = [str(tmp_path / n) for n in ("a.txt", "b.jsonl.gz", "stage")]
    texts = sorted(r.text for r in read_text_documents(spark, paths).collect())
    assert texts == ["doc four", "doc one", "doc three", "doc two"]


def test_usage_errors_stop_before_spark(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("some text\n")
    cfg = load_config(None)

    def check(**kw):
        args = lm_args("--text", str(text), "--out", str(tmp_path / "m"))
        for key, value in kw.items():
            setattr(args, key, value)
        with pytest.raises(UsageError) as exc:
            train_lm.check(args, cfg)
        return str(exc.value)

    assert "--order" in check(order=7)
    assert "missing.txt" in check(text=[str(tmp_path / "missing.txt")])
    (tmp_path / "t.csv").write_text("a,b\n")
    assert "t.csv" in check(text=[str(tmp_path / "t.csv")])
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "precious.txt").write_text("keep me")
    assert "home" in check(out=tmp_path / "home")


def test_cli_command(tmp_path):
    """``gristmill train-lm`` is a command: its help, and a usage error that starts no Spark."""
    run = [sys.executable, "-m", "gristmill.pipeline.cli", "train-lm"]
    shown = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "--order" in shown.stdout and "Kneser-Ney" in shown.stdout
    failed = subprocess.run(
        [*run, "--text", str(tmp_path / "none.txt"), "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 2 and "not found" in failed.stderr
    assert not (tmp_path / "m").exists()
