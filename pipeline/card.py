"""DATASET_CARD.md: a Hugging Face dataset card rendered from stats.json and the shard manifest.

Every number in the card is read from those two files, never recomputed, so the card cannot
disagree with the run's accounting.
"""

from __future__ import annotations

from typing import Any

import yaml

from gristmill.filters.url import UrlFilterConfig
from gristmill.pipeline.inputs import display_name
from gristmill.pipeline.langid import MODEL_LICENSE
from gristmill.pipeline.manifest import Manifest
from gristmill.pipeline.stages import BATCH_STAGES

# Input files named in a batch's summary, in stats.json and in the card: the first, by name. The
# ledger's input lists (ledger/) hold every one; a card naming each file of every night's crawl
# would grow with the corpus (80,000 names a night), and every night's card would gather them all
# on the driver. The card's lists of failed inputs stop there too.
LISTED_PATHS = 20


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):  # fmt: skip
        if n < limit:
            return name
    return "n>10M"


def _funnel(stages: dict[str, Any], tokens: dict[str, Any] | None) -> list[str]:
    by_stage = (tokens or {}).get("stages", {})
    head = "| stage | docs in | docs out | tokens in | tokens out | dropped (reason: docs) |"
    lines = [head, "|---|---:|---:|---:|---:|---|"]
    for stage in BATCH_STAGES:
        if stage not in stages:
            continue
        s = stages[stage]
        t = by_stage.get(stage, {})
        drops = ", ".join(f"{reason}: {n}" for reason, n in s["dropped"].items()) or "none"
        lines.append(
            f"| {stage} | {s['in']} | {s['out']} | {t.get('in', 'n/a')} | {t.get('out', 'n/a')} "
            f"| {drops} |"
        )
    if tokens:
        lines += [
            "",
            f"Tokens are `{tokens['encoding']}` tokens without end-of-text markers. A stage "
            "receives the text the previous one kept; tokens lost with no document dropped are "
            "text removed inside a stage (C4 line cleaning, decontamination cuts).",
        ]
    changed = stages.get("quality", {}).get("text_changed")
    if changed:
        lines += [
            "",
            f"Text changed without a drop in quality's kept documents: C4's line rules shortened "
            f"{changed['c4_cleaned_documents']}; {changed['pii_masked_documents']} had addresses "
            f"masked ({changed['emails_masked']} e-mail, {changed['ip_addresses_masked']} public "
            "IP).",
        ]
    return lines


def _sources(inputs: dict[str, Any]) -> list[str]:
    dates = inputs.get("warc_dates", {})
    lines = [
        "## Sources",
        "",
        f"Common Crawl crawls: {', '.join(inputs.get('crawl_ids', [])) or 'none named'}. "
        f"Records dated {dates.get('first')} to {dates.get('last')} (WARC-Date). "
        f"{inputs['files']} input files"
        + (
            ":"
            if len(inputs["paths"]) >= inputs["files"]
            else f", the first {len(inputs['paths'])} by name (`ledger/` lists every one):"
        ),
        "",
        *[f"- `{display_name(p)}`" for p in inputs["paths"]],
        "",
    ]
    batches = inputs.get("batches", [])
    if batches:
        lines += [
            "| batch | created | crawl ids | files |",
            "|---:|---|---|---:|",
            *[
                f"| {b['batch']} | {b['created']} | {', '.join(b['crawl_ids']) or '-'} | "
                f"{b['files']} |"
                for b in batches
            ],
            "",
        ]
    failed = inputs["failed"]
    lines += [
        f"Inputs with damage (a stretch unreadable, or records shorter than their "
        f"Content-Length; their readable records kept): {len(failed)}."
    ]
    lines += _first([f"- `{display_name(f['path'])}`: {f['error']}" for f in failed])
    retrying = inputs.get("retrying", [])
    if retrying:
        lines += [
            "",
            f"Inputs set aside by network failures, to be read by the next run: {len(retrying)}.",
        ]
        lines += _first(
            [
                f"- `{display_name(f['path'])}` ({f['attempts']} attempt(s)): {f['error']}"
                for f in retrying
            ]
        )
    given_up = inputs.get("given_up", [])
    lines += [
        "",
        f"Inputs given up after repeated network failures (not in this dataset): {len(given_up)}.",
    ]
    lines += _first(
        [
            f"- `{display_name(f['path'])}` ({f['attempts']} attempts): {f['error']}"
            for f in given_up
        ]
    )
    return [*lines, ""]


def _first(items: list[str]) -> list[str]:
    """The first :data:`LISTED_PATHS` of a list of inputs, and how many more stats.json names:
    a year of nights' damaged files, one line each, would crowd out the card."""
    if len(items) <= LISTED_PATHS:
        return items
    return [*items[:LISTED_PATHS], f"- ... and {len(items) - LISTED_PATHS} more (stats.json)"]


