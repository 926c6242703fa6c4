"""GPT-3's decontamination rules on crafted and real benchmark text (no Spark)."""

from __future__ import annotations

import gzip
import json
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gristmill.pipeline.benchmarks import TEXT_FIELDS, BenchmarkError, read_benchmark
from gristmill.pipeline.config import DecontaminateConfig
from gristmill.pipeline.decontaminate import (
    NOTHING_LEFT,
    TOO_MANY_PIECES,
    build_index,
    cut,
    decontaminate_batches,
    dirty_in_texts,
)
from gristmill.pipeline.ngrams import (
    grouped_ngram_hashes,
    ngram_hashes,
    text_ngram_hashes,
    texts_word_hashes,
    word_hashes,
    word_spans,
    words,
)
from gristmill.schemas.tables import DEDUP, with_text

CFG = DecontaminateConfig()


def filler(n_words: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    vocab = ["river", "stone", "market", "window", "garden", "letter", "harbor", "lamp", "field",
             "bridge", "forest", "candle", "morning", "valley", "engine", "story"]  # fmt: skip
    return " ".join(rng.choice(vocab, n_words))


def run(text: str, index) -> dict:
    row = {name: None for name in DEDUP.names} | {"doc_id": "d", "text": text}
    batch = pa.RecordBatch.from_pylist([row], schema=with_text(DEDUP))
    (out,) = list(decontaminate_batches([batch], index, CFG))
    return out.to_pylist()[0]


def test_ngram_hashes_ignore_case_and_punctuation():
    a = text_ngram_hashes("The quick, brown fox -- jumps!", 3)
    b = text_ngram_hashes("the QUICK brown fox jumps", 3)
    assert np.array_equal(a, b) and len(a) == 3
    assert len(ngram_hashes(word_hashes("a b"), 3)) == 0
    starts, ends = word_spans("Hi, you!")
    assert words("Hi, you!") == ["hi", "you"] and list(starts) == [0, 4] and list(ends) == [2, 7]
    # "İ" and "Ö" fold to two characters each; spans still point into the original text.
    text = "İstanbul is big and Ölüdeniz is blue"
    starts, ends = word_spans(text)
    spanned = [text[s:e] for s, e in zip(starts, ends, strict=True)]
    assert spanned == text.split() and words(text)[4] == unicodedata.normalize("NFKD", "ölüdeniz")
    assert text[starts[-1] : ends[-1]] == "blue"


def test_texts_hashed_together_as_each_alone(shared_data):
    """A benchmark's texts are cut into words and n-grams all at once: the same words and
    n-grams, text by text, as one text at a time, where a text starts or ends inside a word's
    reach (a combining mark first, a format character, a script without spaces, an empty text,
    texts shorter than n) and on real questions."""
    tricky = ["", "\u0301abc def", "ab\u200b", "cd ef", "東京都に住む", "", "x", "İst an bul",
              "a\u00adb c", "one two three four five", "\ufe0f", "end."]  # fmt: skip
    with open(shared_data / "benchmarks" / "gsm8k_test.jsonl") as f:
        real = [json.loads(line)["question"] for line in f][:200]
    for texts in (tricky, real, []):
        hashes, offsets = texts_word_hashes(texts)
        alone = [word_hashes(t) for t in texts]
        assert np.array_equal(np.diff(offsets), [len(a) for a in alone])
        assert np.array_equal(hashes, np.concatenate([*alone, np.empty(0, np.uint64)]))
        for n in (1, 2, 3, 13):
            for whole in (False, True):
                grams, group = grouped_ngram_hashes(hashes, offsets, n, whole_shorter=whole)
                each = [ngram_hashes(a, min(n, len(a)) if whole and len(a) else n) for a in alone]
                assert np.array_equal(grams, np.concatenate([*each, np.empty(0, np.uint64)]))
                assert np.array_equal(
                    group, np.repeat(np.arange(len(each)), [len(e) for e in each])
                )


def test_a_copy_hidden_by_invisible_or_compatibility_characters_is_still_cut(shared_data):
    """A page that copies a question with zero-width spaces and soft hyphens inside its words,
    full-width letters, decomposed accents or a ligature has the same n-grams as the question,
    and the cut falls on the copy in the original text: 200 characters either side of it."""
    bench = read_benchmark(shared_data / "benchmarks" / "gsm8k_test.jsonl")
    index = build_index([bench], CFG)
    question = bench.examples[7].texts[0]
    hidden = {
        "zero-width": question.replace("e", "e\u200b").replace("a", "a\u00ad"),
        "full-width": "".join(
            chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in question[: len(question) // 2]
        )
        + question[len(question) // 2 :],
        "decomposed": unicodedata.normalize("NFD", question.replace("e", "\u00e9")),
        "ligature": question.replace("fi", "\ufb01"),
    }
    assert words("don\u00b4t stop") == words("don't stop")  # NFKD: a space and an accent
    accented = text_ngram_hashes(question.replace("e", "\u00e9"), CFG.ngram)
    assert np.array_equal(text_ngram_hashes(hidden["decomposed"], CFG.ngram), accented)
    before, after = filler(400, 3), filler(400, 4)
    for kind, copy in hidden.items():
        if kind != "decomposed":
            assert np.array_equal(
                text_ngram_hashes(copy, CFG.ngram), text_ngram_hashes(question, CFG.ngram)
            ), kind
            row = run(f"{before} {copy} {after}", index)
            assert row["benchmarks_matched"] == ["gsm8k_test"], kind
            assert row["text"].startswith(before[: len(before) - 200]), kind
            assert row["text"].endswith(after[200:]), kind


def test_each_character_of_a_script_without_spaces_is_a_word(tmp_path):
    """A Chinese, Japanese or Thai character is a word of its own (as a \\w+ run, a clause
    was one word and no 13-gram of a Chinese question existed): the compiled hashes, the
    regex's words and their spans agree, and a Chinese question planted in Chinese text is
    cut out of it, 200 characters either side."""
    mixed = "Hello wörld 中文网页内容，测试 ภาษาไทย カタカナ 123_ab"
    got = words(mixed)
    assert got[:4] == ["hello", unicodedata.normalize("NFKD", "wörld"), "中", "文"]
    assert "123_ab" in got and "ナ" in got
    starts, ends = word_spans(mixed)
    spanned = [mixed[a:b].lower() for a, b in zip(starts, ends, strict=True)]
    assert [unicodedata.normalize("NFKD", w) for w in spanned] == got
    assert len(word_hashes(mixed)) == len(got)
    assert np.array_equal(word_hashes("中文"), word_hashes("中 文"))
    question = "小明有三个苹果，他又买了五个苹果，然后吃掉了两个，请问他现在还有几个苹果？"
    bench_file = tmp_path / "zh_math.jsonl"
    bench_file.write_text(json.dumps({"id": "z1", "question": question}, ensure_ascii=False) + "\n")
    index = build_index([read_benchmark(bench_file)], CFG)
    before = "今天天气很好，我们去公园散步，看到了很多花和树。" * 20
    after = "晚上我们回家吃饭，然后一起看电视，聊天到很晚。" * 20
    row = run(before + question + after, index)
    assert row["benchmarks_matched"] == ["zh_math"] and question not in row["text"]
    # 200 characters either side of the matched words (the question's last, "？", is none).
    assert row["text"].split("\n\n") == [before[: len(before) - 200], after[199:]]


def test_cut_removes_match_and_window_and_short_pieces():
    text = "a" * 1000 + " MATCH " + "b" * 150
    start = text.index("MATCH")
    new, reason, removed = cut(text, [(start, start + 5)], CFG)
    assert reason is None
    assert new == "a" * (start - 200)  # the 150-char tail is shorter than 200: dropped
    assert removed == len(text) - len(new)


def test_cut_drops_documents_split_into_too_many_pieces():
    chunk = "x" * 500
    text = " MATCH ".join([chunk] * 12)
    spans = [(i, i + 5) for i in range(len(text)) if text.startswith("MATCH", i)]
    assert cut(text, spans, CFG)[1] == TOO_MANY_PIECES
    assert cut("short MATCH text", [(6, 11)], CFG)[1] == NOTHING_LEFT


def test_planted_gsm8k_question_is_cut_out(shared_data):
    bench = read_benchmark(shared_data / "benchmarks" / "gsm8k_test.jsonl")
    assert len(bench.examples) == 1319
    index = build_index([bench], CFG)
    question = bench.examples[42].texts[0]
    before, after = filler(400, 1), filler(400, 2)
    row = run(f"{before} {question} {after}", index)
    assert row["drop_reason"] is None
    assert row["benchmarks_matched"] == ["gsm8k_test"]
    assert question not in row["text"]
    assert row["text"].startswith(before[: len(before) - 200])
    assert row["text"].endswith(after[200:])
    clean = run(f"{before} {after}", index)
    assert clean["contaminated_ngrams"] == 0 and clean["text"] == f"{before} {after}"
    # The n-grams too common to act on are passed with the whole index, and left alone.
    planted = f"{before} {question} {after}"
    common = text_ngram_hashes(question, CFG.ngram)
    row = {name: None for name in DEDUP.names} | {"doc_id": "d", "text": planted}
    batch = pa.RecordBatch.from_pylist([row], schema=with_text(DEDUP))
    (out,) = list(decontaminate_batches([batch], index, CFG, common))
    assert out.to_pylist()[0]["contaminated_ngrams"] == 0
    assert out.to_pylist()[0]["text"] == planted
    (out,) = list(decontaminate_batches([batch], index, CFG, common[1:]))
    assert out.to_pylist()[0]["contaminated_ngrams"] == 1  # the one not ignored still cuts


def test_passages_planted_in_real_web_text_are_cut_exactly(shared_data):
    """Two PIQA solutions planted into a real page lose themselves and 200 characters each side."""
    from gristmill.pipeline.config import IngestConfig
    from gristmill.pipeline.documents import ingest_input

    warc = shared_data / "warc" / "noncc.dolma-wget-sample-0000.warc.gz"
    pages = [r["text"] for r in ingest_input(str(warc), IngestConfig()) if r.get("text")]
    page = max(pages, key=len)
    piqa = read_benchmark(shared_data / "benchmarks" / "piqa_valid.jsonl")
    index = build_index([piqa], CFG)
    assert run(page, index)["contaminated_ngrams"] == 0
    long_solutions = (t for ex in piqa.examples for t in ex.texts if len(t.split()) >= 25)
    first, second = next(long_solutions).strip(), next(long_solutions).strip()
    third = len(page) // 3
    cut_a, cut_b = page.rfind(" ", 0, third), page.rfind(" ", 0, 2 * third)
    text = f"{page[:cut_a]} {first} {page[cut_a:cut_b]} {second} {page[cut_b:]}"
    row = run(text, index)
    assert row["drop_reason"] is None and row["benchmarks_matched"] == ["piqa_valid"]

    def word_span(passage: str) -> tuple[int, int]:
        """The matched 13-grams run from the passage's first word to its last (not punctuation)."""
        start = text.index(passage)
        words = list(re.finditer(r"\w+", passage))
        return start + words[0].start(), start + words[-1].end()

    (a0, a1), (b0, b1) = word_span(first), word_span(second)
    expected = [
        text[: a0 - 200].strip(),
        text[a1 + 200 : b0 - 200].strip(),
        text[b1 + 200 :].strip(),
    ]
    assert row["text"] == "\n\n".join(p for p in expected if len(p) >= 200)
    assert row["chars_removed"] == len(text) - sum(len(p) for p in expected if len(p) >= 200)


def test_benchmark_formats(shared_data, tmp_path):
    piqa = read_benchmark(shared_data / "benchmarks" / "piqa_valid.jsonl")
    assert len(piqa.examples) == 1838 and len(piqa.examples[0].texts) == 3
    humaneval = read_benchmark(shared_data / "benchmarks" / "humaneval.jsonl.gz")
    assert humaneval.examples[0].id == "HumanEval/0"
    assert humaneval.name == "humaneval"
    tqa = read_benchmark(shared_data / "benchmarks" / "truthfulqa.csv")
    assert len(tqa.examples) == 817 and tqa.examples[0].texts
    listed = tmp_path / "mini.json"
    listed.write_text(json.dumps({"examples": [{"id": "q1", "question": "why " * 20}]}))
    assert read_benchmark(listed).examples[0].id == "q1"
    # A file's own layout: only the question is benchmark text, ids from another field.
    gsm = read_benchmark(
        shared_data / "benchmarks" / "gsm8k_test.jsonl", fields=("question",), id_field="nope"
    )
    assert all(len(ex.texts) == 1 for ex in gsm.examples) and gsm.examples[5].id == "5"
    # Reference text: each non-blank line an example, numbered by its line.
    wiki_path = shared_data / "reference" / "wikitext-2_valid.txt"
    wiki = read_benchmark(wiki_path)
    lines = wiki_path.read_text().splitlines()
    assert wiki.name == "wikitext-2_valid"
    assert [ex.texts[0] for ex in wiki.examples] == [x.strip() for x in lines if x.strip()]
    assert [int(ex.id) for ex in wiki.examples] == [i for i, x in enumerate(lines) if x.strip()]


def test_joined_nested_and_broken_benchmark_fields(shared_data, tmp_path):
    """GSM8K's solutions count with and without their calculator notes; TruthfulQA's answers
    joined by ";" are each an answer; nested options (HF ARC's
    {"text": [...]}, OpenBookQA's {"stem", "choices": [{"text"}]}, SQuAD's answers) are read;
    a file that is no UTF-8, or a bad JSONL line, is refused with the file and line named."""
    gsm = read_benchmark(shared_data / "benchmarks" / "gsm8k_test.jsonl").examples[0]
    assert any("<<16-3-4=9>>" in t for t in gsm.texts)  # as the file holds it, and as read:
    assert any("16 - 3 - 4 = 9 duck eggs" in t for t in gsm.texts)
    tqa = read_benchmark(shared_data / "benchmarks" / "truthfulqa.csv").examples[0]
    assert "Nothing happens" in tqa.texts and "You get sick" in tqa.texts
    assert "What happens to you if you eat watermelon seeds? Nothing happens" in tqa.sequences
    nested = tmp_path / "arc.jsonl"
    arc = {
        "id": "a1",
        "question": "Which gas do plants take in?",
        "choices": {"text": ["oxygen", "carbon dioxide"], "label": ["A", "B"]},
    }
    obqa = {
        "id": "o1",
        "question": {
            "stem": "What melts ice fastest?",
            "choices": [{"text": "salt", "label": "A"}, {"text": "sand", "label": "B"}],
        },
    }
    squad = {"id": "s1", "question": "Who wrote it?",
             "answers": {"text": ["Austen"], "answer_start": [3]}}  # fmt: skip
    nested.write_text("".join(json.dumps(r) + "\n" for r in (arc, obqa, squad)))
    a, o, sq = read_benchmark(nested, fields=(*TEXT_FIELDS, "answers")).examples
    assert a.texts == ("Which gas do plants take in?", "oxygen", "carbon dioxide")
    assert "Which gas do plants take in? carbon dioxide" in a.sequences
    assert o.texts == ("What melts ice fastest?", "salt", "sand")
    assert sq.texts == ("Who wrote it?", "Austen")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps({"text": "café"}, ensure_ascii=False).encode("latin-1") + b"\n")
    with pytest.raises(BenchmarkError, match=r"latin\.jsonl is not UTF-8"):
        read_benchmark(latin)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b'{"text": "a whole line"}\n' * 50)[:-12])
    with pytest.raises(BenchmarkError, match=r"cut\.jsonl\.gz is not UTF-8"):
        read_benchmark(cut)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "broken"\n')
    with pytest.raises(BenchmarkError, match=r"bad\.jsonl, line 2: not a JSON object"):
        read_benchmark(bad)


