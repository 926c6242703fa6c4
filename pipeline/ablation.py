"""An ablation's report: the same model trained on each configuration's shards, compared on the
same held-out sets (DCLM's method: fix the model and the token budget, change only the data).

Pure functions over what the runs left behind: each training run's ``log.jsonl`` (held-out
records, :mod:`gristmill.trainer.train`) and each pipeline run's ``stats.json`` and shard
manifest. :func:`summarize` gives ``ablation.json``'s content, :func:`render` its Markdown and
:func:`plot` the curves.

Noise is measured: every configuration is trained with several seeds, and a difference between
two configurations *exceeds the seed spread* when their per-seed values do not overlap (the
worse configuration's best seed is still worse than the better one's worst). With 3 seeds that is
a strict test; the table gives the means, standard deviations and ranges to judge by.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gristmill.pipeline.atomic import write_atomic
from gristmill.pipeline.layout import write_json

REPORT_JSON = "ablation.json"
REPORT_MD = "ABLATION.md"
# Written in each run's output directory: the ablations that trained on it, for its card.
RUN_LINKS = "ablations.json"
CARD_SECTION = "## Ablations"
METRICS = ("loss", "bpb")


def heldout_curves(records: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per held-out set, its (step, tokens, loss, bpb) points in step order; a step logged twice
    (a run resumed after a crash between its log and its checkpoint) counts once, the later."""
    points: dict[str, dict[int, dict[str, Any]]] = {}
    for r in records:
        if r.get("split") == "heldout":
            points.setdefault(r["set"], {})[r["step"]] = {
                k: r[k] for k in ("step", "tokens", *METRICS)
            }
    return {name: [by_step[s] for s in sorted(by_step)] for name, by_step in points.items()}


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "seeds": values,
    }


def run_data(out: Path) -> dict[str, Any]:
    """Documents and tokens a pipeline run kept, from its stats and shard manifest."""
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    buckets = manifest["buckets"].values()
    return {
        "output": str(out),
        "documents_in": stats["stages"]["ingest"]["in"],
        "documents_kept": stats["stages"]["tokenize"]["out"],
        "train_tokens": sum(b["tokens"]["train"] for b in buckets),
        "config_digest": stats.get("config_digest"),
    }


