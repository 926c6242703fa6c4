"""``python -m gristmill.trainer``: train a GPT on a gristmill ``shards/manifest.json``.

    python -m gristmill.trainer --manifest out/shards/manifest.json --preset tiny --steps 200 \\
        --device cpu --out runs/tiny
    python -m gristmill.trainer ... --resume            # from the newest checkpoint in --out
    torchrun --standalone --nproc_per_node 8 -m gristmill.trainer --manifest ... --preset gpt2 \\
        --device cuda --batch-size 16 --grad-accum 4 --compile --out runs/gpt2

Data that does not fit the run (a bad shard header, a manifest that disagrees with its shards
or with the model) exits with code 2 and a message naming the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.log import configure, logger
from gristmill.pipeline.shards import ShardFormatError
from gristmill.trainer.model import PRESETS
from gristmill.trainer.train import PRECISIONS, TrainConfig, train

LOG = logger(__name__)

EXIT_DATA = 2


def parser() -> argparse.ArgumentParser:
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    p = argparse.ArgumentParser(
        prog="python -m gristmill.trainer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest", type=Path, required=True, help="shards/manifest.json")
    p.add_argument("--out", type=Path, required=True, help="checkpoints and log.jsonl go here")
    p.add_argument("--preset", choices=list(PRESETS), default=defaults["preset"])
    p.add_argument("--block-size", type=int, help="context length (default: the preset's)")
    p.add_argument("--dropout", type=float, default=defaults["dropout"])
    p.add_argument("--steps", type=int, default=defaults["steps"], help="optimizer steps")
    p.add_argument(
        "--batch-size", type=int, default=defaults["batch_size"], help="sequences per micro-batch"
    )
    p.add_argument(
        "--grad-accum",
        type=int,
        default=defaults["grad_accum"],
        help="micro-batches per step on each rank",
    )
    p.add_argument("--lr", type=float, default=defaults["lr"], help="peak learning rate")
    p.add_argument("--min-lr", type=float, help="final learning rate (default: lr / 10)")
    p.add_argument("--warmup-steps", type=int, default=defaults["warmup_steps"])
    p.add_argument(
        "--decay-steps",
        type=int,
        help="steps the learning rate decays over (default: --steps of the run's first start, "
        "kept on resume: a run resumed with more --steps goes on at min-lr)",
    )
    p.add_argument("--weight-decay", type=float, default=defaults["weight_decay"])
    p.add_argument("--beta1", type=float, default=defaults["beta1"])
    p.add_argument("--beta2", type=float, default=defaults["beta2"])
    p.add_argument(
        "--grad-clip", type=float, default=defaults["grad_clip"], help="0 turns clipping off"
    )
    p.add_argument(
        "--align-to-docs",
        action="store_true",
        help="cut documents into windows from their starts",
    )
    p.add_argument("--seed", type=int, default=defaults["seed"])
    p.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        default=defaults["precision"],
        help="auto: bf16 on a GPU that has it, fp16 with loss scaling on one without, fp32 on CPU",
    )
    p.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="default: cuda when available",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--deterministic", action="store_true", help="deterministic kernels (bitwise resume)"
    )
    p.add_argument("--eval-interval", type=int, default=defaults["eval_interval"])
    p.add_argument(
        "--eval-batches", type=int, default=defaults["eval_batches"], help="per bucket and rank"
    )
    p.add_argument("--log-interval", type=int, default=defaults["log_interval"])
    p.add_argument("--checkpoint-interval", type=int, default=defaults["checkpoint_interval"])
    p.add_argument(
        "--keep-checkpoints",
        type=int,
        default=defaults["keep_checkpoints"],
        help="newest checkpoints kept (0: all)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="CHECKPOINT",
        help="resume from CHECKPOINT, or without one from the newest in --out (if any)",
    )
    p.add_argument(
        "--heldout",
        nargs="+",
        type=Path,
        default=(),
        metavar="FILE",
        help="held-out sets scored whole at every evaluation, as loss per token and bits per "
        "byte: text files (a document a line) or benchmark files (JSONL, JSON, CSV/TSV)",
    )
    p.add_argument(
        "--heldout-tokens",
        type=int,
        help="score only each held-out set's first N tokens (whole documents)",
    )
    p.add_argument(
        "--peak-flops",
        type=float,
        help="device peak FLOP/s for MFU (default: the GPU's own dense bf16 peak where known)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    configure()
    p = parser()
    args = p.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if v is not None}
    values["heldout"] = tuple(values["heldout"])
    if "resume" in values and values["resume"] != "latest":
        values["resume"] = Path(values["resume"])
    try:
        cfg = TrainConfig(**values)
    except ValueError as exc:
        p.error(str(exc))
    try:
        train(cfg)
    except (UsageError, ShardFormatError, FileNotFoundError) as exc:  # DataError among them
        LOG.error("trainer: error: %s", exc)
        return EXIT_DATA
    return 0


if __name__ == "__main__":
    sys.exit(main())
