"""Language ID computed by the compiled fastText kernel answers what ``fasttext`` answers for
lid.176.ftz (quantized, pruned, hierarchical softmax), label and probability to the bit."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from gristmill.filters.words import code_points
from gristmill.pipeline import langid
from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import ingest_input


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> list[str]:
    """The extracted texts of three real-page WARCs and the CC excerpt, the dolma crawl
    documents (many languages), pieces of them from one character to a few hundred, and the
    cases fastText reads its own way: a label-like token, NUL, no-break spaces, empty text."""
    found = []
    names = ["realpages-00000", "realpages-00001", "realpages-00002"]
    for name in [*names, "CC-MAIN-2020-34.resiliparse-excerpt"]:
        rows = ingest_input(str(shared_data / "warc" / f"{name}.warc.gz"), IngestConfig())
        found += [r["text"] for r in rows if r.get("text")]
    crawl = shared_data / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
    with gzip.open(crawl, "rt") as f:
        found += [json.loads(line)["text"] for line in f]
    rng = random.Random(0)
    pieces = []
    for text in filter(None, found):
        start = rng.randrange(len(text))
        pieces.append(text[start : start + rng.choice([1, 2, 5, 20, 80, 400])])
    odd = ["", " ", "\u00a0", "__label__en", "see __label__de here", "a\0b", "日本語", "x" * 5000]
    return found + pieces + odd


def test_compiled_language_id_is_fasttexts_bit_for_bit(texts: list[str]) -> None:
    compiled = langid._compiled()
    assert compiled is not None, "lid.176.ftz is covered by the kernel"
    assert compiled.tree.size and compiled.kept_buckets.size  # hierarchical softmax, pruned
    lines = [" ".join(t[: langid.MAX_CHARS].split()) for t in texts]
    labels, probs = langid._model().predict(lines, k=1)
    expected_langs = [lab[0].removeprefix("__label__") if lab else "unknown" for lab in labels]
    expected_scores = [min(float(p[0]), 1.0) if len(p) else 0.0 for p in probs]
    langs, scores = langid.identify(texts)
    assert langs == expected_langs
    assert scores == expected_scores
    assert len(set(langs)) > 20  # the texts are in many languages


def test_code_points_answer_as_their_text(texts: list[str], monkeypatch) -> None:
    """The language screen asks in code points: the same answers as the strings, by the kernel
    and by ``fasttext`` itself (for a model the kernel does not cover)."""
    lines = [" ".join(t[: langid.MAX_CHARS].split()) for t in texts[:300]]
    lines = [line for line in lines if line]
    points = code_points("".join(lines))
    ends = np.cumsum([len(line) for line in lines])
    expected = langid.identify(lines)
    assert langid.identify_points(points, ends) == expected
    monkeypatch.setattr(langid, "_compiled", lambda: None)
    assert langid.identify_points(points, ends) == expected