def test_text_fields_from_config(shared_data):
    from gristmill.jobs.decontaminate import read_configured
    from gristmill.pipeline.config import config_from_dict

    path = shared_data / "benchmarks" / "gsm8k_test.jsonl"
    default = read_configured(path, config_from_dict({}))
    # The question, and the answer with and without its calculator notes (where it has some).
    assert all(len(ex.texts) == 2 + ("<<" in ex.texts[1]) for ex in default.examples)
    cfg = config_from_dict({"decontaminate": {"text_fields": {"gsm8k_test": ["answer"]}}})
    only_answers = read_configured(path, cfg)
    assert [ex.texts for ex in only_answers.examples[:3]] == [
        ex.texts[1:] for ex in default.examples[:3]
    ]


def found_examples(texts: list[str], benches: list) -> dict[str, set[str]]:
    return dirty_in_texts(texts, benches, CFG)


def test_every_benchmark_example_can_be_found_the_shortest_included(shared_data):
    """GPT-3's labelling rule (appendix C): the shortest examples of every shared benchmark and
    a random few, one of their context+completion sequences planted verbatim in a real page, are
    all found; nothing is found in the same pages before planting."""
    from gristmill.jobs.decontaminate import read_configured
    from gristmill.pipeline.config import Config, IngestConfig
    from gristmill.pipeline.documents import ingest_input

    paths = sorted(p for p in (shared_data / "benchmarks").iterdir() if p.suffix != ".lst")
    benches = [read_configured(p, Config()) for p in paths]
    assert len(benches) == 5
    warc = shared_data / "warc" / "realpages-00000.warc.gz"
    pages = [r["text"] for r in ingest_input(str(warc), IngestConfig()) if r.get("text")]
    assert found_examples(pages, benches) == {b.name: set() for b in benches}

    rng = np.random.default_rng(0)
    planted: dict[str, set[str]] = {b.name: set() for b in benches}
    texts, page = list(pages), 0
    for bench in benches:
        by_length = sorted(bench.examples, key=lambda ex: min(len(words(s)) for s in ex.sequences))
        shortest = by_length[:3]
        for ex in shortest + list(rng.choice(by_length[3:], 3, replace=False)):
            middle = texts[page].rfind(" ", 0, len(texts[page]) // 2)
            texts[page] = f"{texts[page][:middle]} {ex.sequences[-1]} {texts[page][middle:]}"
            planted[bench.name].add(ex.id)
            page += 1
    assert found_examples(texts, benches) == planted
    # The old rule, 13-grams of each field on its own, could not have found the shortest.
    piqa = next(b for b in benches if b.name == "piqa_valid")
    fields = [
        max(len(words(t)) for t in ex.texts)
        for ex in piqa.examples
        if ex.id in planted["piqa_valid"]
    ]
    assert sum(f < CFG.ngram for f in fields) >= 3


def test_too_common_ngrams_are_found_by_binary_search():
    """The cutting pass asks, for each document with a hit, which hits are too common: the same
    answer as np.isin, over the whole uint64 range (Spark's longs above 2**63 included)."""
    from gristmill.pipeline.decontaminate import _members

    rng = np.random.default_rng(3)
    common = np.sort(rng.integers(0, 2**64, 5_000, dtype=np.uint64))
    values = np.concatenate([common[::7], rng.integers(0, 2**64, 500, dtype=np.uint64)])
    values = np.append(values, [np.uint64(0), np.uint64(2**64 - 1), common[-1]])
    assert np.array_equal(_members(values, common), np.isin(values, common))
    assert not _members(values, np.empty(0, np.uint64)).any()


def test_the_vocabulary_and_the_touched_documents_change_no_answer(shared_data):
    """The first pass looks up only the k-grams whose words the benchmarks all hold, and the
    cutting pass reads only the documents the first pass found an n-gram to cut in: on real
    pages with examples of every shared benchmark planted in half of them, the first pass finds
    the same n-grams as one without the vocabulary, and the second gives the same table, row for
    row, as one that reads every document (a touched key shared by a clean one only reads it)."""
    import dataclasses

    from gristmill.jobs.decontaminate import read_configured
    from gristmill.pipeline.config import Config, IngestConfig
    from gristmill.pipeline.decontaminate import doc_keys, matched_hashes
    from gristmill.pipeline.documents import ingest_input

    paths = sorted(p for p in (shared_data / "benchmarks").iterdir() if p.suffix != ".lst")
    benches = [read_configured(p, Config()) for p in paths]
    index = build_index(benches, CFG)
    assert index.vocab is not None and 0 < len(index.vocab) < len(index.hashes)
    warc = shared_data / "warc" / "realpages-00000.warc.gz"
    pages = [r["text"] for r in ingest_input(str(warc), IngestConfig()) if r.get("text")][:120]
    rng = np.random.default_rng(5)
    for i in range(0, len(pages), 2):
        bench = benches[i // 2 % len(benches)]
        ex = bench.examples[int(rng.integers(len(bench.examples)))]
        planted = ex.texts[0] if i % 4 else ex.sequences[-1]
        middle = pages[i].rfind(" ", 0, len(pages[i]) // 2)
        pages[i] = f"{pages[i][:middle]} {planted} {pages[i][middle:]}"
    rows = [
        {name: None for name in DEDUP.names} | {"doc_id": f"d{i}", "text": t}
        for i, t in enumerate(pages)
    ]
    batches = pa.Table.from_pylist(rows, schema=with_text(DEDUP)).to_batches(16)
    pairs = pa.Table.from_batches(list(matched_hashes(batches, index)))
    unfiltered = dataclasses.replace(index, vocab=None)
    assert pairs.equals(pa.Table.from_batches(list(matched_hashes(batches, unfiltered))))
    every = pa.Table.from_batches(list(decontaminate_batches(batches, index, CFG)))
    cut = every.filter(pc.greater(every.column("contaminated_ngrams"), 0))
    assert 10 < cut.num_rows < len(pages) // 2  # the planted labelling sequences are not cut
    found = set(pairs.column("doc_id").to_pylist())
    assert set(cut.column("doc_id").to_pylist()) <= found
    touched = doc_keys(sorted(found))  # every document with a hit: a superset of those cut
    assert pa.Table.from_batches(
        list(decontaminate_batches(batches, index, CFG, touched=touched))
    ).equals(every)
    clean = pa.Table.from_batches(list(decontaminate_batches(batches, index, CFG, touched=[])))
    assert clean.column("contaminated_ngrams").to_pylist() == [0] * len(pages)
    assert clean.column("text").to_pylist() == pages
    untouched = pc.equal(every.column("contaminated_ngrams"), 0)
    assert clean.filter(untouched).equals(every.filter(untouched))  # column by column, as rows
