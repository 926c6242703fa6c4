"""Perplexity per language (CCNet): train-lm learns a SentencePiece tokenizer and a KenLM model
over its pieces, one model per language, and the quality stage scores each document with its
language's model. On real Chinese and English text, prose like the reference scores lower than
the navigation and boilerplate lines of crawled pages of the same language."""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import socket
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from gristmill.filters.perplexity import load_model, perplexities, read_cutoffs
from gristmill.jobs import quality as quality_job
from gristmill.jobs import train_lm
from gristmill.pipeline.config import IngestConfig, config_from_dict, load_config
from gristmill.pipeline.documents import ingest_input
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.langid import identify
from gristmill.pipeline.lm_text import lm_lines
from gristmill.pipeline.quality import PERPLEXITY_NOT_FINITE, decide_batches, signal_batches
from gristmill.schemas.tables import INGEST, QUALITY

CJK_ENDS = ("。", "！", "？", "”", "」")


@functools.cache
def _real_pages(shared_data: Path) -> tuple[list[str], list[str], list[float]]:
    texts = [
        row["text"]
        for warc in sorted((shared_data / "warc").glob("realpages-*.warc.gz"))
        for row in ingest_input(str(warc), IngestConfig())
        if row.get("text")
    ]
    return texts, *identify(texts)


def pages(shared_data: Path, lang: str) -> list[str]:
    """The main text of the shared real pages that lid.176 calls ``lang``, in file order."""
    texts, langs, scores = _real_pages(shared_data)
    return [t for t, k, s in zip(texts, langs, scores, strict=True) if k == lang and s >= 0.8]


def prose_and_chrome(text: str, ends: tuple[str, ...]) -> tuple[str, str]:
    """A page's prose (long lines ending a sentence) and its chrome (short lines that do not:
    menus, bylines, link lists), each as a document."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    prose = [line for line in lines if len(line) >= 40 and line.endswith(ends)]
    chrome = [line for line in lines if len(line) <= 16 and not line.endswith(ends)]
    return "\n".join(prose), "\n".join(chrome)


def lm_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_lm.add_arguments(parser)
    return parser.parse_args(list(argv))


def train(spark, text: Path, out: Path, lang: str) -> dict:
    args = lm_args(
        "--text", str(text), "--out", str(out), "--order", "3", "--lang", lang,
        "--tokenizer", "sentencepiece", "--vocab-size", "4000", "--discount-fallback",
    )  # fmt: skip
    cfg = load_config(None)
    train_lm.check(args, cfg)
    return train_lm.run(spark, args, cfg)


@pytest.fixture(scope="module")
def models(spark, shared_data, tmp_path_factory) -> dict:
    """A Chinese model trained on the prose of two thirds of the Chinese real pages, an English
    one on WikiText-2; and the held-out texts of each language."""
    root = tmp_path_factory.mktemp("lm-languages")
    zh_pages = [prose_and_chrome(t, CJK_ENDS) for t in pages(shared_data, "zh")]
    train_zh = [p for i, (p, _) in enumerate(zh_pages) if i % 3 and p]
    (root / "zh.txt").write_text("\n".join(train_zh) + "\n", encoding="utf-8")
    held_zh = [p for i, (p, _) in enumerate(zh_pages) if not i % 3 and p]
    wiki = (shared_data / "reference" / "wikitext-2_valid.txt").read_text(encoding="utf-8")
    paragraphs = [line for line in wiki.splitlines() if len(line.split()) > 30]
    (root / "en.txt").write_text("\n".join(paragraphs[::2]) + "\n", encoding="utf-8")
    en_chrome = [prose_and_chrome(t, (".", "!", "?", '"'))[1] for t in pages(shared_data, "en")]
    return {
        "zh": (root / "zh", train(spark, root / "zh.txt", root / "zh", "zh")),
        "en": (root / "en", train(spark, root / "en.txt", root / "en", "en")),
        "held_zh": held_zh,
        "held_en": (paragraphs[1::2][:60], [c for c in en_chrome if len(c.split()) > 20][:60]),
    }


def test_train_lm_writes_a_tokenizer_and_a_model_over_its_pieces(models):
    out, meta = models["zh"]
    tokenizer = meta["tokenizer"]
    assert tokenizer["kind"] == "sentencepiece" and (out / tokenizer["file"]).is_file()
    assert 500 < tokenizer["vocab_size"] <= 4000
    assert json.loads((out / "lm.json").read_text())["tokenizer"] == tokenizer
    assert list(read_cutoffs(out / "cutoffs.json")["languages"]) == ["zh"]
    model = load_model(out / "model.arpa")
    assert model.pieces is not None
    # Chinese has no spaces: as words a sentence is one token, as pieces it is many.
    sentence = "中国民主党法国党部在吴江主持下于华侨文化中心举办座谈会。"
    (words,) = lm_lines(sentence)
    (pieces,) = lm_lines(sentence, model.pieces)
    assert len(words.split()) == 1 and len(pieces.split()) >= 6


def shuffled(text: str, seed: int) -> str:
    """Each line's characters in a random order: the same characters, no language left."""
    rng = random.Random(seed)
    return "\n".join("".join(rng.sample(line, len(line))) for line in text.splitlines())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reference_like_text_scores_below_spam_of_its_language(models, lang):
    """Held-out prose against text of the same language that is not prose: for Chinese, the same
    pages' sentences with their characters shuffled (a word model sees each Chinese sentence as
    one unknown word either way, so it cannot tell them apart); for English, the navigation and
    link lines of real English pages against held-out WikiText paragraphs."""
    model = str(models[lang][0] / "model.arpa")
    if lang == "zh":
        prose = models["held_zh"]
        chrome = [shuffled(p, i) for i, p in enumerate(prose)]
    else:
        prose, chrome = models["held_en"]
    assert len(prose) >= 10 and len(chrome) >= 10
    low, high = (
        np.array(perplexities(list(prose), model)),
        np.array(perplexities(list(chrome), model)),
    )
    assert np.isfinite(low).all() and np.isfinite(high).all()
    print(f"{lang}: median perplexity {np.median(low):.0f} prose vs {np.median(high):.0f}")
    assert np.median(low) * 1.5 < np.median(high)
    # Most pairs are in order, not only the medians.
    assert (low[:, None] < high[None, :]).mean() > 0.75


