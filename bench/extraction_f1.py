"""Extraction quality: main text of the real pages against the ground truth in
../shared/data/extraction (see its README), for resiliparse (our default) and trafilatura.

- scrapinghub (181 pages) and readability (94 pages): the scrapinghub benchmark's metric:
  ``\\w+`` tokens, 4-gram shingles counted as multisets, each page's (tp, fp, fn) normalised
  by their sum, precision and recall averaged over pages, F1 = 2PR/(P+R);
- trafilatura's evaldata (981 pages): hand-picked snippets that must (``with``) or must not
  (``without``) appear in the output, whitespace-normalised substring tests, micro-averaged.

Pages are decoded the way ingest decodes them (:func:`gristmill.pipeline.charset.decode_html`).
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.corpus import SHARED, warc_files
from bench.timing import report
from gristmill.pipeline.charset import decode_html
from gristmill.pipeline.extract import extractor
from gristmill.pipeline.warc import read_records

EXTRACTORS = ("resiliparse", "trafilatura")
# Each extractor's speed is its best of this many passes over the pages, the two taking turns,
# so that a slow spell of a shared machine weighs on neither alone (one pass each moved the
# ratio between 7.5x and 8.9x from one run to the next).
ROUNDS = 2
WORD = re.compile(r"\w+")
SPACE = re.compile(r"\s+")


def pages() -> dict[str, tuple[str, str]]:
    """record_id -> (collection, manifest path) of every real page, and its decoded HTML."""
    with gzip.open(SHARED / "realpages.manifest.tsv.gz", "rt") as handle:
        rows = {r["record_id"]: r for r in csv.DictReader(handle, delimiter="\t")}
    html = {}
    for path in warc_files():
        for rec in read_records(str(path), 1 << 30):
            if rec.record_id in rows and rec.payload:
                html[rec.record_id] = decode_html(rec.payload, rec.charset)[0]
    return {rid: (rows[rid]["collection"], rows[rid]["path"], text) for rid, text in html.items()}


def shingle_counts(text: str) -> Counter:
    tokens = WORD.findall(text)
    return Counter(tuple(tokens[i : i + 4]) for i in range(max(len(tokens) - 3, 0)))


def scrapinghub_metric(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """(expected, extracted) pairs -> precision, recall, F1 as the benchmark's evaluate.py."""
    precisions, recalls = [], []
    for expected, got in pairs:
        truth, pred = shingle_counts(expected), shingle_counts(got)
        tp = sum((truth & pred).values())
        fp = sum((pred - truth).values())
        fn = sum((truth - pred).values())
        total = tp + fp + fn or 1
        tp, fp, fn = tp / total, fp / total, fn / total
        precisions.append(tp / (tp + fp) if tp + fp else 0.0)
        recalls.append(tp / (tp + fn) if tp + fn else 0.0)
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return {"pages": len(pairs), "precision": p, "recall": r, "f1": 2 * p * r / (p + r)}


def snippet_metric(cases: list[tuple[dict[str, Any], str]]) -> dict[str, float]:
    tp = fn = fp = tn = 0
    for entry, got in cases:
        text = SPACE.sub(" ", got)
        for snippet in entry.get("with", []):
            found = SPACE.sub(" ", snippet) in text
            tp, fn = tp + found, fn + (not found)
        for snippet in entry.get("without", []):
            found = SPACE.sub(" ", snippet) in text
            fp, tn = fp + found, tn + (not found)
    p, r = tp / (tp + fp), tp / (tp + fn)
    return {
        "pages": len(cases),
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r),
        "accuracy": (tp + tn) / (tp + tn + fp + fn),
    }


def measure() -> dict[str, Any]:
    data = SHARED / "extraction"
    shub = json.loads((data / "scrapinghub_ground_truth.json").read_text())
    evaldata = json.loads((data / "trafilatura_evaldata.json").read_text())
    readability = json.loads((data / "readability_expected.json").read_text())
    by_file = {entry["file"]: entry for entry in evaldata.values()}
    by_record = {entry["record_id"]: entry for entry in readability.values()}
    corpus = pages()
    seconds = dict.fromkeys(EXTRACTORS, math.inf)
    extracted: dict[str, dict[str, str]] = {}
    for _ in range(ROUNDS):
        for name in EXTRACTORS:
            extract = extractor(name)
            started = time.process_time()
            extracted[name] = {rid: extract(html) for rid, (_c, _p, html) in corpus.items()}
            seconds[name] = min(seconds[name], time.process_time() - started)
    result: dict[str, Any] = {}
    for name, outputs in extracted.items():
        shub_pairs, eval_cases, read_pairs = [], [], []
        for rid, (collection, path, _html) in corpus.items():
            stem = Path(path).name.split(".")[0]
            if collection == "scrapinghub-aeb" and stem in shub:
                shub_pairs.append((shub[stem]["articleBody"], outputs[rid]))
            elif collection == "trafilatura-eval" and Path(path).name in by_file:
                eval_cases.append((by_file[Path(path).name], outputs[rid]))
            elif rid in by_record:
                read_pairs.append((by_record[rid]["expected_text"], outputs[rid]))
        result[name] = {
            "scrapinghub": scrapinghub_metric(shub_pairs),
            "trafilatura_evaldata": snippet_metric(eval_cases),
            "readability": scrapinghub_metric(read_pairs),
            "docs_per_s_per_core": len(corpus) / seconds[name],
            "pages": len(corpus),
        }
    return result


def main() -> int:
    return report("extraction_f1", measure())


if __name__ == "__main__":
    raise SystemExit(main())
