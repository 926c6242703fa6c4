"""Quality stage: docs/s per core with every signal on, and each signal's share of the time;
``quality_vs_extract``: its per-document cost over resiliparse extraction's on the same pages.

The classifier and the 5-gram LM are trained first by gristmill's own CLI (WikiText-2 valid
vs the CC-MAIN-2019-30 documents) into a temporary directory.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

from bench.corpus import SHARED, documents, extract_floor, warc_files
from bench.timing import best_seconds, report
from gristmill.filters import c4, fineweb, gopher_quality, gopher_repetition
from gristmill.filters.c4 import C4Config
from gristmill.filters.perplexity import perplexities
from gristmill.filters.quality_classifier import scores
from gristmill.pipeline.config import QualityConfig, config_from_dict
from gristmill.pipeline.quality import signal_batches
from gristmill.schemas.tables import INGEST


def _train(root: Path) -> tuple[str, str]:
    cli = [sys.executable, "-m", "gristmill.pipeline.cli"]
    wiki = str(SHARED / "reference" / "wikitext-2_valid.txt")
    crawl = str(SHARED / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz")
    quiet = {"capture_output": True, "check": True}
    subprocess.run([*cli, "train-quality", "--positive", wiki, "--negative", crawl,
                    "--out", str(root / "quality")], **quiet)  # fmt: skip
    subprocess.run([*cli, "train-lm", "--text", wiki, "--order", "5",
                    "--out", str(root / "lm")], **quiet)  # fmt: skip
    return str(root / "quality" / "model.bin"), str(root / "lm" / "model.arpa")


def measure() -> dict:
    texts = list(documents())
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as tmp:
        classifier, lm = _train(Path(tmp))
        cfg: QualityConfig = config_from_dict(
            {"quality": {"classifier": {"model": classifier}, "perplexity": {"model": lm}}}
        ).quality
        scores(texts[:1], classifier)  # load both models before timing
        perplexities(texts[:1], lm)
        c4_cfg = C4Config()
        parts = {
            "gopher_quality": lambda: [gopher_quality.signals(t) for t in texts],
            "gopher_repetition": lambda: [gopher_repetition.signals(t) for t in texts],
            "c4": lambda: [(c4.signals(t, c4_cfg), c4.clean(t, c4_cfg)) for t in texts],
            "fineweb": lambda: [fineweb.signals(t) for t in texts],
            "classifier": lambda: scores(texts, classifier),
            "perplexity": lambda: perplexities(texts, lm),
        }
        # Best of three: the first pass also builds each process's character tables and loads
        # the compiled kernels, once per worker, not per document.
        seconds = {name: best_seconds(fn) for name, fn in parts.items()}
        rows = [{"doc_id": f"{i:032x}", "text": t, "lang": "en", "lang_score": 1.0}
                for i, t in enumerate(texts)]  # fmt: skip
        batch = pa.RecordBatch.from_pylist(rows, schema=INGEST)
        batches = [batch.slice(i, 256) for i in range(0, len(rows), 256)]
        stage = best_seconds(lambda: list(signal_batches(batches, cfg)))
    total = sum(seconds.values())
    extract = extract_floor(warc_files())["extract_seconds_per_page"]
    return {
        "docs": len(texts),
        "quality_docs_per_s_per_core": len(texts) / stage,
        # Per document, the quality signals' cost over resiliparse extraction's, same pages.
        "quality_vs_extract": stage / len(texts) / extract,
        "extract_docs_per_s_per_core": 1 / extract,
        "share_of_time": {name: s / total for name, s in seconds.items()},
        "docs_per_s_per_core_by_signal": {name: len(texts) / s for name, s in seconds.items()},
    }


def main() -> int:
    return report("quality", measure())


if __name__ == "__main__":
    sys.exit(main())
