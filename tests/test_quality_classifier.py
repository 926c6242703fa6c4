"""GPT-3's quality classifier: trained by ``train-quality`` on real reference and crawl text, its
held-out metrics, its scoring, and the Pareto selection's keep probability."""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import struct
import unicodedata
from pathlib import Path

import fasttext
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.filters.fasttext_kernel import compiled_model
from gristmill.filters.quality_classifier import (
    LABEL_HQ,
    MAX_CHARS,
    load,
    normalize,
    pareto_keep,
    scores,
)
from gristmill.filters.words import code_points
from gristmill.jobs import quality as quality_job
from gristmill.jobs import train_quality
from gristmill.jobs.text_inputs import WIKITEXT_TITLE, read_text_documents
from gristmill.pipeline.classifier_training import (
    Hyperparameters,
    Sample,
    auc_interval,
    balance,
    binary_metrics,
    is_heldout,
    roc_auc,
    split_heldout,
    text_key,
)
from gristmill.pipeline.config import Config, config_from_dict
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.quality import cleaned_text

# WikiText's tokenizer marks in-number and in-word joins with @x@ and spaces off punctuation.
_JOINS = {" @-@ ": "-", " @,@ ": ",", " @.@ ": "."}
_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]]|'s\b|n't\b)")


def detokenize(line: str) -> str:
    for marked, joined in _JOINS.items():
        line = line.replace(marked, joined)
    line = _SPACE_BEFORE.sub(r"\1", line.replace("<unk>", "").replace("( ", "("))
    return " ".join(line.split())


def wikitext_documents(path: Path) -> list[tuple[str, str]]:
    """(article title, section) for each section (an article's lead or a ``= = Heading = =``
    part): articles are too few (60) to train on, paragraphs shorter than the web pages they are
    compared with."""
    docs: list[tuple[str, str]] = []
    section: list[str] = []
    title = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("= ") and line.endswith(" ="):
            if len(section) > 1:  # a heading with paragraphs under it
                docs.append((title, "\n".join(section)))
            section = [line.strip("= ")]
            if not line.startswith("= ="):
                title = section[0]
        elif line:
            section.append(detokenize(line))
    if len(section) > 1:
        docs.append((title, "\n".join(section)))
    return docs


def job_args(
    positive: list[Path], negative: list[Path], out: Path, **options
) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_quality.add_arguments(parser)
    argv = ["--positive", *map(str, positive), "--negative", *map(str, negative), "--out", str(out)]
    args = parser.parse_args(argv)
    for key, value in options.items():
        setattr(args, key, value)
    return args


