"""``python -m gristmill.trainer.gpu_check`` (``make gpu-check``): is this machine training at the
speed it should? A one-shot run of the companion trainer on shards built by gristmill, reporting
tokens/s and MFU against this device's own peak (``hardware.py``).

On a CUDA device: the GPT-2 124M preset, bf16 autocast, ``torch.compile``, 300 steps of 16 x 1024
tokens. On a CPU (CI runs it there): the tiny preset for 20 steps, which checks the path, not the
speed. The shards are a gristmill run's (``--manifest``) or, by default, made in this process
from the demo's generated sample WARC with the pipeline's own functions (no Spark needed).
The first fifth of the steps (compilation, warm-up) is left out of the figures, which are the
medians of the logged intervals after it. The result is also written as ``gpu_check.json``.

    python -m gristmill.trainer.gpu_check --out runs/gpu-check
    python -m gristmill.trainer.gpu_check --manifest out/shards/manifest.json --steps 500
    python -m gristmill.trainer.gpu_check --batch-size 64  # a larger GPU's fuller batch
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from gristmill.pipeline.config import config_from_dict
from gristmill.pipeline.log import configure, logger
from gristmill.pipeline.sample_warc import write_sample
from gristmill.trainer.hardware import peak_flops
from gristmill.trainer.local_shards import build_shards
from gristmill.trainer.train import TrainConfig, train

LOG = logger(__name__)

# Per device kind: preset, steps, sequences per micro-batch, torch.compile.
PLANS = {"cuda": ("gpt2", 300, 16, True), "cpu": ("tiny", 20, 4, False)}


def sample_manifest(where: Path) -> Path:
    """Shards of the demo sample WARC (generated offline, as ``make demo`` does)."""
    sample = write_sample(where / "sample")
    return build_shards(sample.warc, where / "shards", config_from_dict({}))


def summarize(records: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    """Median tokens/s and MFU of the train records logged after the first fifth of the steps."""
    steady = [r for r in records if r["split"] == "train" and r["step"] > steps // 5]
    mfus = [r["mfu"] for r in steady if r["mfu"] is not None]
    return {
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
        "mfu": statistics.median(mfus) if mfus else None,
        "final_loss": steady[-1]["loss"],
        "intervals": len(steady),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    preset, steps, batch, compile_ = PLANS[device.type]
    steps = args.steps or steps
    batch = args.batch_size or batch
    peak = args.peak_flops or peak_flops(device)
    with tempfile.TemporaryDirectory(prefix="gristmill-gpu-check-") as tmp:
        manifest = args.manifest or sample_manifest(Path(tmp))
        cfg = TrainConfig(
            manifest=manifest,
            out=Path(tmp) / "run",
            preset=preset,
            steps=steps,
            batch_size=batch,
            warmup_steps=max(1, steps // 10),
            device=device.type,
            compile=compile_,
            log_interval=max(1, steps // 30),
            eval_interval=steps,
            eval_batches=1,
            checkpoint_interval=steps,
            peak_flops=peak,
        )
        records = train(cfg)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "preset": preset,
        "steps": steps,
        "tokens_per_step": records[0]["tokens"] // records[0]["step"],
        "compile": compile_,
        "dtype": "bfloat16" if device.type == "cuda" else "float32",
        "peak_flops": peak,
        "manifest": str(args.manifest) if args.manifest else "demo sample (generated)",
        "torch": torch.__version__,
    } | summarize(records, steps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gristmill.trainer.gpu_check", description=__doc__)
    p.add_argument("--manifest", type=Path, help="shards/manifest.json (default: demo sample)")
    p.add_argument("--steps", type=_positive, help="default: 300 on CUDA, 20 on CPU")
    p.add_argument(
        "--batch-size", type=_positive, help="sequences per step (default: 16 on CUDA, 4 on CPU)"
    )
    p.add_argument(
        "--peak-flops", type=float, help="this device's peak FLOP/s, if not in the table"
    )
    p.add_argument("--out", type=Path, default=Path("gpu-check"), help="gpu_check.json goes here")
    configure()
    result = run(p.parse_args(argv))
    mfu = f"{100 * result['mfu']:.1f}%" if result["mfu"] is not None else "n/a (no known peak)"
    LOG.info(
        f"gpu-check: {result['device']}, {result['preset']} ({result['dtype']}, compile "
        f"{result['compile']}): {result['tokens_per_s']:,.0f} tokens/s, MFU {mfu}, "
        f"loss {result['final_loss']:.3f} after {result['steps']} steps"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
