"""datatrove's filters one at a time on given documents, run inside bench/.venv-datatrove (never
imported by gristmill): python datatrove_filters.py DOCS.jsonl LISTS_DIR OUT.jsonl.

Each line of DOCS is {"id", "text", "url"}; each line of OUT is {"id", "<filter>": [keep,
reason]} for Gopher repetition, Gopher quality, C4 (FineWeb's settings, and C4's own), FineWeb
quality and the URL filter (its integrated lists, extracted to LISTS_DIR beforehand), plus the
C4-cleaned text and the PII-masked text. Every filter sees the document's own text, not the
previous filter's output, so each decision is compared on the same input.
"""

import json
import sys

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    URLFilter,
)
from datatrove.pipeline.formatters import PIIFormatter
from tldextract import TLDExtract

docs_path, lists_dir, out_path = sys.argv[1:4]


def read_list(name):
    with open(f"{lists_dir}/{name}", encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


url_filter = URLFilter(
    extra_domains=read_list("domains"),
    extra_urls=read_list("urls"),
    banned_words=read_list("banned_words.txt"),
    banned_subwords=read_list("banned_subwords.txt"),
    soft_banned_words=read_list("soft_banned_words.txt"),
    use_integrated_lists=False,
)
url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # its bundled snapshot: no network
FILTERS = {
    "gopher_repetition": GopherRepetitionFilter(),
    "gopher_quality": GopherQualityFilter(),
    "c4": C4QualityFilter(filter_no_terminal_punct=False),
    "c4_published": C4QualityFilter(filter_no_terminal_punct=True),
    "fineweb": FineWebQualityFilter(),
}


def verdict(result):
    if result is True:
        return [True, None]
    if result is False:
        return [False, None]
    return [bool(result[0]), result[1]]


pii = PIIFormatter()
with open(docs_path) as src, open(out_path, "w") as out:
    for line in src:
        row = json.loads(line)
        answer = {"id": row["id"]}
        for name, flt in FILTERS.items():
            doc = Document(text=row["text"], id=row["id"], metadata={"url": row["url"]})
            answer[name] = verdict(flt.filter(doc))
            if name == "c4":
                answer["c4_text"] = doc.text
        if row["url"]:
            doc = Document(text="", id=row["id"], metadata={"url": row["url"]})
            answer["url"] = verdict(url_filter.filter(doc))
        pii.emails_replacer._replace_i = pii.ip_replacer._replace_i = 0  # a turn per document
        answer["pii_text"] = pii.format(row["text"])
        out.write(json.dumps(answer) + "\n")