def test_quality_scores_each_language_with_its_model(models, tmp_path):
    """The quality stage's signal pass: a Chinese page under the Chinese model, an English one
    under the default, a page of a third language under the default too; a document with no
    token left has no perplexity and its own drop reason, not the tail bucket."""
    zh_model, en_model = (str(models[k][0] / "model.arpa") for k in ("zh", "en"))
    zh_text = models["held_zh"][0]
    en_text = models["held_en"][0][0]
    quality = {
        "languages": [],
        "min_lang_score": 0.0,
        "gopher_quality": {"enabled": False},
        "gopher_repetition": {"enabled": False},
        "c4": {"enabled": False},
        "fineweb": {"enabled": False},
        "perplexity": {"model": en_model, "models": {"zh": zh_model}},
    }
    cfg = config_from_dict({"quality": quality})
    docs = [("zh", zh_text), ("en", en_text), ("de", en_text), ("en", "!!! ??? ...")]
    rows = [
        {f.name: None for f in INGEST}
        | {"doc_id": str(i), "text": t, "lang": lang, "lang_score": 1.0}
        for i, (lang, t) in enumerate(docs)
    ]
    scored = list(signal_batches([pa.RecordBatch.from_pylist(rows, schema=INGEST)], cfg.quality))
    got = pa.Table.from_batches(scored, schema=QUALITY).to_pylist()
    assert got[0]["perplexity"] == pytest.approx(perplexities([zh_text], zh_model)[0])
    assert got[1]["perplexity"] == pytest.approx(perplexities([en_text], en_model)[0])
    assert got[2]["perplexity"] == got[1]["perplexity"]
    assert math.isnan(got[3]["perplexity"])
    cutoffs, used = quality_job.frozen_cutoffs(tmp_path, cfg, None, 1)
    assert set(used) == {"default", "zh"} and set(cutoffs) == {"en", "zh"}
    decided = list(decide_batches(scored, cfg.quality, 0, cutoffs))
    out = pa.Table.from_batches(decided, schema=QUALITY).to_pylist()
    assert [r["perplexity_bucket"] is not None for r in out] == [True, True, False, False]
    assert out[3]["drop_reason"] == PERPLEXITY_NOT_FINITE


def test_a_model_missing_on_an_executor_names_its_key_and_host(models, tmp_path):
    """The driver checks the models before Spark starts; a model its executors cannot read (a
    path on the driver's disk only) fails the task with the config key and the host."""
    en_model = str(models["en"][0] / "model.arpa")
    rows = [
        {"doc_id": "1", "text": "A plain sentence of prose here.", "lang": "en", "lang_score": 1.0}
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=INGEST)
    for quality, key in (
        ({"classifier": {"model": str(tmp_path / "gone.bin")}}, "quality.classifier.model"),
        ({"perplexity": {"model": str(tmp_path / "gone.arpa")}}, "quality.perplexity.model"),
        ({"perplexity": {"models": {"en": str(tmp_path / "gone.arpa"), "zh": en_model}}},
         "quality.perplexity.models.en"),
    ):  # fmt: skip
        cfg = config_from_dict({"quality": quality}).quality
        with pytest.raises(
            FileNotFoundError, match=rf"{key}: .*gone.* on executor host {socket.gethostname()}"
        ):
            list(signal_batches([batch], cfg))


def test_a_language_model_needs_cut_offs_for_its_language(models, tmp_path):
    en_model = str(models["en"][0] / "model.arpa")
    cfg = config_from_dict({"quality": {"perplexity": {"models": {"zh": en_model}}}})
    with pytest.raises(UsageError, match="no perplexity cut-offs for 'zh'"):
        quality_job.check_models(tmp_path, cfg)
