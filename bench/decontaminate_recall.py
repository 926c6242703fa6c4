"""Decontamination recall: benchmark examples planted verbatim in real pages, found or not.

For each shared benchmark, its 20 shortest examples (by their shortest context+completion
sequence, the ones the 13-gram rule alone could never find) and 80 drawn at random, each planted
once, as one of its sequences, in the middle of a different real page of :mod:`bench.corpus`.
GPT-3's labelling rule (appendix C, ``pipeline/decontaminate.py``) then labels the examples of
every benchmark over all the pages: recall is the share of planted examples labelled dirty (goal
1.0). What is labelled without being planted is counted apart: examples found in the pages
before planting, and examples that share a label n-gram with a planted one.

    .venv/bin/python -m bench.decontaminate_recall   # bench/results/decontaminate_recall.json
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

import numpy as np

from bench.corpus import benchmark_files, documents
from bench.timing import report
from gristmill.jobs.decontaminate import read_configured
from gristmill.pipeline.benchmarks import Benchmark, Example
from gristmill.pipeline.config import Config
from gristmill.pipeline.decontaminate import BenchmarkNgrams, dirty_in_texts
from gristmill.pipeline.ngrams import words

SHORTEST, RANDOM = 20, 80


def by_length_of(bench: Benchmark) -> list[Example]:
    """Examples, shortest first (by their shortest context+completion sequence)."""
    return sorted(bench.examples, key=lambda ex: min(len(words(s)) for s in ex.sequences))


def measure() -> dict[str, Any]:
    cfg = Config()
    benches = [read_configured(p, cfg) for p in benchmark_files()]
    pages = list(documents())
    before = dirty_in_texts(pages, benches, cfg.decontaminate)
    rng = np.random.default_rng(0)
    texts, planted, page = list(pages), {}, 0
    for bench in benches:
        by_length = by_length_of(bench)
        chosen = by_length[:SHORTEST] + list(rng.choice(by_length[SHORTEST:], RANDOM, False))
        planted[bench.name] = set()
        for ex in chosen:
            sequence = ex.sequences[int(rng.integers(len(ex.sequences)))]
            middle = texts[page].rfind(" ", 0, len(texts[page]) // 2)
            texts[page] = f"{texts[page][:middle]} {sequence} {texts[page][middle:]}"
            planted[bench.name].add(ex.id)
            page += 1
    found = dirty_in_texts(texts, benches, cfg.decontaminate)
    per_benchmark = {}
    for bench in benches:
        hits = found[bench.name]
        grams = BenchmarkNgrams.of(bench, cfg.decontaminate)
        n = grams.label_n
        labels: dict[str, set[int]] = defaultdict(set)
        for i, gram in zip(grams.label_examples.tolist(), grams.labels.tolist(), strict=True):
            labels[bench.examples[i].id].add(gram)
        planted_grams = set().union(*(labels[i] for i in planted[bench.name]))
        extra = hits - planted[bench.name] - before[bench.name]
        per_benchmark[bench.name] = {
            "label_ngram": n,
            "planted": len(planted[bench.name]),
            "recall": len(hits & planted[bench.name]) / len(planted[bench.name]),
            "shortest_found": sum(ex.id in hits for ex in by_length_of(bench)[:SHORTEST]),
            "found_before_planting": len(before[bench.name]),
            "found_not_planted": len(extra),
            # Examples of the benchmark that share a label n-gram with a planted one (the same
            # question or answer in several examples): found rightly, the text is there.
            "found_not_planted_sharing_an_ngram": sum(
                bool(labels[i] & planted_grams) for i in extra
            ),
        }
    recall = sum(len(found[b] & planted[b]) for b in planted) / sum(map(len, planted.values()))
    return {"pages": len(pages), "recall": recall, "benchmarks": per_benchmark}


def main() -> int:
    return report("decontaminate_recall", measure())


if __name__ == "__main__":
    sys.exit(main())
