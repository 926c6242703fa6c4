"""The ablation harness on the shared real pages: "no quality filtering" (the baseline) against
the default pipeline (FineWeb's heuristic rules), the CPU preset, 3 seeds each, evaluated on
WikiText-2 valid and the shared high-quality reference text. Reports each configuration's
documents and tokens kept and held-out figures, and whether the default pipeline's difference
exceeds the seed spread at this size (it need not: that is the honest answer at 0.26M tokens).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.corpus import SHARED, warc_files
from bench.timing import report

CONFIGS = {"no-quality-filtering": {"quality": {"recipe": "none"}}, "default": {}}
SETTINGS = ("model", "parameters", "steps", "train_tokens_per_run", "seeds")
HELDOUT = ("wikitext-2_valid.txt", "cs336_high_quality_wiki_reference.txt")


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gristmill-ablation-") as tmp:
        root = Path(tmp)
        configs = []
        for name, config in CONFIGS.items():
            path = root / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config))
            configs += ["--config", str(path)]
        command = [
            sys.executable, "-m", "gristmill.pipeline.cli", "ablate",
            "--input", *map(str, warc_files()), *configs,
            "--heldout", *(str(SHARED / "reference" / name) for name in HELDOUT),
            "--preset", "cpu", "--seeds", "1", "2", "3", "--output", str(root / "out"),
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        result = json.loads((root / "out" / "ablation.json").read_text())
    configurations = {
        name: {
            "documents_kept": c["documents_kept"],
            "documents_in": c["documents_in"],
            "train_tokens": c["train_tokens"],
            "heldout": {
                s: {m: {k: v[m][k] for k in ("mean", "std", "min", "max")} for m in ("loss", "bpb")}
                for s, v in c["heldout"].items()
            },
        }
        for name, c in result["configurations"].items()
    }
    return {
        "seconds": seconds,
        "settings": {k: result["settings"][k] for k in SETTINGS},
        "configurations": configurations,
        "differences_from_baseline": result["differences"],
    }


def main() -> int:
    return report("ablation", measure())


if __name__ == "__main__":
    sys.exit(main())
