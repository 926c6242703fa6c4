"""Ablate: the companion model trained on each configuration's shards, compared on held-out sets.

    gristmill ablate --input 'crawl/*.warc.gz' --config default.yaml --config no-quality.yaml \\
        --heldout wikitext-2_valid.txt reference.txt --output ablation/
    gristmill ablate --runs out-a/ out-b/ --heldout wikitext-2_valid.txt --output ablation/

1. Each configuration runs the pipeline into ``DIR/runs/<name>/`` (the config file's name) with the
   held-out sets added to its decontamination benchmarks, so no run trains on them. The first
   configuration (the baseline) plans the batches; the others read the same batches. A
   configuration whose first stages' digests equal an earlier configuration's starts from that
   run's outputs of those stages and does only the later stages. With ``--runs``, existing
   outputs are compared as they are, without Spark; the report says which held-out sets each
   was decontaminated against.
2. Each configuration's shards train the same model with the same token budget, batch and
   schedule, once per seed, into ``DIR/train/<name>/seed-<S>/``; every evaluation scores the
   held-out sets whole (loss per token, bits per byte). A command run again resumes unfinished
   trainings and keeps finished ones whose settings, shards and held-out files are unchanged.
3. ``DIR/ablation.json``, ``DIR/ABLATION.md`` and ``DIR/plots/``; each run's dataset card links
   the report (:mod:`gristmill.pipeline.ablation`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from gristmill.jobs import arguments
from gristmill.jobs.batches import stage_digest
from gristmill.jobs.decontaminate import load_benchmarks
from gristmill.jobs.ingest import resolve_uris
from gristmill.jobs.options import job_main
from gristmill.jobs.run import check_config, run_pipeline
from gristmill.pipeline import ablation
from gristmill.pipeline.atomic import write_atomic
from gristmill.pipeline.benchmarks import benchmark_name
from gristmill.pipeline.config import Config, load_config
from gristmill.pipeline.errors import fail_usage
from gristmill.pipeline.layout import CARD_FILE, Layout, write_json
from gristmill.pipeline.ledger import Ledger, file_sha256
from gristmill.pipeline.log import logger
from gristmill.pipeline.stages import BATCH_STAGES

LOG = logger(__name__)

add_arguments = arguments.ablate


# Training settings per preset: the same for every configuration and seed of an ablation.
PRESETS: dict[str, dict[str, Any]] = {
    # A 2-layer model on 256,000 tokens: about 2.5 minutes a training on 2 cores, where the
    # 50,257-way output layer holds the tiny model to 1,800-2,000 tokens/s (1M tokens would be
    # 9 minutes a training, an hour for two configurations and three seeds).
    "cpu": {
        "preset": "tiny",
        "block_size": 64,
        "batch_size": 16,
        "steps": 250,
        "lr": 3e-3,
        "warmup_steps": 25,
        "eval_batches": 2,
        "heldout_tokens": 8_192,
        "device": "cpu",
    },
    # GPT-2 124M at about 2.6B tokens (524,288 a step, GPT-3 small's batch), bf16 and compiled.
    "gpu": {
        "preset": "gpt2",
        "block_size": 1024,
        "batch_size": 16,
        "grad_accum": 32,
        "steps": 5000,
        "lr": 6e-4,
        "warmup_steps": 500,
        "eval_batches": 20,
        "heldout_tokens": 1_000_000,
        "device": "cuda",
        "compile": True,
    },
}
# Evaluations along a training run (the points of each curve), whatever its length.
EVALUATIONS = 10
SETTINGS_FILE = "settings.json"


def config_path(args: argparse.Namespace) -> Path | None:
    """The config whose ``spark:`` section starts Spark: the first configuration's."""
    return (args.configs or [None])[0]


def needs_spark(args: argparse.Namespace) -> bool:
    """Comparing existing runs reads their files only: no Spark (nor Java) on a GPU machine."""
    return not args.runs


def _names(paths: list[Path]) -> list[str]:
    """A configuration's name: its file's (or output directory's) name, numbered if repeated;
    two that still collide are a usage error (their runs would share a directory)."""
    stems = [p.stem if p.suffix in (".yaml", ".yml") else p.name for p in paths]
    names = [s if stems.count(s) == 1 else f"{s}-{i + 1}" for i, s in enumerate(stems)]
    if len(set(names)) != len(names):
        fail_usage(f"configurations {[str(p) for p in paths]} give repeated names {names}")
    return names


