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


def _dedup(d: dict[str, Any] | None) -> list[str]:
    if not d:
        return []
    sizes = ", ".join(f"{size}: {n}" for size, n in d["cluster_sizes"].items()) or "none"
    return [
        "## Deduplication",
        "",
        f"{d['exact_duplicates']} exact and {d['fuzzy_duplicates']} near duplicates removed. "
        f"MinHash over {d['shingle']} {d['ngram']}-grams, {d['num_perm']} hashes, "
        f"{d['bands']} bands x {d['rows']} rows (Jaccard threshold {d['threshold']}, "
        f"verification {'on' if d['verify_jaccard'] else 'off'}); {d['clusters']} clusters of "
        f"near duplicates holding {d['docs_in_clusters']} documents, the largest "
        f"{d['largest_cluster']}. Cluster sizes: {sizes}.",
        "",
    ]


def _decontamination(benchmarks: dict[str, Any] | None, cfg: dict[str, Any]) -> list[str]:
    if not benchmarks:
        return []
    return [
        "## Decontamination",
        "",
        f"GPT-3's procedure: {cfg['ngram']}-gram matches removed with {cfg['window_chars']} "
        f"characters on each side, pieces under {cfg['min_piece_chars']} characters dropped, "
        f"documents cut into more than {cfg['max_pieces']} pieces dropped. Dirty examples are "
        "listed in `decontamination/report.json`; `decontamination/clean/` holds each benchmark "
        "without them.",
        "",
        "| benchmark | examples | dirty examples | docs touched | docs dropped | chars removed |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {b['examples']} | {b['dirty_examples']} | {b['docs_touched']} | "
            f"{b['docs_dropped']} | {b['chars_removed']} |"
            for name, b in sorted(benchmarks.items())
        ],
        "",
    ]


def _figures(figures: list[tuple[str, str]]) -> list[str]:
    if not figures:
        return []
    return ["## Figures", "", *[f"![{title}]({path})" for title, path in figures], ""]


def render_card(
    stats: dict[str, Any],
    manifest: dict[str, Any],
    config: dict[str, Any],
    figures: list[tuple[str, str]] | None = None,
) -> str:
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
        *_dedup(stats["stages"].get("dedup", {}).get("dedup")),
        *_decontamination(
            stats["stages"].get("decontaminate", {}).get("benchmarks"), config["decontaminate"]
        ),
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
        *(
            ["## Figures", "", *[f"![{title}]({path})" for title, path in figures], ""]
            if figures
            else []
        ),
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
