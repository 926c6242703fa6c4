"""datatrove's FineWeb recipe on local WARC files, run inside bench/.venv-datatrove (never
imported by gristmill): python datatrove_recipe.py STAGE PART PARTS WARC_DIR WORK_DIR LID TOKENIZER.

Steps as FineWeb's: WarcReader, URLFilter, Trafilatura, LanguageFilter (en), Gopher repetition,
Gopher quality, C4 (no terminal-punctuation rule, as FineWeb), FineWeb quality, MinHash dedup in
its four stages (5-grams, 14 buckets x 8 hashes), GPT-2 tokenization. Nothing is downloaded:
lid.176 and the GPT-2 tokenizer are local files, and the URL filter's domain parser uses its
bundled public-suffix snapshot.

One process runs PART of PARTS of a stage's tasks with one worker: datatrove's multi-worker
pool deadlocks here with the Trafilatura sandbox process (measured: no progress in 10 minutes),
so the bench starts PARTS of these processes side by side instead, one per core.
"""

import glob
import gzip
import sys

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

stage, part, parts, warcs, work, lid_model, tokenizer = sys.argv[1:8]
part, parts = int(part), int(parts)
lid.FT176LID.MODEL_URL = f"file://{lid_model}"
config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
files = len(glob.glob(f"{warcs}/*.warc.gz"))


class OfflineURLFilter(URLFilter):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tldextractor = TLDExtract(suffix_list_urls=())


def pipeline():
    if stage == "filter":
        return files, [
            WarcReader(warcs, glob_pattern="*.warc.gz"),
            OfflineURLFilter(),
            Trafilatura(favour_precision=True),
            LanguageFilter(languages=["en"]),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            JsonlWriter(f"{work}/filtered"),
        ]
    if stage == "signatures":
        return files, [
            JsonlReader(f"{work}/filtered"),
            MinhashDedupSignature(f"{work}/signatures", config=config),
        ]
    if stage == "buckets":
        return config.num_buckets, [
            MinhashDedupBuckets(f"{work}/signatures", f"{work}/buckets", config=config)
        ]
    if stage == "cluster":
        return 1, [MinhashDedupCluster(f"{work}/buckets", f"{work}/remove_ids", config=config)]
    return files, [
        JsonlReader(f"{work}/filtered"),
        MinhashDedupFilter(f"{work}/remove_ids"),
        JsonlWriter(f"{work}/deduped"),
        DocumentTokenizer(
            f"{work}/tokens", tokenizer_name_or_path=tokenizer, eos_token="<|endoftext|>"
        ),
    ]


tasks, steps = pipeline()
share = [len(range(p, tasks, parts)) for p in range(parts)]
offset = sum(len(range(0, share[p])) for p in range(part))
if share[part]:
    LocalPipelineExecutor(
        pipeline=steps, tasks=tasks, workers=1, local_tasks=share[part], local_rank_offset=offset,
        logging_dir=f"{work}/logs/{stage}-{part}", skip_completed=False,
    ).run()  # fmt: skip
if stage == "final" and part == 0:
    kept = 0
    for path in glob.glob(f"{work}/deduped/*.jsonl.gz"):
        with gzip.open(path) as lines:
            kept += sum(1 for _ in lines)
    print(kept)
