"""``gristmill ablate`` end to end at smoke size on real pages: three configurations (the demo's
filters, no quality filtering, the demo's filters with other bucket weights), a few training
steps, two seeds, two held-out sets; then the same comparison from two output directories."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from gristmill.jobs import ablate, arguments
from gristmill.pipeline.ablation import CARD_SECTION, REPORT_JSON, REPORT_MD, RUN_LINKS
from gristmill.pipeline.config import load_config
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger
from tests.conftest import deep_merge, unavailable

try:
    import torch  # noqa: F401
except ModuleNotFoundError:  # torch is the optional 'trainer' extra
    unavailable("torch is not installed (pip install '.[trainer]')", module=True)


def ablate_command(spark, argv: list[str]) -> dict[str, Any]:
    """The command's steps in-process, on the test session's Spark."""
    parser = argparse.ArgumentParser()
    arguments.ablate(parser)
    args = parser.parse_args(argv)
    cfg = load_config(ablate.config_path(args))
    ablate.check(args, cfg)
    return ablate.run(spark if ablate.needs_spark(args) else None, args, cfg)


def numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers(v)]
    return [value] if isinstance(value, float) else []


@pytest.fixture(scope="module")
def ablation(spark, shared_data: Path, demo_config: dict, tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("ablation")
    filtered, unfiltered = root / "filtered.yaml", root / "unfiltered.yaml"
    filtered.write_text(yaml.safe_dump(demo_config))
    unfiltered.write_text(yaml.safe_dump(deep_merge(demo_config, {"quality": {"recipe": "none"}})))
    buckets = [{"name": b["name"], "weight": 1.0} for b in demo_config["tokenize"]["buckets"]]
    reweighted = root / "reweighted.yaml"
    reweighted.write_text(
        yaml.safe_dump(deep_merge(demo_config, {"tokenize": {"buckets": buckets}}))
    )
    argv = [
        "--input", str(shared_data / "warc" / "realpages-00004.warc.gz"),
        str(shared_data / "warc" / "realpages-00005.warc.gz"), "--max-files", "1",
        "--config", str(filtered), "--config", str(unfiltered), "--config", str(reweighted),
        "--heldout", str(shared_data / "reference" / "wikitext-2_valid.txt"),
        str(shared_data / "reference" / "cs336_high_quality_wiki_reference.txt"),
        "--seeds", "1", "2", "--steps", "2", "--heldout-tokens", "512",
        "--output", str(root / "out"),
    ]  # fmt: skip
    report = ablate_command(spark, argv)
    return root / "out", report, argv


SETS = {"wikitext-2_valid", "cs336_high_quality_wiki_reference"}
NAMES = ["filtered", "unfiltered", "reweighted"]


def test_report_has_every_figure(ablation) -> None:
    out, report, _ = ablation
    assert json.loads((out / REPORT_JSON).read_text()) == json.loads(json.dumps(report))
    configs = report["configurations"]
    assert list(configs) == NAMES and report["baseline"] == "filtered"
    # No quality filtering keeps more of the same pages.
    assert 0 < configs["filtered"]["documents_kept"] < configs["unfiltered"]["documents_kept"]
    assert configs["filtered"]["documents_in"] == configs["unfiltered"]["documents_in"]
    # Other weights, the same documents and tokens.
    for key in ("documents_kept", "train_tokens"):
        assert configs["reweighted"][key] == configs["filtered"][key]
    for c in configs.values():
        assert c["train_tokens"] > 0 and set(c["heldout"]) == SETS
        for figures in c["heldout"].values():
            assert figures["tokens"] == report["settings"]["train_tokens_per_run"]
            for metric in ("loss", "bpb"):
                assert len(figures[metric]["seeds"]) == 2
                assert figures[metric]["min"] <= figures[metric]["mean"] <= figures[metric]["max"]
        # Evaluated at both steps, per seed and set; the loss falls from the start.
        for curves in c["curves"].values():
            for points in curves.values():
                assert [p["step"] for p in points] == [1, 2]
                assert points[-1]["loss"] < points[0]["loss"]
    values = numbers(report)
    assert values and all(math.isfinite(v) for v in values)
    assert 8 < configs["filtered"]["heldout"]["wikitext-2_valid"]["loss"]["mean"] < 11.5
    assert list(report["differences"]) == NAMES[1:]
    for diff in report["differences"].values():
        assert set(diff) == SETS
        assert all(isinstance(d["bpb"]["delta"], float) for d in diff.values())
    # Every run decontaminated against both held-out sets.
    assert {
        n: set(s) >= SETS for n, s in report["settings"]["decontaminated"].items()
    } == dict.fromkeys(NAMES, True)


def test_markdown_plots_and_cards(ablation) -> None:
    out = ablation[0]
    text = (out / REPORT_MD).read_text()
    assert all(f"| {name} |" in text for name in NAMES)
    assert "## Differences from `filtered`" in text
    for name in SETS:
        png = out / "plots" / f"heldout-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(plots/heldout-{name}.png)" in text
    for name in NAMES:
        run = out / "runs" / name
        card = (run / "DATASET_CARD.md").read_text()
        assert card.count(CARD_SECTION) == 1
        assert f"`{name}` in [../../{REPORT_MD}](../../{REPORT_MD})" in card
        assert json.loads((run / RUN_LINKS).read_text())[0]["configuration"] == name


def test_same_training_for_every_configuration(ablation) -> None:
    out, _, _ = ablation
    settings = {
        (name, seed): json.loads(
            (out / "train" / name / f"seed-{seed}" / "settings.json").read_text()
        )
        for name in NAMES
        for seed in (1, 2)
    }
    stripped = {
        json.dumps(
            {k: v for k, v in s.items() if k not in ("seed", "manifest", "manifest_sha256")},
            sort_keys=True,
        )
        for s in settings.values()
    }
    assert len(stripped) == 1
    assert settings["filtered", 1]["manifest"].endswith("runs/filtered/shards/manifest.json")


def linked(a: Path, b: Path) -> bool:
    """Whether every Parquet file of table ``a`` is the same file (hard link) in ``b``."""
    files = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    return bool(files) and all(
        (b / f).exists() and (a / f).stat().st_ino == (b / f).stat().st_ino for f in files
    )


def test_later_configurations_share_equal_stages(ablation) -> None:
    """The unfiltered run took the filtered run's ingest table, not its quality table, whose
    config differs; the reweighted run took everything but tokenize."""
    out = ablation[0]
    a, b, c = (Layout(out / "runs" / name) for name in NAMES)
    assert linked(a.stage("ingest"), b.stage("ingest"))
    quality = next(a.stage("quality").rglob("*.parquet")).name
    assert not (b.stage("quality") / quality).exists()
    ledgers = {n: Ledger.load(out / "runs" / n).batches[0]["stages"] for n in NAMES}
    assert ledgers["filtered"]["ingest"] == ledgers["unfiltered"]["ingest"]
    assert ledgers["filtered"]["quality"]["digest"] != ledgers["unfiltered"]["quality"]["digest"]
    for stage in ("ingest", "quality", "dedup", "decontaminate"):
        assert linked(a.stage(stage), c.stage(stage)), stage
        assert ledgers["reweighted"][stage] == ledgers["filtered"][stage]
    assert c.decontamination_report().read_bytes() == a.decontamination_report().read_bytes()
    assert c.decontamination_report().stat().st_ino != a.decontamination_report().stat().st_ino
    assert ledgers["reweighted"]["tokenize"]["digest"] != ledgers["filtered"]["tokenize"]["digest"]
    assert not linked(a.stage("tokenize"), c.stage("tokenize"))


def inputs(run: Path) -> list[list[str]]:
    ledger = Ledger.load(run)
    return [[i["uri"] for i in ledger.inputs(b["batch"])] for b in ledger.batches]


def test_next_batch_retrains_then_nothing_new_and_runs_compare(
    spark, ablation, tmp_path: Path
) -> None:
    """The same command again: the baseline plans the next input (--max-files 1) and the other
    configurations follow its plan, taking the stages they share with it; the shards changed,
    so every training starts over. Once more: nothing new. Then two of the runs compared as
    they are (--runs, no Spark)."""
    out, report, argv = ablation
    first = argv[argv.index("--input") + 1]
    assert {n: inputs(out / "runs" / n) for n in NAMES} == {key: [[first]] for key in NAMES}
    logs = {p: p.read_bytes() for p in out.glob("train/*/*/log.jsonl")}
    ablate_command(spark, argv)
    second = argv[argv.index("--input") + 2]
    planned = {n: inputs(out / "runs" / n) for n in NAMES}
    assert planned == {key: [[first], [second]] for key in NAMES}
    # The new batch's equal stages were taken from the baseline's, as the first night's were.
    a, b, c = (Layout(out / "runs" / name) for name in NAMES)
    assert linked(a.stage("ingest", 2), b.stage("ingest", 2))
    assert not linked(a.stage("quality", 2), b.stage("quality", 2))
    for stage in ("ingest", "quality", "dedup", "decontaminate"):
        assert linked(a.stage(stage, 2), c.stage(stage, 2)), stage
    assert c.decontamination_report().read_bytes() == a.decontamination_report().read_bytes()
    retrained = {p: p.read_bytes() for p in out.glob("train/*/*/log.jsonl")}
    assert retrained.keys() == logs.keys() and all(retrained[p] != logs[p] for p in logs)
    again = ablate_command(spark, argv)
    assert {p: p.read_bytes() for p in out.glob("train/*/*/log.jsonl")} == retrained
    assert (
        again["configurations"]["filtered"]["documents_in"]
        > (report["configurations"]["filtered"]["documents_in"])
    )
    runs = [str(out / "runs" / "filtered"), str(out / "runs" / "unfiltered")]
    heldout = argv[argv.index("--heldout") + 1 : argv.index("--seeds")]
    compared = ablate_command(
        spark,
        ["--runs", *runs, "--heldout", *heldout, "--seeds", "3", "--steps", "2",
         "--heldout-tokens", "512", "--output", str(tmp_path / "again")],
    )  # fmt: skip
    assert list(compared["configurations"]) == ["filtered", "unfiltered"]
    assert compared["settings"]["seeds"] == [3]
    cards = (out / "runs" / "filtered" / "DATASET_CARD.md").read_text()
    assert cards.count(CARD_SECTION) == 1 and cards.count("ABLATION.md") == 2 * 2  # two links