def check(args: argparse.Namespace, cfg: Config) -> None:
    """Configurations read, inputs resolved and held-out sets found before Spark starts."""
    try:
        import torch  # noqa: F401  (the 'trainer' extra)
    except ModuleNotFoundError:
        fail_usage("gristmill ablate trains models: pip install 'gristmill[trainer]'")
    if bool(args.runs) == bool(args.input or args.crawl_id):
        fail_usage("give either --input (or --crawl-id) with --config files, or --runs")
    if args.seeds and len(set(args.seeds)) != len(args.seeds):
        fail_usage(f"--seeds repeats a seed: {args.seeds}")
    for path in args.heldout:
        if not Path(path).is_file():
            fail_usage(f"--heldout {path}: no such file")
    names = [benchmark_name(Path(p)) for p in args.heldout]
    if len(set(names)) != len(names):
        fail_usage(f"--heldout sets must have different names (the report's keys): {names}")
    if args.steps is not None and args.steps < 1:
        fail_usage(f"--steps must be >= 1, not {args.steps}")
    if args.heldout_tokens is not None and args.heldout_tokens < 2:
        fail_usage(f"--heldout-tokens must be >= 2, not {args.heldout_tokens}")
    if args.runs:
        if len(args.runs) < 2:
            fail_usage("--runs needs two output directories or more")
        for run in args.runs:
            if not (Layout(run).manifest.is_file() and Layout(run).stats.is_file()):
                fail_usage(f"--runs {run}: no shards/manifest.json and stats.json (not a run?)")
        args.plan = dict(zip(_names(args.runs), args.runs, strict=True))
        return
    if len(args.configs or []) < 2:
        fail_usage("an ablation compares two configurations or more: give --config twice")
    args.plan = {}
    for name, path in zip(_names(args.configs), args.configs, strict=True):
        config = load_config(path)
        out = args.output / "runs" / name
        check_config(out, config)
        held = load_benchmarks([*args.benchmark, *args.heldout], config)
        args.plan[name] = (config, out, held)
    args.uris = resolve_uris(
        args.input or [], cfg, crawl_id=args.crawl_id, cc_base_url=args.cc_base_url
    )


def _link_tree(src: Path, dst: Path) -> None:
    """A copy of ``src`` whose files are hard links (a copy where the file system has none): the
    stage tables are never written in place, only replaced whole."""

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link)


def _shared(name: str, plan: dict[str, Any]) -> tuple[Path, list[str]] | None:
    """The earlier configuration's run sharing the most leading stages with ``name``'s, and
    those stages: equal digests all the way from ingest, so equal inputs to each as well. Each
    configuration's digests are taken once (they hash its model files, gigabytes at scale)."""
    names = list(plan)[: list(plan).index(name) + 1]
    digests = {n: [stage_digest(stage, *plan[n]) for stage in BATCH_STAGES] for n in names}
    best: tuple[Path, list[str]] | None = None
    for other in names[:-1]:
        stages = []
        for stage, mine, theirs in zip(BATCH_STAGES, digests[name], digests[other], strict=True):
            if mine != theirs:
                break
            stages.append(stage)
        if stages and (best is None or len(stages) > len(best[1])):
            best = (plan[other][1], stages)
    return best


def _beside(layout: Layout, stage: str) -> list[Path]:
    """What a stage writes besides its table: the state a later batch reads (dedup's record and
    index, decontamination's counts and report) and the documents and shards of each batch."""
    paths = {
        "quality": [layout.frozen_cutoffs],
        "dedup": [layout.dedup_clusters().parent],
        "decontaminate": [layout.decontamination],
        "tokenize": [layout.documents(), *sorted(layout.shards().glob("batch=*"))],
    }
    return [p for p in paths.get(stage, []) if p.exists()]