@pytest.fixture(scope="module")
def reference(shared_data: Path, tmp_path_factory) -> tuple[list[Path], list[Path]]:
    """Positives: WikiText-2 sections (.jsonl with their article's title) + CCNet head docs
    (.jsonl); negatives: 697 real Common Crawl documents (dolma .jsonl.gz)."""
    ref = shared_data / "reference"
    wiki = tmp_path_factory.mktemp("reference") / "wikitext-2_valid_sections.jsonl"
    sections = wikitext_documents(ref / "wikitext-2_valid.txt")
    wiki.write_text(
        "".join(json.dumps({"title": t, "text": d}) + "\n" for t, d in sections), encoding="utf-8"
    )
    positives = [wiki, ref / "ccnet_cc_en_head-0091.jsonl"]
    return positives, [ref / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"]


@pytest.fixture(scope="module")
def trained(spark, reference, tmp_path_factory) -> tuple[Path, dict]:
    positive, negative = reference
    out = tmp_path_factory.mktemp("model") / "quality"
    args = job_args(positive, negative, out, source_field="title")
    return out, train_quality.run(spark, args, Config())


def test_heldout_metrics_on_real_data(trained, reference) -> None:
    out, metrics = trained
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.bin"]
    assert not list(out.parent.glob("*.tmp-*"))

    heldout = metrics["heldout"]
    print(f"held-out metrics: {heldout}, training {metrics['training_seconds']} s")
    assert heldout["roc_auc"] >= 0.9
    assert heldout["precision"] >= 0.8 and heldout["recall"] >= 0.8 and heldout["f1"] >= 0.8
    assert heldout["mean_score_positive"] > heldout["mean_score_negative"] + 0.5

    pos, neg = metrics["counts"]["positive"], metrics["counts"]["negative"]
    # 540 WikiText sections + 10 CCNet docs; of the 697 crawl docs 27 are empty and 11 copies.
    assert (pos["available"], neg["available"]) == (550, 659)
    assert pos["balanced"] == neg["balanced"] == 550  # the crawl side was cut to size
    for counts in (pos, neg):
        assert counts["train"] + counts["heldout"] == counts["balanced"]
        assert 0.05 < counts["heldout"] / counts["balanced"] < 0.4  # whole articles go
    assert (heldout["positives"], heldout["negatives"]) == (pos["heldout"], neg["heldout"])
    low, high = heldout["roc_auc_95"]
    assert low <= heldout["roc_auc"] <= high and high - low < 0.2
    assert heldout["sources"] < heldout["positives"] + heldout["negatives"]  # articles grouped

    assert metrics["hyperparameters"] == Hyperparameters().fasttext_args()
    assert metrics["inputs"]["positive"] == [str(p.resolve()) for p in reference[0]]
    assert metrics["sampling"] == {
        "seed": 0,
        "max_docs": 100_000,
        "heldout_fraction": 0.2,
        "source_field": "title",
        "max_chars": MAX_CHARS,
    }
    assert len(metrics["model"]["sha256"]) == 64
    assert metrics["model"]["bytes"] == (out / "model.bin").stat().st_size


def test_heldout_documents_score_apart(trained, reference) -> None:
    """The held-out documents, rebuilt from the documented rules (distinct normalized texts, the
    smallest sample keys, whole articles held out by the hash of their title, cleaned as the
    quality stage cleans), scored in this process as the quality stage will score them:
    positives well above negatives, the training child's AUC, and no article on both sides."""
    out, metrics = trained
    positive, negative = reference
    wiki = [json.loads(line) for line in positive[0].open(encoding="utf-8")]
    ccnet = [json.loads(line)["text"] for line in positive[1].open(encoding="utf-8")]
    with gzip.open(negative[0]) as f:
        crawl = [json.loads(line)["text"] for line in f]
    quality = Config().quality

    def sample(docs: list[tuple[str, str | None]]) -> list[Sample]:
        kept: dict[str, Sample] = {}
        for raw, source in docs:
            text = normalize(raw)
            key = text_key("source", 0, source if source is not None else text)
            cleaned = normalize(cleaned_text(raw, quality)[0]) if is_heldout(key, 0.2) else None
            if text and (text not in kept or key < kept[text].source_key):
                kept[text] = Sample(text, key, cleaned)
        return sorted(kept.values(), key=lambda d: text_key("sample", 0, d.text))

    hq, lq = balance(
        sample([(d["text"], d["title"]) for d in wiki] + [(t, None) for t in ccnet]),
        sample([(t, None) for t in crawl]),
    )
    train_hq, heldout_hq = split_heldout(hq, fraction=0.2)
    heldout_lq = split_heldout(lq, fraction=0.2)[1]
    assert (len(heldout_hq), len(heldout_lq)) == (
        metrics["counts"]["positive"]["heldout"],
        metrics["counts"]["negative"]["heldout"],
    )
    assert not {d.source_key for d in train_hq} & {d.source_key for d in heldout_hq}
    p_hq = scores([d.heldout_text for d in heldout_hq], str(out / "model.bin"))
    p_lq = scores([d.heldout_text for d in heldout_lq], str(out / "model.bin"))
    assert np.mean(p_hq) > np.mean(p_lq) + 0.5
    labels = [True] * len(p_hq) + [False] * len(p_lq)
    assert roc_auc(labels, p_hq + p_lq) == pytest.approx(metrics["heldout"]["roc_auc"])
    assert scores([], str(out / "model.bin")) == []


def test_text_files_are_grouped_by_wikitext_article(spark, shared_data: Path) -> None:
    """A .txt line's source is its WikiText article (a title line starts one); in a file without
    title lines each line is its own source."""
    wiki = shared_data / "reference" / "wikitext-2_valid.txt"
    plain = shared_data / "reference" / "tinyshakespeare.txt"
    rows = read_text_documents(spark, [wiki, plain], sources=True).collect()
    by_file: dict[str, set[str]] = {}
    for r in rows:
        by_file.setdefault(r["source"].rsplit("#", 1)[0], set()).add(r["source"])
    titles = sum(1 for line in wiki.read_text().splitlines() if WIKITEXT_TITLE.match(line))
    assert titles == 60 and len(by_file[str(wiki.resolve())]) == titles + 1  # + lines before
    lines = plain.read_text().splitlines()
    assert len(by_file[str(plain.resolve())]) == len(lines)


def test_auc_interval_widens_when_sources_are_few() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(400) < 0.5
    predictions = rng.random(400) + 0.4 * labels
    many = auc_interval(labels, predictions, list(range(400)), seed=0)
    few = auc_interval(labels, predictions, [i % 8 for i in range(400)], seed=0)
    auc = roc_auc(labels, predictions)
    assert many[0] < auc < many[1] and few[0] < auc < few[1]
    assert few[1] - few[0] > many[1] - many[0]
    assert auc_interval([True, True], [0.1, 0.2], [0, 1], seed=0) is None


def test_training_again_in_the_same_process_gives_the_same_model(spark, trained, reference):
    """fastText's train_supervised cannot run twice in one process; the job's child process can,
    and with one thread and the same seed it writes the same bytes. The earlier model in --out
    is replaced."""
    out, first = trained
    positive, negative = reference
    again = train_quality.run(
        spark, job_args(positive, negative, out, source_field="title"), Config()
    )
    assert again["model"]["sha256"] == first["model"]["sha256"]
    assert again["heldout"] == first["heldout"]
    other = train_quality.run(
        spark,
        job_args(positive, negative, out.parent / "other", seed=1, epoch=5, max_docs=300),
        Config(),
    )
    assert other["model"]["sha256"] != first["model"]["sha256"]
    assert other["counts"]["positive"]["available"] == first["counts"]["positive"]["available"]
    assert other["counts"]["positive"]["sampled"] == other["counts"]["negative"]["sampled"] == 300
    assert other["heldout"]["roc_auc"] >= 0.9


def test_parquet_input_uses_kept_rows_only(spark, tmp_path: Path) -> None:
    table = pa.table(
        {
            "doc_id": ["a", "b", "c"],
            "text": ["kept one", "dropped", "kept two"],
            "drop_reason": [None, "too_few_words", None],
        }
    )
    (tmp_path / "ingest").mkdir()
    pq.write_table(table, tmp_path / "ingest" / "part-0.parquet")
    docs = read_text_documents(spark, [tmp_path / "ingest"])
    assert sorted(r["text"] for r in docs.collect()) == ["kept one", "kept two"]


def test_usage_errors(reference, tmp_path: Path) -> None:
    positive, negative = reference
    (tmp_path / "notes.csv").write_text("text\n")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("do not delete")
    for args in (
        job_args([tmp_path / "notes.csv"], negative, tmp_path / "m"),
        job_args(positive, [tmp_path / "missing.jsonl"], tmp_path / "m"),
        job_args(positive, negative, occupied),
        job_args(positive, negative, tmp_path / "m", lr=0.0),
        job_args(positive, negative, tmp_path / "m", heldout_fraction=1.0),
    ):
        with pytest.raises(UsageError):
            train_quality.check(args, Config())
    assert (occupied / "precious.txt").exists()


def test_normalize(shared_data: Path) -> None:
    assert normalize("Hello,  World!\n\tNew line") == "hello , world ! new line"
    # A page quoting a label must not label its own training line.
    assert LABEL_HQ not in normalize("spam __label__hq spam")
    with gzip.open(shared_data / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz") as f:
        texts = [json.loads(line)["text"] for line in f]
    rng = random.Random(2)
    pieces = [*"aZ9_ ,.!\n\t\u00a0\u2028¿…ＡﬁİΣ谢\u0301\u200b", "__label__", "x" * 4990]
    mixed = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 20))) for _ in range(3000)]
    for text in texts + mixed:
        once = normalize(text)
        assert normalize(once) == once  # training normalizes, then scoring normalizes again
        assert "\n" not in once and len(once) <= MAX_CHARS
        # The definition the compiled pass implements.
        folded = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
        spaced = re.sub(r"([^\w\s]|_)", r" \1 ", folded)
        assert once == " ".join(spaced.split())[:MAX_CHARS].rstrip()


