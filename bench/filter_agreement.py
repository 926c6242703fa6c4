"""Agreement with the reference: datatrove's Gopher, C4, FineWeb and URL filters and its PII
formatter against gristmill's, one filter at a time, on the same real documents.

The documents: the main text of the shared real pages (:mod:`bench.corpus`, with their URLs),
the 697 CC-MAIN-2019-30 documents (dolma's extraction, with their URLs) and the WET records of
the CC-MAIN-2024-22 excerpt; over 2,000 in all. Each filter of each tool sees the document's own
text (not the previous filter's output), so a difference is a difference of that filter. The URL
filter uses the lists datatrove ships (its wheel's word lists and UT1 tarball) on both sides.

datatrove runs in bench/.venv-datatrove (bench/datatrove_filters.py), two processes side by side.
Per filter: the share of documents with the same keep/drop decision, the disagreement classes
(which side drops, with which reason, how many documents) and, for C4's cleaning and PII masking,
the share of documents whose output text is identical. The README explains each class.

    .venv/bin/python -m bench.filter_agreement     # writes bench/results/filter_agreement.json
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.corpus import SHARED, warc_files
from bench.pipeline_vs_datatrove import HERE, PYTHON, ensure_venv
from bench.timing import report
from gristmill.filters import c4, fineweb, gopher_quality, gopher_repetition, pii, url
from gristmill.pipeline.config import IngestConfig
from gristmill.pipeline.documents import ingest_input

LIST_FILES = ("banned_words.txt", "banned_subwords.txt", "soft_banned_words.txt")
DOLMA = SHARED / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
WET = SHARED / "warc" / "CC-MAIN-2024-22.whirlwind.warc.wet.gz"
PARTS = 2


def corpus() -> list[dict[str, Any]]:
    """{"id", "text", "url"} of every real document with text (as ingest passes them on)."""
    docs = []
    for path in [*warc_files(), WET]:
        for r in ingest_input(str(path), IngestConfig()):
            if r.get("text"):
                docs.append(
                    {"id": f"{path.name}/{r['doc_id']}", "text": r["text"], "url": r["url"]}
                )
    with gzip.open(DOLMA, "rt") as f:
        for line in f:
            row = json.loads(line)
            docs.append({"id": row["id"], "text": row["text"], "url": row["metadata"]["url"]})
    return [d for d in docs if d["text"].strip()]  # ingest drops empty text before quality


def datatrove_lists(where: Path) -> Path:
    """datatrove's own URL lists, out of its installed package: words and UT1's domains and urls."""
    code = "import datatrove.utils._import_utils as u; print(u.ASSETS_PATH)"
    assets = Path(subprocess.check_output([str(PYTHON), "-c", code], text=True).strip())
    where.mkdir()
    for name in LIST_FILES:
        shutil.copy(assets / name, where / name)
    with tarfile.open(assets / "url_filterblacklistsv0_3_0.tar.gz") as tar:
        tar.extractall(where, filter="data")
    return where


def run_datatrove(docs: list[dict[str, Any]], lists: Path, root: Path) -> dict[str, dict]:
    procs, outs = [], []
    for k in range(PARTS):
        part, out = root / f"docs-{k}.jsonl", root / f"datatrove-{k}.jsonl"
        part.write_text("".join(json.dumps(d) + "\n" for d in docs[k::PARTS]))
        script = str(HERE / "datatrove_filters.py")
        procs.append(subprocess.Popen([str(PYTHON), script, str(part), str(lists), str(out)]))
        outs.append(out)
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("bench: datatrove_filters.py failed")
    answers = {}
    for out in outs:
        for line in out.read_text().splitlines():
            row = json.loads(line)
            answers[row["id"]] = row
    return answers


def gristmill_verdicts(doc: dict[str, Any], url_cfg: url.UrlFilterConfig) -> dict[str, Any]:
    text = doc["text"]
    fineweb_c4, published = c4.C4Config(), c4.C4Config(filter_no_terminal_punct=True)
    rep, qual, fw = (
        gopher_repetition.GopherRepetitionConfig(),
        gopher_quality.GopherQualityConfig(),
        fineweb.FineWebConfig(),
    )
    answer = {
        "gopher_repetition": gopher_repetition.decide(gopher_repetition.signals(text), rep),
        "gopher_quality": gopher_quality.decide(gopher_quality.signals(text), qual),
        "c4": c4.decide(c4.signals(text, fineweb_c4), fineweb_c4),
        "c4_text": c4.clean(text, fineweb_c4)[0],
        "c4_published": c4.decide(c4.signals(text, published), published),
        "fineweb": fineweb.decide(fineweb.signals(text), fw),
        "pii_text": pii.mask(text, pii.PiiConfig())[0],
    }
    if doc["url"]:
        answer["url"] = url.decide(url.signals(doc["url"], url_cfg), url_cfg)
    return answer


FILTERS = ("gopher_repetition", "gopher_quality", "c4", "c4_published", "fineweb", "url")


def compare(docs: list[dict[str, Any]], ours: dict, theirs: dict) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in FILTERS:
        pairs = [
            (d["id"], ours[d["id"]][name], theirs[d["id"]][name])
            for d in docs
            if name in ours[d["id"]]
        ]
        classes: Counter[str] = Counter()
        examples: dict[str, list[str]] = {}
        for doc_id, mine, (keep, reason) in pairs:
            if (mine is None) != keep:
                side = f"gristmill drops ({mine})" if mine else f"datatrove drops ({reason})"
                classes[side] += 1
                examples.setdefault(side, []).append(doc_id)
        same = len(pairs) - sum(classes.values())
        result[name] = {
            "documents": len(pairs),
            "agreement": round(same / len(pairs), 4),
            "dropped_by_gristmill": sum(m is not None for _, m, _t in pairs),
            "dropped_by_datatrove": sum(not t[0] for _, _m, t in pairs),
            "disagreements": dict(classes.most_common()),
            "examples": {side: ids[:5] for side, ids in sorted(examples.items())},
        }
    # datatrove leaves a dropped document's text as it was: C4's cleaning is compared on the
    # documents both keep.
    kept = [d for d in docs if ours[d["id"]]["c4"] is None and theirs[d["id"]]["c4"][0]]
    for name, among in (("c4_text", kept), ("pii_text", docs)):
        same = sum(ours[d["id"]][name] == theirs[d["id"]][name] for d in among)
        result[name] = {"documents": len(among), "identical": round(same / len(among), 4)}
    return result


def measure() -> dict[str, Any]:
    ensure_venv()
    docs = corpus()
    with tempfile.TemporaryDirectory(prefix="gristmill-agreement-") as tmp:
        root = Path(tmp)
        lists = datatrove_lists(root / "lists")
        url_cfg = url.UrlFilterConfig(
            blocked_domains=[str(lists / "domains")],
            blocked_urls=[str(lists / "urls")],
            banned_words=[str(lists / "banned_words.txt")],
            soft_banned_words=[str(lists / "soft_banned_words.txt")],
            banned_subwords=[str(lists / "banned_subwords.txt")],
        )
        theirs = run_datatrove(docs, lists, root)
        ours = {d["id"]: gristmill_verdicts(d, url_cfg) for d in docs}
    return {"documents": len(docs), "filters": compare(docs, ours, theirs)}


def main() -> int:
    return report("filter_agreement", measure())


if __name__ == "__main__":
    sys.exit(main())