def _verification(verify: str) -> str:
    """What ``dedup.verify`` checked of each candidate pair, in words."""
    return {
        "signature": "candidate pairs linked when their MinHash signatures agree at the threshold",
        "text": "candidate pairs linked when their exact shingle Jaccard reaches the threshold",
        "none": "every candidate pair linked, unverified",
    }[verify]


def _verify_of(stats: dict[str, Any]) -> str:
    """``dedup.verify`` as a batch's stats record it (``verify_jaccard`` before it had three
    values)."""
    if "verify" in stats:
        return str(stats["verify"])
    return "text" if stats.get("verify_jaccard") else "none"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _named(section: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The list keys of a config section that name files, or "none"."""
    return ", ".join(k for k in keys if section[k]) or "none"


def _processing(config: dict[str, Any], models: dict[str, Any]) -> list[str]:
    q, d, t = config["quality"], config["dedup"], config["tokenize"]
    classifier = q["classifier"]
    return [
        "## Processing",
        "",
        f"1. **ingest**: WARC records read with FastWARC, charset decoded by WHATWG rules, main "
        f"text extracted with {config['ingest']['extractor']}, language identified with "
        f"fastText lid.176; records over {config['ingest']['max_record_bytes']} bytes skipped.",
        f"2. **quality** (recipe `{q['recipe']}`): URL lists "
        f"{_named(q['url_filter'], UrlFilterConfig.LIST_KEYS)}; languages "
        f"{q['languages'] or 'all'} with lid score >= {q['min_lang_score']}; Gopher quality, "
        f"Gopher repetition, C4 and FineWeb rules; C4 bad-words lists for "
        f"{sorted(q['bad_words']['lists']) or 'no language'}; e-mail masking "
        f"{_on(q['pii']['emails'])}, public IP masking {_on(q['pii']['ip_addresses'])}; "
        f"fastText classifier in `{classifier['mode']}` mode (pareto alpha "
        f"{classifier['pareto_alpha']}, threshold {classifier['threshold']}); KenLM "
        f"perplexity buckets cut at percentiles {q['perplexity']['head_percentile']} / "
        f"{q['perplexity']['middle_percentile']}, keeping {q['perplexity']['keep_buckets']}.",
        f"3. **dedup**: exact ({d['exact']}) and MinHash LSH ({d['fuzzy']}) over {d['shingle']} "
        f"shingles, {d['num_perm']} hashes, {d['bands']} bands x {d['rows']} rows, threshold "
        f"{d['threshold']}, {_verification(d['verify'])}; later batches against earlier.",
        f"4. **decontaminate**: {config['decontaminate']['ngram']}-gram overlap with the "
        "benchmarks below removed (GPT-3 appendix C).",
        f"5. **tokenize**: `{t['encoding']}`, {t['shard_tokens']} tokens a shard, "
        f"{t['val_fraction']} of documents to validation, buckets "
        f"{[b['name'] for b in t['buckets']]}.",
        "",
        "Models (sha256):",
        "",
        *[f"- {name}: `{m['sha256']}` (`{display_name(m['path'])}`)" for name, m in models.items()],
        "",
        "Every parameter is in the configuration below.",
        "",
    ]


def _signals(signals: dict[str, dict[str, Any]], stats_sample: int) -> list[str]:
    if not signals:
        return []

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}"

    return [
        "## Quality signals",
        "",
        "Over every document the quality stage scored (before its decisions; a document in a "
        "language the run does not keep is not scored): exact counts, quantiles of the scored "
        f"ones among a uniform sample of up to {stats_sample:,} of the stage's documents.",
        "",
        "| signal | documents | p10 | p50 | p90 |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {name} | {q['count']} | {fmt(q['p10'])} | {fmt(q['p50'])} | {fmt(q['p90'])} |"
            for name, q in signals.items()
        ],
        "",
    ]


def _reproducibility(r: dict[str, Any]) -> list[str]:
    return [
        "## Reproducibility",
        "",
        f"Config digest `{r['config_digest']}`; the same inputs, config and nightly batches "
        "give byte-identical shards, whatever the partitioning or the machine's cores. Split "
        "into other batches, the same inputs keep the same per-document answers except which "
        "copy of a duplicate is kept (the earliest night's) and, with `first_batch` "
        "perplexity cut-offs, the buckets (cut from the batch that froze them). "
        f"Command: `{r['command']}`. Python {r['python']}.",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {name} | {version} |" for name, version in r["packages"].items()],
        "",
    ]


def _dedup(d: dict[str, Any] | None, evaluation: dict[str, Any] | None) -> list[str]:
    if not d:
        return []
    sizes = ", ".join(f"{size}: {n}" for size, n in d.get("cluster_sizes", {}).items()) or "none"
    earlier = d.get("against_earlier", {})
    lines = [
        "## Deduplication",
        "",
        f"{d['exact_duplicates']} exact and {d['fuzzy_duplicates']} near duplicates removed "
        f"({earlier.get('exact_duplicates', 0)} and {earlier.get('fuzzy_duplicates', 0)} of them "
        "duplicates of documents kept by an earlier batch).",
    ]
    if "clusters" in d:
        lines[-1] += (
            f" MinHash over {d['shingle']} {d['ngram']}-grams, {d['num_perm']} hashes, "
            f"{d['bands']} bands x {d['rows']} rows (Jaccard threshold {d['threshold']}, "
            f"{_verification(_verify_of(d))}); {d['clusters']} clusters "
            f"of near duplicates holding {d['docs_in_clusters']} documents, the largest "
            f"{d['largest_cluster']} (each night's clusters, with the earlier nights' documents "
            "they hold; a document counts in its own night, a cluster in each night that adds "
            f"to it). Cluster sizes: {sizes}."
        )
    if evaluation:
        e = evaluation
        lines += [
            "",
            f"On {e['pairs']} labelled pairs (`{display_name(e['labels'])}`, {e['unmatched']} "
            f"not found in the run): precision {_ratio(e['precision'])}, recall "
            f"{_ratio(e['recall'])} ({e['true_positives']} true positives, "
            f"{e['false_positives']} false positives, {e['false_negatives']} false negatives).",
        ]
    return [*lines, ""]


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _decontamination(benchmarks: dict[str, Any] | None, cfg: dict[str, Any]) -> list[str]:
    if not benchmarks:
        return []
    return [
        "## Decontamination",
        "",
        f"GPT-3's procedure: {cfg['ngram']}-gram matches removed with {cfg['window_chars']} "
        f"characters on each side, pieces under {cfg['min_piece_chars']} characters dropped, "
        f"documents cut into more than {cfg['max_pieces']} pieces dropped. An example is dirty "
        "(GPT-3 appendix C) when its context joined with one of its completions shares an N-gram "
        "with the training text, N the benchmark's own (the 5th percentile of its lengths in "
        f"words, within [{cfg['label_min_ngram']}, {cfg['label_max_ngram']}]), or appears whole "
        "where shorter than N. Dirty examples are listed in `decontamination/report.json`; "
        "`decontamination/clean/` holds each benchmark without them.",
        "",
        "| benchmark | examples | N | dirty examples | docs touched | docs dropped "
        "| chars removed |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {b['examples']} | {b.get('label_ngram')} | {b['dirty_examples']} | "
            f"{b['docs_touched']} | {b['docs_dropped']} | {b['chars_removed']} |"
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
    manifest: Manifest,
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
        "  data_files: documents/*/*.parquet",
        "---",
    ]
    inputs = stats["inputs"]
    tokens = manifest.tokens
    body = [
        "# gristmill web text",
        "",
        "## Summary",
        "",
        f"{docs} documents and {tokens} {manifest.tokenizer} tokens extracted from "
        f"{inputs['files']} WARC/WET files in {max(1, len(inputs.get('batches', [])))} "
        f"batch(es) by gristmill (config digest `{stats['config_digest']}`).",
        "",
        *_sources(inputs),
        *_processing(config, stats.get("models", {})),
        "## Processing funnel",
        "",
        *_funnel(stats["stages"], stats.get("tokens")),
        "",
        *_signals(stats.get("quality_signals", {}), stats.get("sample_rows", 0)),
        *_dedup(stats["stages"].get("dedup", {}).get("dedup"), stats.get("dedup_evaluation")),
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
        f"Tokenizer `{manifest.tokenizer}` (vocabulary {manifest.vocab_size}, EOT "
        f"{manifest.eot}, {manifest.dtype}), {manifest.shard_count} shards.",
        "",
        "| bucket | factor | weight | train tokens | val tokens | train docs | epochs |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {b.factor} | {b.weight:.4f} | {b.tokens['train']} | "
            f"{b.tokens['val']} | {b.docs['train']} | {b.epochs:.3f} |"
            for name, b in manifest.buckets.items()
        ],
        "",
        "`weight` is a bucket's share of training samples (its train tokens times its factor, "
        "normalized); `epochs` is how many passes over its train tokens a run of "
        f"{manifest.target_tokens or 'all the train'} tokens makes at those weights.",
        "",
        *_figures(figures or []),
        *_reproducibility(stats["reproducibility"]),
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
        "- Benchmark test sets keep their own licences: they are used to remove overlapping "
        "text, and their examples are copied to `decontamination/` (the clean subsets and the "
        "dirty ids); the shards hold none of them. Leave that folder out when publishing the "
        "dataset, or check each benchmark's licence first.",
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