def seed_run(src: Path, dst: Path, stages: list[str]) -> None:
    """Start ``dst`` from ``src``'s outputs of ``stages`` and a ledger that records only those:
    the run then does the rest. Stage tables are hard links (Spark writes a table whole and
    never touches it again); what a later batch may rewrite is copied. The ledger is written
    last, so a seeding cut short leaves no ledger and is done again."""
    shutil.rmtree(dst, ignore_errors=True)
    source, target = Layout(src), Layout(dst)
    for stage in stages:
        _link_tree(source.stage(stage), target.stage(stage))
        for path in _beside(source, stage):
            twin = dst / path.relative_to(src)
            twin.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, twin)
            else:
                shutil.copy2(path, twin)
    Ledger.load(src).copy_to(dst, stages).save()


def _replace_with_copy(path: Path, twin: Path) -> None:
    """``twin`` becomes a copy of ``path`` (a file or a folder), never half of one: the copy is
    made beside it and renamed into place."""
    fresh = twin.with_name(twin.name + ".seeding")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        shutil.copytree(path, fresh)
        old = twin.with_name(twin.name + ".replaced")
        shutil.rmtree(old, ignore_errors=True)
        if twin.exists():
            twin.rename(old)
        fresh.rename(twin)
        shutil.rmtree(old, ignore_errors=True)
    else:
        shutil.copy2(path, fresh)
        fresh.replace(twin)


def seed_batches(src: Path, dst: Path, stages: list[str]) -> list[int]:
    """Give ``dst``'s new batches (planned by :func:`follow_plan`, no stage done) ``src``'s
    outputs of ``stages`` for them, as :func:`seed_run` gave it the first night's, where every
    earlier batch took those stages from ``src`` too (:meth:`Ledger.shares`): a later night of
    an ablation costs what it costs its baseline, not that once per configuration. The state a
    later batch reads (:func:`_beside`) is replaced whole, as it holds the earlier batches'
    outputs too, equal by then. Returns the batches seeded."""
    theirs, mine = Ledger.load(src), Ledger.load(dst)
    batches = mine.shares(theirs, stages)
    source, target = Layout(src), Layout(dst)
    for stage in stages if batches else []:
        for batch in batches:
            shutil.rmtree(target.stage(stage, batch), ignore_errors=True)  # a seeding cut short
            _link_tree(source.stage(stage, batch), target.stage(stage, batch))
        for path in _beside(source, stage):
            _replace_with_copy(path, dst / path.relative_to(src))
    for batch in batches:
        mine.take(theirs, batch, stages)
    mine.save()  # last: a seeding cut short records nothing, and is done again
    return batches


def follow_plan(base: Path, out: Path) -> None:
    """Give ``out``'s ledger every batch of ``base``'s it lacks, with the same inputs and no
    stage done: the baseline alone plans batches (``--max-files``, network retries), so every
    configuration reads the same inputs."""
    target = Ledger.load(out)
    target.follow(Ledger.load(base))
    target.save()


def pipeline_runs(spark: SparkSession, args: argparse.Namespace) -> dict[str, Path]:
    runs: dict[str, Path] = {}
    for name, (config, out, benchmarks) in args.plan.items():
        if runs:  # not the baseline
            shared = _shared(name, args.plan)
            first = not Layout(out).ledger.exists()
            if shared and first:
                LOG.info("%s: %s taken from %s", name, " and ".join(shared[1]), shared[0])
                seed_run(shared[0], out, shared[1])
            follow_plan(next(iter(runs.values())), out)
            if shared and not first and (batches := seed_batches(shared[0], out, shared[1])):
                taken = " and ".join(shared[1])
                LOG.info("%s: %s of batch %s taken from %s", name, taken, batches, shared[0])
        LOG.info("%s: pipeline into %s", name, out)
        run_pipeline(
            spark,
            out,
            config,
            args.uris,
            benchmarks=benchmarks,
            max_files=args.max_files,
            plan=not runs,
        )
        runs[name] = out
    return runs


def decontaminated_sets(run: Path) -> list[str]:
    """The benchmark sets a run's decontamination report covers, by name."""
    report = Layout(run).decontamination_report()
    return sorted(json.loads(report.read_text())["benchmarks"]) if report.is_file() else []


