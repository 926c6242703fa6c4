"""``gristmill ablate`` end to end at smoke size on real pages: two configurations (the demo's
filters, and no quality filtering), a few training steps, two seeds, two held-out sets; then the
same comparison from the two output directories."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from gristmill.jobs import ablate, arguments
from gristmill.pipeline.ablation import CARD_SECTION, REPORT_JSON, REPORT_MD, RUN_LINKS
from gristmill.pipeline.config import load_config
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger
from tests.conftest import deep_merge

try:
    import torch  # noqa: F401
except ModuleNotFoundError:  # torch is the optional 'trainer' extra
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("torch is not installed (pip install '.[trainer]')", allow_module_level=True)


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
    argv = [
        "--input", str(shared_data / "warc" / "realpages-00004.warc.gz"),
        "--config", str(filtered), "--config", str(unfiltered),
        "--heldout", str(shared_data / "reference" / "wikitext-2_valid.txt"),
        str(shared_data / "reference" / "cs336_high_quality_wiki_reference.txt"),
        "--seeds", "1", "2", "--steps", "4", "--heldout-tokens", "1024",
        "--output", str(root / "out"),
    ]  # fmt: skip
    report = ablate_command(spark, argv)
    return root / "out", report, argv


SETS = {"wikitext-2_valid", "cs336_high_quality_wiki_reference"}


def test_report_has_every_figure(ablation) -> None:
    out, report, _ = ablation
    assert json.loads((out / REPORT_JSON).read_text()) == json.loads(json.dumps(report))
    configs = report["configurations"]
    assert list(configs) == ["filtered", "unfiltered"] and report["baseline"] == "filtered"
    # No quality filtering keeps more of the same pages.
    assert 0 < configs["filtered"]["documents_kept"] < configs["unfiltered"]["documents_kept"]
    assert configs["filtered"]["documents_in"] == configs["unfiltered"]["documents_in"]
    for c in configs.values():
        assert c["train_tokens"] > 0 and set(c["heldout"]) == SETS
        for figures in c["heldout"].values():
            assert figures["tokens"] == 4 * report["settings"]["tokens_per_step"]
            for metric in ("loss", "bpb"):
                assert len(figures[metric]["seeds"]) == 2
                assert figures[metric]["min"] <= figures[metric]["mean"] <= figures[metric]["max"]
        # Evaluated at every step of the 4, per seed and set; the loss falls from the start.
        for curves in c["curves"].values():
            for points in curves.values():
                assert [p["step"] for p in points] == [1, 2, 3, 4]
                assert points[-1]["loss"] < points[0]["loss"]
    values = numbers(report)
    assert values and all(math.isfinite(v) for v in values)
    assert 8 < configs["filtered"]["heldout"]["wikitext-2_valid"]["loss"]["mean"] < 11.5
    diff = report["differences"]["unfiltered"]
    assert set(diff) == SETS and all(isinstance(d["bpb"]["delta"], float) for d in diff.values())
    # Every run decontaminated against both held-out sets.
    assert {n: set(s) >= SETS for n, s in report["settings"]["decontaminated"].items()} == {
        "filtered": True,
        "unfiltered": True,
    }


def test_markdown_plots_and_cards(ablation) -> None:
    out = ablation[0]
    text = (out / REPORT_MD).read_text()
    assert "| filtered |" in text and "| unfiltered |" in text
    assert "## Differences from `filtered`" in text
    for name in SETS:
        png = out / "plots" / f"heldout-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(plots/heldout-{name}.png)" in text
    for name in ("filtered", "unfiltered"):
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
        for name in ("filtered", "unfiltered")
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


def test_later_configuration_shares_ingest(ablation) -> None:
    """The unfiltered run took the filtered run's ingest table (hard links), not its quality
    table, whose config differs."""
    out, _, _ = ablation
    a, b = Layout(out / "runs" / "filtered"), Layout(out / "runs" / "unfiltered")
    files = sorted(p.relative_to(a.stage("ingest")) for p in a.stage("ingest").rglob("*.parquet"))
    assert files
    for f in files:
        assert (a.stage("ingest") / f).stat().st_ino == (b.stage("ingest") / f).stat().st_ino
    quality = next(a.stage("quality").rglob("*.parquet")).name
    assert not (b.stage("quality") / quality).exists()
    ledgers = [Ledger.load(layout.root).batches[0]["stages"] for layout in (a, b)]
    assert ledgers[0]["ingest"] == ledgers[1]["ingest"]
    assert ledgers[0]["quality"]["digest"] != ledgers[1]["quality"]["digest"]


def test_again_does_nothing_new_and_runs_compare(spark, ablation, tmp_path: Path) -> None:
    out, report, argv = ablation
    logs = {p: p.read_bytes() for p in out.glob("train/*/*/log.jsonl")}
    again = ablate_command(spark, argv)
    assert {p: p.read_bytes() for p in out.glob("train/*/*/log.jsonl")} == logs
    assert again["configurations"] == report["configurations"]
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