def summarize(
    configurations: Mapping[str, Mapping[str, Any]],
    logs: Mapping[str, Mapping[int, list[dict[str, Any]]]],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The report: per configuration its data figures (``configurations``), per held-out set the
    final figures over seeds and the curves per seed (``logs``: configuration -> seed -> log
    records), and each configuration's difference from the first one."""
    out: dict[str, Any] = {"settings": dict(settings), "configurations": {}}
    for name, data in configurations.items():
        curves = {seed: heldout_curves(records) for seed, records in logs[name].items()}
        sets = sorted({s for c in curves.values() for s in c})
        final = {}
        for s in sets:
            ends = [c[s][-1] for c in curves.values() if c.get(s)]
            final[s] = {
                "tokens": ends[0]["tokens"],
                **{m: _spread([e[m] for e in ends]) for m in METRICS},
            }
        out["configurations"][name] = {
            **data,
            "heldout": final,
            "curves": {str(seed): c for seed, c in curves.items()},
        }
    names = list(configurations)
    base = names[0]
    out["baseline"] = base
    out["differences"] = {
        name: {
            s: {m: _difference(out, base, name, s, m) for m in METRICS}
            for s in out["configurations"][name]["heldout"]
            if s in out["configurations"][base]["heldout"]
        }
        for name in names[1:]
    }
    return out


def _difference(report: dict[str, Any], base: str, name: str, s: str, m: str) -> dict[str, Any]:
    a = report["configurations"][base]["heldout"][s][m]
    b = report["configurations"][name]["heldout"][s][m]
    return {
        "delta": b["mean"] - a["mean"],
        "exceeds_seed_spread": b["max"] < a["min"] or b["min"] > a["max"],
    }


def _figure(value: dict[str, Any]) -> str:
    return f"{value['mean']:.4f} ± {value['std']:.4f}"


def render(report: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """ABLATION.md: the settings, the table, the differences from the baseline, the plots."""
    settings = report["settings"]
    configs = report["configurations"]
    sets = sorted({s for c in configs.values() for s in c["heldout"]})
    lines = [
        "# Ablation",
        "",
        f"The same model ({settings['model']}, {settings['parameters'] / 1e6:.2f}M parameters) "
        f"trained on each configuration's shards for {settings['train_tokens_per_run']:,} "
        f"tokens ({settings['steps']} steps of {settings['tokens_per_step']:,}), seeds "
        f"{', '.join(map(str, settings['seeds']))}, the same schedule; evaluated on the same "
        "held-out sets (which pipeline runs were decontaminated against them: see below). "
        "Figures: mean ± standard deviation over seeds, at the last step.",
        "",
        "| configuration | documents kept | train tokens | "
        + " | ".join(f"{s} loss | {s} bits/byte" for s in sets)
        + " |",
        "|---|---:|---:|" + "---:|---:|" * len(sets),
    ]
    for name, c in configs.items():
        cells = []
        for s in sets:
            h = c["heldout"].get(s)
            cells += [_figure(h["loss"]), _figure(h["bpb"])] if h else ["-", "-"]
        lines.append(
            f"| {name} | {c['documents_kept']:,} / {c['documents_in']:,} | "
            f"{c['train_tokens']:,} | " + " | ".join(cells) + " |"
        )
    lines += ["", f"## Differences from `{report['baseline']}`", ""]
    for name, per_set in report["differences"].items():
        for s, by_metric in per_set.items():
            d = by_metric["bpb"]
            verdict = (
                "exceeds the seed spread"
                if d["exceeds_seed_spread"]
                else "within the seed spread: not a measured difference at this size"
            )
            lines.append(f"- `{name}` on {s}: bits/byte {d['delta']:+.4f} ({verdict})")
    decontaminated = settings.get("decontaminated", {})
    if decontaminated:
        lines += ["", "## Decontaminated", ""]
        for name, sets_in in decontaminated.items():
            missing = [s for s in sets if s not in sets_in]
            note = f"not against {', '.join(missing)}" if missing else "against every held-out set"
            lines.append(f"- `{name}`: {note}")
    lines += ["", "## Held-out loss against tokens seen", ""]
    lines += [f"![{s}]({path})" for s, path in plots.items()]
    return "\n".join(lines) + "\n"


def plot(report: Mapping[str, Any], folder: Path) -> dict[str, str]:
    """One PNG per held-out set: loss against tokens seen, a line per configuration (the mean
    over seeds) in a band from the lowest to the highest seed."""
    # matplotlib here, not with the module: the card imports this module, and so do the Python
    # workers that count the card's tokens, where matplotlib cost 0.66 s each.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    configs = report["configurations"]
    sets = sorted({s for c in configs.values() for s in c["heldout"]})
    out = {}
    for s in sets:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, c in configs.items():
            runs = [curve[s] for curve in c["curves"].values() if s in curve]
            if not runs:
                continue
            tokens = [p["tokens"] for p in runs[0]]
            steps = min(len(r) for r in runs)
            losses = [[r[i]["loss"] for r in runs] for i in range(steps)]
            ax.plot(tokens[:steps], [statistics.fmean(v) for v in losses], label=name)
            ax.fill_between(
                tokens[:steps], [min(v) for v in losses], [max(v) for v in losses], alpha=0.2
            )
        ax.set(xlabel="tokens seen", ylabel="loss per token (nats)", title=s)
        ax.legend()
        fig.tight_layout()
        path = folder / f"heldout-{s}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out[s] = f"{folder.name}/{path.name}"
    return out


def write_report(folder: Path, report: dict[str, Any]) -> None:
    """ablation.json, the plots and ABLATION.md, in ``folder``."""
    plots = plot(report, folder / "plots")
    write_json(folder / REPORT_JSON, report)
    write_atomic(folder / REPORT_MD, render(report, plots).encode("utf-8"))


def card_section(links: list[dict[str, str]]) -> list[str]:
    """The dataset card's lines naming the ablations that trained on this output."""
    if not links:
        return []
    lines = [CARD_SECTION, ""]
    lines += [f"- `{x['configuration']}` in [{x['report']}]({x['report']})" for x in links]
    return [*lines, ""]


def with_card_section(card: str, links: list[dict[str, str]]) -> str:
    """A rendered card with its ablations section replaced by (or given) one for ``links``."""
    head, _, _ = card.partition(CARD_SECTION)
    return head.rstrip("\n") + "\n\n" + "\n".join(card_section(links))
