"""datatrove's FineWeb recipe on local WARC files, run inside bench/.venv-datatrove (never
imported by gristmill): python datatrove_recipe.py WARC_DIR WORK_DIR WORKERS LID_MODEL TOKENIZER.

Steps as FineWeb's: WarcReader, URLFilter, Trafilatura, LanguageFilter (en), Gopher repetition,
Gopher quality, C4 (no terminal-punctuation rule, as FineWeb), FineWeb quality, MinHash dedup in
its four stages (5-grams, 14 buckets x 8 hashes), GPT-2 tokenization. Nothing is downloaded:
lid.176 and the GPT-2 tokenizer are given as local files, the URL filter's domain parser uses
its bundled public-suffix snapshot. Prints a JSON line of timings.
"""

import glob
import gzip
import json
import sys
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.tokens import DocumentTokenizer
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils import lid
from tldextract import TLDExtract

warcs, work, workers, lid_model, tokenizer = sys.argv[1:6]
workers = int(workers)
lid.FT176LID.MODEL_URL = f"file://{lid_model}"


class OfflineURLFilter(URLFilter):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tldextractor = TLDExtract(suffix_list_urls=())


config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
timings = {}


def run(name, pipeline, tasks):
    started = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=pipeline, tasks=tasks, workers=min(workers, tasks),
        logging_dir=f"{work}/logs/{name}", skip_completed=False,
    ).run()  # fmt: skip
    timings[name] = time.perf_counter() - started


files = len(glob.glob(f"{warcs}/*.warc.gz"))
run(
    "filter",
    [
        WarcReader(warcs, glob_pattern="*.warc.gz"),
        OfflineURLFilter(),
        Trafilatura(favour_precision=True),
        LanguageFilter(languages=["en"]),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(f"{work}/filtered"),
    ],
    files,
)
run("minhash_signatures", [JsonlReader(f"{work}/filtered"),
    MinhashDedupSignature(f"{work}/signatures", config=config)], files)  # fmt: skip
run("minhash_buckets", [MinhashDedupBuckets(f"{work}/signatures", f"{work}/buckets",
    config=config)], config.num_buckets)  # fmt: skip
run("minhash_cluster", [MinhashDedupCluster(f"{work}/buckets", f"{work}/remove_ids",
    config=config)], 1)  # fmt: skip
run("minhash_filter_tokenize", [
    JsonlReader(f"{work}/filtered"),
    MinhashDedupFilter(f"{work}/remove_ids"),
    JsonlWriter(f"{work}/deduped"),
    DocumentTokenizer(f"{work}/tokens", tokenizer_name_or_path=tokenizer,
                      eos_token="<|endoftext|>"),
], files)  # fmt: skip
kept = 0
for path in glob.glob(f"{work}/deduped/*.jsonl.gz"):
    with gzip.open(path) as lines:
        kept += sum(1 for _ in lines)
print(json.dumps({"timings": timings, "kept": kept}))