def train_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The preset's training settings with --steps, --device and --heldout-tokens applied;
    warmup is cut to a tenth of a run shorter than the preset's, and every run is evaluated
    EVALUATIONS times."""
    settings = dict(PRESETS[args.preset])
    for key in ("steps", "device", "heldout_tokens"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    steps = settings["steps"]
    settings["warmup_steps"] = min(settings["warmup_steps"], steps // 10)
    settings["eval_interval"] = max(1, steps // EVALUATIONS)
    return settings


def train_all(
    runs: dict[str, Path], args: argparse.Namespace, settings: dict[str, Any]
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Every configuration, every seed: the same training settings, its own shards. A training
    whose recorded settings, shards or held-out files differ from these starts over; an
    unfinished one resumes."""
    from gristmill.trainer.train import LOG_FILE, TrainConfig, train

    heldout = tuple(Path(p) for p in args.heldout)
    heldout_sha256 = [file_sha256(str(p)) for p in heldout]
    logs: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name, run in runs.items():
        logs[name] = {}
        # The shards' manifest by content: a run that gained a batch retrains.
        manifest = {
            "manifest": str(Layout(run).manifest),
            "manifest_sha256": file_sha256(str(Layout(run).manifest)),
        }
        for seed in args.seeds:
            out = args.output / "train" / name / f"seed-{seed}"
            record = {**settings, "seed": seed, "heldout": [str(p) for p in heldout]}
            record |= manifest | {"heldout_sha256": heldout_sha256}
            saved = out / SETTINGS_FILE
            if saved.is_file() and json.loads(saved.read_text()) != record:
                LOG.info("%s seed %d: settings changed, training again", name, seed)
                shutil.rmtree(out)
            out.mkdir(parents=True, exist_ok=True)
            write_json(saved, record)
            LOG.info("%s seed %d: training into %s", name, seed, out)
            train(
                TrainConfig(
                    manifest=Layout(run).manifest,
                    out=out,
                    seed=seed,
                    heldout=heldout,
                    resume="latest",
                    log_interval=max(1, settings["steps"] // 20),
                    checkpoint_interval=settings["eval_interval"],
                    **settings,
                )
            )
            logs[name][seed] = ablation.read_log(out / LOG_FILE)
    return logs


def _parameters(settings: dict[str, Any], manifest: Path) -> int:
    """The model's parameter count, from a model on the meta device (no weights allocated)."""
    import torch

    from gristmill.trainer.model import GPT, preset

    vocab = json.loads(manifest.read_text())["vocab_size"]
    with torch.device("meta"):
        return GPT(preset(settings["preset"], vocab, settings["block_size"])).num_params()


def link_from_cards(runs: dict[str, Path], report: Path) -> None:
    """Name the report in each run's ``ablations.json`` and its dataset card's Ablations section
    (the card stage adds the same section when it renders the card again)."""
    for name, run in runs.items():
        links_file = run / ablation.RUN_LINKS
        links = json.loads(links_file.read_text()) if links_file.is_file() else []
        entry = {"configuration": name, "report": os.path.relpath(report, run)}
        links = [x for x in links if x["report"] != entry["report"]] + [entry]
        write_json(links_file, links)
        card = run / CARD_FILE
        if card.is_file():
            text = ablation.with_card_section(card.read_text(), links)
            write_atomic(card, text.encode("utf-8"))


def run(spark: SparkSession | None, args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    if args.runs:
        runs = {name: Path(path) for name, path in args.plan.items()}
    else:
        assert spark is not None  # needs_spark
        runs = pipeline_runs(spark, args)
    settings = train_settings(args)
    logs = train_all(runs, args, settings)
    tokens_per_step = (
        settings["batch_size"] * settings["block_size"] * settings.get("grad_accum", 1)
    )
    summary = {
        **settings,
        "model": settings["preset"],
        "parameters": _parameters(settings, Layout(next(iter(runs.values()))).manifest),
        "tokens_per_step": tokens_per_step,
        "train_tokens_per_run": tokens_per_step * settings["steps"],
        "seeds": list(args.seeds),
        "heldout": {benchmark_name(Path(p)): str(p) for p in args.heldout},
        "decontaminated": {name: decontaminated_sets(run) for name, run in runs.items()},
    }
    report = ablation.summarize(
        {name: ablation.run_data(run) for name, run in runs.items()}, logs, summary
    )
    ablation.write_report(args.output, report)
    link_from_cards(runs, args.output / ablation.REPORT_MD)
    LOG.info("ablation report: %s", args.output / ablation.REPORT_MD)
    return report


def main(argv: list[str] | None = None) -> int:
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