def _crawl_texts(shared_data: Path) -> list[str]:
    """Real crawl pages, and texts built to reach every corner of the tokenizer: punctuation
    runs, unusual spaces, non-ASCII letters, combining marks, a word longer than the cap."""
    with gzip.open(shared_data / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz") as f:
        texts = [json.loads(line)["text"] for line in f]
    rng = random.Random(3)
    pieces = [*"aZ9_ ,.!\n\t\x00\x0b\u00a0\u2028¿…ＡﬁİΣ谢\u0301\u200b😀", " the ", " of the "]
    pieces.append("x" * 4990)
    mixed = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    return texts + mixed + ["", " ", "__label__hq"]


def _fasttext_probabilities(model, lines: list[str], labels: tuple[str, ...]) -> np.ndarray:
    """``fasttext``'s own ``predict`` for every label, as a float32 table (0 where it predicts
    nothing)."""
    found, probs = model.predict(lines, k=-1)
    table = np.zeros((len(lines), len(labels)), np.float32)
    for row, (names, values) in enumerate(zip(found, probs, strict=True)):
        for name, value in zip(names, values, strict=True):
            table[row, labels.index(name)] = value
    return table


def _compiled_probabilities(dense, lines: list[str]) -> np.ndarray:
    cps = [code_points(line) for line in lines]
    return dense.probabilities(np.concatenate(cps), np.cumsum([c.size for c in cps]))


def test_compiled_prediction_is_fasttexts_bit_for_bit(trained, shared_data: Path) -> None:
    """The compiled kernel over the memory-mapped model answers what fastText's ``predict``
    answers, to the bit, for the model ``train-quality`` writes; ``scores`` reads it."""
    out, _ = trained
    path = str(out / "model.bin")
    dense = compiled_model(path)
    assert dense is not None and sorted(dense.labels) == ["__label__hq", "__label__lq"]
    assert dense.input.base is not None and not dense.input.flags.owndata  # mapped, not read
    texts = _crawl_texts(shared_data)
    lines = [normalize(t) for t in texts]
    expected = _fasttext_probabilities(load(path), lines, dense.labels)
    assert np.array_equal(_compiled_probabilities(dense, lines), expected)
    hq = expected[:, dense.labels.index(LABEL_HQ)]
    assert scores(texts, path) == np.minimum(hq, 1.0).astype(float).tolist()
    assert 0.05 < np.mean(hq > 0.5) < 0.95  # the texts are of both kinds


def test_compiled_prediction_with_character_and_longer_word_ngrams(trained, shared_data, tmp_path):
    """A model from elsewhere may use character n-grams (``minn``/``maxn``) and longer word
    n-grams: the kernel follows fastText there too. The model is ``train-quality``'s with those
    options written into its header (fastText reads the bucket rows for them; training one here
    is not repeatable, as this fastText build stops with "Encountered NaN" at random under some
    settings). Its hierarchical-softmax reading (the loss field set so) is walked as fastText
    walks it (``top``); a model whose probabilities the kernel does not compute (one-vs-all
    loss, hierarchical softmax) is answered by fastText itself."""
    out, _ = trained
    data = bytearray((out / "model.bin").read_bytes())
    args = list(struct.unpack_from("<12i", data, 8))  # dim ws epoch minCount neg wordNgrams ...
    args[5], args[9], args[10] = 3, 2, 5  # wordNgrams, minn, maxn
    struct.pack_into("<12i", data, 8, *args)
    path = tmp_path / "subwords.bin"
    path.write_bytes(data)
    dense = compiled_model(str(path))
    assert dense is not None and (dense.minn, dense.maxn, dense.word_ngrams) == (2, 5, 3)
    texts = _crawl_texts(shared_data)
    lines = [normalize(t) for t in texts]
    model = load(str(path))
    expected = _fasttext_probabilities(model, lines, dense.labels)
    assert np.array_equal(_compiled_probabilities(dense, lines), expected)
    base = _fasttext_probabilities(load(str(out / "model.bin")), lines, dense.labels)
    assert (expected != base).any(axis=1).mean() > 0.9  # the n-grams did change the answers

    hq = dense.labels.index(LABEL_HQ)
    for loss, name in ((1, "hierarchical_softmax.bin"), (4, "one_vs_all.bin")):
        args[6] = loss
        struct.pack_into("<12i", data, 8, *args)
        other = tmp_path / name
        other.write_bytes(data)
        answers = _fasttext_probabilities(load(str(other)), lines, dense.labels)[:, hq]
        assert scores(texts, str(other)) == np.minimum(answers, 1.0).astype(float).tolist()
        assert not np.array_equal(answers, expected[:, hq])
    assert compiled_model(str(tmp_path / "one_vs_all.bin")) is None
    tree = compiled_model(str(tmp_path / "hierarchical_softmax.bin"))
    assert tree is not None and tree.tree.shape == (3, 2)
    found, probabilities = _compiled_top(tree, lines)
    names, values = load(str(tmp_path / "hierarchical_softmax.bin")).predict(lines, k=1)
    assert [tree.labels[i] for i in found] == [n[0] for n in names]
    assert np.array_equal(probabilities, np.array([v[0] for v in values], np.float32))


def _compiled_top(model, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    cps = [code_points(line) for line in lines]
    return model.top(np.concatenate(cps), np.cumsum([c.size for c in cps]))


def test_compiled_prediction_of_a_quantized_model(trained, shared_data, tmp_path) -> None:
    """``fasttext quantize`` with norms quantized and the dictionary pruned (cutoff): the
    kernel decodes the rows and skips the pruned buckets as fastText does, to the bit."""
    out, _ = trained
    model = fasttext.load_model(str(out / "model.bin"))  # not load()'s: quantized in place
    # The rows kept: product quantization's k-means costs in proportion (20,000 took 24 s).
    model.quantize(qnorm=True, cutoff=2_000)
    path = tmp_path / "model.ftz"
    model.save_model(str(path))
    quantized = compiled_model(str(path))
    assert quantized is not None and quantized.kept_buckets.size
    lines = [normalize(t) for t in _crawl_texts(shared_data)]
    expected = _fasttext_probabilities(load(str(path)), lines, quantized.labels)
    assert np.array_equal(_compiled_probabilities(quantized, lines), expected)
    dense = compiled_model(str(out / "model.bin"))
    assert not np.array_equal(_compiled_probabilities(dense, lines), expected)


def test_a_damaged_or_missing_model_is_refused_before_spark_starts(trained, tmp_path) -> None:
    """fastText itself loads a model cut short and answers 0.5 for every text: the quality
    stage's check refuses it by name, as it does a missing file or one of another format."""
    out, _ = trained
    whole = (out / "model.bin").read_bytes()
    cases = {
        "cut.bin": (whole[: len(whole) // 2], "cut short or damaged"),
        "longer.bin": (whole + b"\0", "cut short or damaged"),
        "dictionary.bin": (whole[:200], "cut short or damaged"),
        "other.bin": (b"not a model at all", "not a fastText model"),
        "empty.bin": (b"", "empty, not a fastText model"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        cfg = config_from_dict({"quality": {"classifier": {"model": str(tmp_path / name)}}})
        with pytest.raises(UsageError, match=f"{name}: .*{message}"):
            quality_job.check_models(tmp_path, cfg)
        with pytest.raises(UsageError, match=message):
            scores(["some text"], str(tmp_path / name))
    cfg = config_from_dict({"quality": {"classifier": {"model": str(tmp_path / "gone.bin")}}})
    with pytest.raises(UsageError, match=r"quality\.classifier\.model: .*gone\.bin: no such file"):
        quality_job.check_models(tmp_path, cfg)


def test_balance_and_split_are_deterministic() -> None:
    docs = [
        Sample(f"document number {i}", text_key("source", 0, str(i // 5)), None)
        for i in range(5000)
    ]
    assert balance(docs, docs[:10]) == (docs[:10], docs[:10])
    train, heldout = split_heldout(docs, fraction=0.1)
    assert len(train) + len(heldout) == len(docs) and 350 < len(heldout) < 650
    assert not {d.source_key for d in train} & {d.source_key for d in heldout}
    # A document's side depends on its source and the seed, not on the order or company it keeps.
    assert set(split_heldout(docs[::-1], fraction=0.1)[1]) == set(heldout)
    assert set(split_heldout(docs[:100], fraction=0.1)[1]) == set(heldout) & set(docs[:100])


def test_roc_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.4
    predictions = np.round(rng.random(300) + 0.3 * labels, 1)  # many ties
    pos, neg = predictions[labels], predictions[~labels]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(labels, predictions) == pytest.approx(pairwise)
    assert roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert roc_auc([True, False, True], [0.5, 0.5, 0.5]) == 0.5
    assert roc_auc([True, True], [0.1, 0.9]) is None


def test_binary_metrics() -> None:
    m = binary_metrics([True, True, True, False, False], [0.9, 0.6, 0.2, 0.7, 0.1])
    assert (m["precision"], m["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert m["f1"] == pytest.approx(2 / 3) and m["accuracy"] == pytest.approx(0.6)
    assert m["roc_auc"] == pytest.approx(4 / 6)  # 4 of the 6 (positive, negative) pairs in order
    assert binary_metrics([False, False], [0.1, 0.2])["precision"] is None


def test_pareto_keep_is_reproducible() -> None:
    ids = [f"doc-{i}" for i in range(2000)]
    first = [pareto_keep(0.5, d, seed=7) for d in ids]
    assert first == [pareto_keep(0.5, d, seed=7) for d in ids]
    assert first != [pareto_keep(0.5, d, seed=8) for d in ids]
    # For a fixed document, a higher score never turns a keep into a drop.
    for d in ids[:200]:
        kept = [pareto_keep(s, d, seed=7) for s in np.linspace(0, 1, 21)]
        assert kept == sorted(kept)


@pytest.mark.parametrize("alpha", [9.0, 3.0])
def test_pareto_keep_rate_is_two_minus_score_to_the_minus_alpha(alpha: float) -> None:
    """numpy's pareto is Lomax: P(X > 1 - s) = (2 - s) ** -alpha. Both the hash-driven helper and
    numpy's own generator keep at that rate, within 5 binomial standard deviations."""
    n = 40_000
    ids = [f"doc-{i}" for i in range(n)]
    draws = np.random.default_rng(0).pareto(alpha, n)
    for score in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
        expected = (2.0 - score) ** -alpha
        tolerance = 5 * np.sqrt(expected * (1 - expected) / n) + 1e-9
        rate = np.mean([pareto_keep(score, d, seed=0, alpha=alpha) for d in ids])
        assert abs(rate - expected) <= tolerance, (score, rate, expected)
        assert abs(np.mean(draws > 1.0 - score) - expected) <= tolerance
