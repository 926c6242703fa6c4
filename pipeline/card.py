"""DATASET_CARD.md: a Hugging Face dataset card rendered from stats.json and the shard manifest.

Every number in the card is read from those two files, never recomputed, so the card cannot
disagree with the run's accounting.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.inputs import display_name
from pipeline.langid import MODEL_LICENSE
from schemas.tables import STAGES


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):  # fmt: skip
        if n < limit:
            return name
    return "n>10M"


def _funnel(stages: dict[str, Any]) -> list[str]:
    lines = ["| stage | in | out | dropped (reason: docs) |", "|---|---:|---:|---|"]
    for stage in STAGES:
        if stage not in stages:
            continue
        s = stages[stage]
        drops = ", ".join(f"{reason}: {n}" for reason, n in s["dropped"].items()) or "none"
        lines.append(f"| {stage} | {s['in']} | {s['out']} | {drops} |")
    return lines


def render_card(stats: dict[str, Any], manifest: dict[str, Any], config: dict[str, Any]) -> str:
    langs = stats.get("languages", {})
    docs = stats["stages"].get("tokenize", {}).get("out", 0)
    front = [
        "---",
        "pretty_name: gristmill web text",
        "license: other",
        "language:",
        *[f"- {lang}" for lang in sorted(langs)],
        "size_categories:",
        f"- {_size_category(docs)}",
        "task_categories:",
        "- text-generation",
        "source_datasets:",
        "- original",
        "configs:",
        "- config_name: default",
        "  data_files: documents/*.parquet",
        "---",
    ]
    inputs = stats["inputs"]
    failed = inputs["failed"]
    tokens = sum(s["tokens"] for s in manifest["shards"])
    body = [
        "# gristmill web text",
        "",
        "## Summary",
        "",
        f"{docs} documents and {tokens} {manifest['tokenizer']} tokens extracted from "
        f"{inputs['files']} WARC/WET files by gristmill (config digest "
        f"`{stats['config_digest']}`).",
        "",
        "## Sources",
        "",
        *[f"- `{display_name(p)}`" for p in inputs["paths"]],
        "",
        f"Failed inputs: {len(failed)}.",
        *[f"- `{display_name(f['path'])}`: {f['error']}" for f in failed],
        "",
        "## Processing funnel",
        "",
        *_funnel(stats["stages"]),
        "",
        "## Languages",
        "",
        "| language | documents |",
        "|---|---:|",
        *[f"| {lang} | {n} |" for lang, n in sorted(langs.items(), key=lambda kv: -kv[1])],
        "",
        "## Tokens",
        "",
        f"Tokenizer `{manifest['tokenizer']}` (vocabulary {manifest['vocab_size']}, EOT "
        f"{manifest['eot']}, {manifest['dtype']}), {len(manifest['shards'])} shards.",
        "",
        "| bucket | factor | weight | train tokens | val tokens | train docs | epochs |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {b['factor']} | {b['weight']:.4f} | {b['tokens']['train']} | "
            f"{b['tokens']['val']} | {b['docs']['train']} | {b['epochs']:.3f} |"
            for name, b in manifest["buckets"].items()
        ],
        "",
        "`weight` is a bucket's share of training samples (its train tokens times its factor, "
        "normalized); `epochs` is how many passes over its train tokens a run of "
        f"{manifest['target_tokens'] or 'all the train'} tokens makes at those weights.",
        "",
        "## Configuration",
        "",
        "```yaml",
        yaml.safe_dump(config, sort_keys=False).rstrip(),
        "```",
        "",
        "## Licences",
        "",
        "- Common Crawl data is subject to the Common Crawl Terms of Use; the crawled pages keep "
        "their authors' copyright.",
        f"- Language identification used fastText lid.176, licensed {MODEL_LICENSE}.",
        "",
        "## Limitations and bias",
        "",
        "Web text carries the biases of the web: GPT-3's authors (Brown et al. 2020, section 6) "
        "measured gender, race and religion associations learned from filtered Common Crawl. "
        "Heuristic and classifier filters favour text that resembles their reference corpus and "
        "can under-represent dialects and languages the filters were not built for.",
        "",
    ]
    return "\n".join([*front, "", *body])
