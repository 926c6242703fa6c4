"""The training loop: AdamW, warmup then cosine decay, gradient accumulation and clipping,
bf16 autocast on CUDA (fp16 with loss scaling where a GPU has no bf16), optional torch.compile,
DDP under torchrun, checkpoints, eval, logs.

One function, :func:`train`, reads top to bottom like nanoGPT's ``train.py``; the settings are
one plain dataclass. Checkpoints hold the model, the optimizer, the sampler's counter, every
rank's RNG state and the step, so a resumed run takes exactly the steps an uninterrupted one
would have taken (bit for bit on CPU with ``deterministic``; see the tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from gristmill.pipeline.atomic import atomic_file
from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.log import logger
from gristmill.trainer.data import WindowSampler, check_model_fits, load_dataset, val_samplers
from gristmill.trainer.hardware import peak_flops
from gristmill.trainer.heldout import HeldOut, load_heldout
from gristmill.trainer.model import GPT, GPTConfig, preset

LOG = logger(__name__)

CHECKPOINT = "ckpt-{step:07d}.pt"
LOG_FILE = "log.jsonl"


PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass
class TrainConfig:
    manifest: Path
    out: Path
    preset: str = "tiny"
    block_size: int | None = None  # default: the preset's
    dropout: float = 0.0
    steps: int = 1000
    batch_size: int = 8  # sequences per micro-batch per rank
    grad_accum: int = 1  # micro-batches per step per rank
    lr: float = 6e-4  # GPT-3 125M's peak learning rate
    min_lr: float | None = None  # default lr / 10 (Chinchilla, nanoGPT)
    warmup_steps: int = 100
    # Steps the cosine decays over; default: --steps of the run's first start, kept on resume,
    # so a run resumed with more --steps goes on at min_lr past it (nanoGPT's lr_decay_iters).
    decay_steps: int | None = None
    weight_decay: float = 0.1  # GPT-3
    beta1: float = 0.9
    beta2: float = 0.95  # GPT-3's (0.9, 0.95), not Adam's default 0.999
    grad_clip: float = 1.0  # GPT-3 clips the global norm at 1.0; 0 turns clipping off
    align_to_docs: bool = False
    seed: int = 1337
    device: str = "cpu"  # cpu | cuda (cuda:N is chosen per rank under torchrun)
    # auto: bf16 autocast on a GPU that has it, fp16 with loss scaling on one that has not
    # (V100, T4), fp32 on a CPU; or bf16 | fp16 | fp32 whatever the device.
    precision: str = "auto"
    compile: bool = False
    deterministic: bool = False  # torch.use_deterministic_algorithms, for bitwise resume
    eval_interval: int = 250
    eval_batches: int = 20
    log_interval: int = 10
    checkpoint_interval: int = 1000
    keep_checkpoints: int = 2  # newest checkpoints kept; 0 keeps all
    resume: Path | str | None = None  # a checkpoint file, or "latest" in ``out``
    peak_flops: float | None = None  # per device, for MFU; default: the GPU's own (hardware.py)
    # Held-out sets scored whole at every evaluation (trainer/heldout.py), each cut to its
    # first heldout_tokens tokens (whole documents) when set.
    heldout: tuple[Path, ...] = ()
    heldout_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "log_interval", "eval_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.decay_steps is not None and self.decay_steps < 1:
            raise ValueError(f"decay_steps must be >= 1, got {self.decay_steps}")
        if self.checkpoint_interval < 1 or self.eval_batches < 1 or self.warmup_steps < 0:
            raise ValueError("checkpoint_interval and eval_batches must be >= 1, warmup >= 0")
        if self.heldout_tokens is not None and self.heldout_tokens < 2:
            raise ValueError(f"heldout_tokens must be >= 2, got {self.heldout_tokens}")


def lr_at(step: int, cfg: TrainConfig, decay_steps: int | None = None) -> float:
    """Learning rate of step ``step`` (1-based): linear warmup, then cosine down to min_lr at
    step ``decay_steps`` (default ``cfg.decay_steps``, else the last), and min_lr after it
    (GPT-3 appendix B decays to 10% of the peak; nanoGPT over the whole run)."""
    decay_steps = decay_steps or cfg.decay_steps or cfg.steps
    min_lr = cfg.lr / 10 if cfg.min_lr is None else cfg.min_lr
    if step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    ratio = (step - cfg.warmup_steps) / max(1, decay_steps - cfg.warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (cfg.lr - min_lr)


# What a resumed run must share with its checkpoint: the model's shape, the optimizer state's
# meaning (AdamW's settings come back from the checkpoint whatever the command says) and the
# sampler's pool. Any other setting may change on resume (steps, lr, intervals, batch size).
RESUME_FIXED = (
    "preset",
    "block_size",
    "dropout",
    "weight_decay",
    "beta1",
    "beta2",
    "align_to_docs",
)


def check_resume(ckpt: dict[str, Any], cfg: TrainConfig) -> None:
    """Refuse a resume whose settings would be silently replaced by the checkpoint's."""
    saved = ckpt["train_config"]
    changed = [
        f"--{key.replace('_', '-')} {getattr(cfg, key)} (the checkpoint's: {saved[key]})"
        for key in RESUME_FIXED
        if key in saved
        and getattr(cfg, key) != saved[key]
        and not (key == "block_size" and getattr(cfg, key) in (None, ckpt["model_config"][key]))
    ]
    if changed:
        raise UsageError(
            "a resumed run keeps its checkpoint's model, optimizer and sampling settings: "
            f"{'; '.join(changed)}; give the checkpoint's values or start a new run"
        )


def schedule_length(ckpt: dict[str, Any] | None, cfg: TrainConfig) -> int:
    """The steps the learning rate decays over: ``decay_steps`` if given, else the run's first
    start's (a checkpoint keeps it), else ``steps``."""
    if cfg.decay_steps:
        return cfg.decay_steps
    if ckpt:
        return int(ckpt.get("decay_steps") or ckpt["train_config"]["steps"])
    return cfg.steps


def _precision(
    precision: str, device: torch.device, master: bool
) -> tuple[contextlib.AbstractContextManager, torch.amp.GradScaler | None]:
    """The autocast context of the forward passes and, for fp16, the loss scaler. bf16 needs no
    scaling (its exponent range is fp32's); fp16's gradients underflow without it, as nanoGPT
    does on GPUs without bf16. Weights and optimizer state stay fp32 either way."""
    if precision == "auto":
        if device.type != "cuda":
            precision = "fp32"
        elif torch.cuda.is_bf16_supported(including_emulation=False):
            precision = "bf16"
        else:
            precision = "fp16"
            if master:
                LOG.warning("%s has no bf16: fp16 autocast with loss scaling", device)
    if precision == "fp32":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return torch.autocast(device.type, dtype=dtype), scaler


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted(out.glob("ckpt-*.pt"))
    return found[-1] if found else None


def _distributed() -> tuple[int, int, int]:
    """(rank, local rank, world size) from torchrun's environment; (0, 0, 1) without it."""
    if "RANK" not in os.environ:
        return 0, 0, 1
    return int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])


def _rng_state(device: torch.device) -> dict[str, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: dict[str, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _save(path: Path, state: dict[str, Any], keep: int) -> None:
    """Write it atomically, so a checkpoint that exists is whole; then prune."""
    with atomic_file(path) as f:
        torch.save(state, f)
    if keep:
        for old in sorted(path.parent.glob("ckpt-*.pt"))[:-keep]:
            old.unlink()


def _step(line: str) -> int | None:
    """A log record's step; None for a line cut short (a run killed mid-write) or blank."""
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, TypeError, AttributeError):
        return None


class _Log:
    """Human lines on stdout and one JSON object per line in ``out/log.jsonl`` (rank 0 only).

    A run resumed from step ``start`` first drops the records of later steps: a run that died
    after its last checkpoint logged steps it is about to take again, and they would be in the
    log twice, the curve doubling back."""

    def __init__(self, out: Path, active: bool, start: int = 0) -> None:
        self.active = active
        path = out / LOG_FILE
        if active and start and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if (step := _step(line)) is not None and step <= start]
            with atomic_file(path) as f:
                f.write("".join(kept).encode("utf-8"))
        self.file = open(path, "a", encoding="utf-8") if active else None  # noqa: SIM115
        self.records: list[dict[str, Any]] = []

    def __call__(self, record: dict[str, Any], line: str) -> None:
        if not self.active:
            return
        self.records.append(record)
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        LOG.info("%s", line)

    def close(self) -> None:
        if self.file:
            self.file.close()


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    samplers: dict[str, WindowSampler],
    batches: int,
    device: torch.device,
    autocast: contextlib.AbstractContextManager,
) -> dict[str, float]:
    """Mean val loss per bucket over ``batches`` batches per rank, averaged over ranks."""
    model.eval()
    losses = {}
    for bucket, sampler in samplers.items():
        total = torch.zeros((), device=device)
        for _ in range(batches):
            x, y = (torch.from_numpy(a).to(device) for a in sampler.next_batch())
            with autocast:
                _, loss = model(x, y)
            total += loss.float()
        if dist.is_initialized():
            dist.all_reduce(total)
            total /= dist.get_world_size()
        losses[bucket] = total.item() / batches
    model.train()
    return losses


@torch.no_grad()
def evaluate_heldout(
    model: torch.nn.Module,
    heldout: HeldOut,
    block_size: int,
    batch_size: int,
    device: torch.device,
    autocast: contextlib.AbstractContextManager,
) -> dict[str, float]:
    """Loss per token and bits per byte over every window of a held-out set; under DDP each
    rank takes every world-th window and the sums are added up."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    windows = heldout.windows(block_size)[rank::world]
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # nats, targets
    model.eval()
    # Full windows go in batches; the last, shorter one alone.
    groups = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
    if groups and len(groups[-1][-1][0]) != len(groups[-1][0][0]):
        groups[-1:] = [groups[-1][:-1], groups[-1][-1:]]
    for group in filter(None, groups):
        x = torch.from_numpy(np.stack([w[0] for w in group])).to(device)
        y = torch.from_numpy(np.stack([w[1] for w in group])).to(device)
        with autocast:
            _, loss = model(x, y)
        sums[0] += loss.double() * y.numel()
        sums[1] += y.numel()
    if dist.is_initialized():
        dist.all_reduce(sums)
    model.train()
    return heldout.figures(sums[0].item(), int(sums[1].item()))


def checked_batches(ckpt: dict[str, Any] | None, manifest: Path) -> list[str]:
    """The batches (sha256 of their lists) whose shards the run resumed from checked, where it
    read the same manifest: after a night's new batch, the resumed run checks that one alone.
    A checkpoint from before this record, or of a manifest elsewhere, trusts none."""
    checked = (ckpt or {}).get("data", {}).get("checked") or {}
    return (
        checked.get("batches", []) if checked.get("manifest") == os.path.abspath(manifest) else []
    )


def train(cfg: TrainConfig) -> list[dict[str, Any]]:
    """Train as configured; returns the log records (empty on ranks other than 0)."""
    rank, local_rank, world = _distributed()
    device = torch.device(cfg.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    master = rank == 0
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's requirement
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        # TF32 for float32 matmuls left outside autocast: about 7x the fp32 rate on an H100.
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"

    resume = latest_checkpoint(cfg.out) if cfg.resume == "latest" else cfg.resume
    if cfg.resume == "latest" and resume is None and master:
        LOG.info("no checkpoint in %s: starting from step 0", cfg.out)
    ckpt = torch.load(resume, map_location="cpu", weights_only=True) if resume else None
    if ckpt:
        check_resume(ckpt, cfg)
    decay_steps = schedule_length(ckpt, cfg)
    data = load_dataset(cfg.manifest, checked_batches(ckpt, cfg.manifest))
    heldout = [load_heldout(p, data.tokenizer, cfg.heldout_tokens) for p in cfg.heldout]
    cfg.out.mkdir(parents=True, exist_ok=True)
    if ckpt:
        model_cfg = GPTConfig(**ckpt["model_config"])
        check_model_fits(data, model_cfg.vocab_size, ckpt["data"]["tokenizer"])
    else:
        model_cfg = dataclasses.replace(
            preset(cfg.preset, data.vocab_size, cfg.block_size), dropout=cfg.dropout
        )
        check_model_fits(data, model_cfg.vocab_size)
    T = model_cfg.block_size

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    raw_model = GPT(model_cfg).to(device)
    optimizer = torch.optim.AdamW(
        raw_model.optimizer_groups(cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        fused=device.type == "cuda",
    )
    sampler = WindowSampler(
        data, "train", T, cfg.batch_size, cfg.seed, None, cfg.align_to_docs, rank, world
    )
    start = tokens = 0
    if ckpt:
        raw_model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        sampler.load_state_dict(ckpt["sampler"])
        start = ckpt["step"]
        saved = ckpt["train_config"]  # an older checkpoint counts by its own settings
        per_step = saved["batch_size"] * saved["grad_accum"] * T * len(ckpt["rng"])
        tokens = ckpt.get("tokens", start * per_step)
    if ckpt and len(ckpt["rng"]) == world:
        _set_rng_state(ckpt["rng"][rank], device)
    else:
        if ckpt and master:
            LOG.warning(
                "checkpoint written by %d ranks, not %d: RNG reseeded", len(ckpt["rng"]), world
            )
        torch.manual_seed(cfg.seed + rank)  # ranks draw different dropout masks
    model: torch.nn.Module = raw_model
    if cfg.compile:
        model = torch.compile(model)
    if world > 1:
        model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)

    autocast, scaler = _precision(cfg.precision, device, master)
    if ckpt and scaler and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    peak = cfg.peak_flops or peak_flops(device)
    flops_per_token = raw_model.flops_per_token()
    tokens_per_step = cfg.batch_size * T * cfg.grad_accum * world
    log = _Log(cfg.out, master, start)
    if master:
        LOG.info(
            f"{data.manifest}: {data.tokenizer}, buckets {data.weights}; model "
            f"{raw_model.num_params() / 1e6:.2f}M parameters {model_cfg}; "
            f"{tokens_per_step} tokens/step on {world} x {device}; steps {start + 1}..{cfg.steps}"
        )
        if cfg.steps > decay_steps:
            LOG.info(
                "the learning rate decays over %d steps (the run's first --steps; --decay-steps "
                "sets another length): steps %d..%d train at min_lr",
                decay_steps,
                max(start, decay_steps) + 1,
                cfg.steps,
            )

    def checkpoint(step: int) -> None:
        rngs = [_rng_state(device)]
        if world > 1:
            rngs = [None] * world
            dist.all_gather_object(rngs, _rng_state(device))
        if master:
            state = {
                "step": step,
                "tokens": tokens,
                "decay_steps": decay_steps,
                "model": raw_model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler else None,
                "sampler": sampler.state_dict(),
                "rng": rngs,
                "model_config": dataclasses.asdict(model_cfg),
                "data": {
                    "tokenizer": data.tokenizer,
                    "manifest": str(data.manifest),
                    "checked": {
                        "manifest": os.path.abspath(data.manifest),
                        "batches": sorted(data.checked),
                    },
                },
                "train_config": {
                    k: str(v) if isinstance(v, Path) else v
                    for k, v in dataclasses.asdict(cfg).items()
                    if k != "heldout"
                }
                | {"heldout": [str(p) for p in cfg.heldout]},
            }
            _save(cfg.out / CHECKPOINT.format(step=step), state, cfg.keep_checkpoints)

    def run_eval(step: int) -> None:
        for held in heldout:
            figures = evaluate_heldout(model, held, T, cfg.batch_size, device, autocast)
            log(
                {"step": step, "split": "heldout", "set": held.name, "tokens": tokens, **figures},
                f"step {step:6d} | {held.name} loss {figures['loss']:.4f} "
                f"| {figures['bpb']:.4f} bits/byte",
            )
        samplers = val_samplers(data, T, cfg.batch_size, cfg.seed, rank, world)
        if not samplers:
            return
        losses = evaluate(model, samplers, cfg.eval_batches, device, autocast)
        w = {b: data.weights[b] for b in losses}
        mixed = sum(w[b] * losses[b] for b in losses) / sum(w.values()) if sum(w.values()) else 0
        per = " ".join(f"{b} {v:.4f}" for b, v in losses.items())
        log(
            {"step": step, "split": "val", "loss": mixed, "buckets": losses, "tokens": tokens},
            f"step {step:6d} | val loss {mixed:.4f} | {per}",
        )

    t0, t0_step = time.perf_counter(), start
    for step in range(start + 1, cfg.steps + 1):
        lr = lr_at(step, cfg, decay_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(cfg.grad_accum):
            x, y = (torch.from_numpy(a) for a in sampler.next_batch())
            if device.type == "cuda":
                x = x.pin_memory().to(device, non_blocking=True)
                y = y.pin_memory().to(device, non_blocking=True)
            # DDP all-reduces gradients only in the backward of the step's last micro-batch.
            last = micro == cfg.grad_accum - 1
            with contextlib.nullcontext() if world == 1 or last else model.no_sync():
                with autocast:
                    _, loss = model(x, y)
                scaled = loss / cfg.grad_accum
                (scaler.scale(scaled) if scaler else scaled).backward()
            loss_sum += loss.detach()
        if scaler:
            scaler.unscale_(optimizer)  # clip and log the true gradients' norm
        norm = None
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
        if scaler:
            scaler.step(optimizer)  # skipped where the scaled gradients overflowed
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += tokens_per_step

        if step % cfg.log_interval == 0 or step == cfg.steps:
            if world > 1:  # the mean over all ranks' micro-batches, not rank 0's alone
                dist.all_reduce(loss_sum)
                loss_sum /= world
            loss_value = loss_sum.item() / cfg.grad_accum  # .item() waits for the GPU
            tok_s = tokens_per_step * (step - t0_step) / (time.perf_counter() - t0)
            mfu = flops_per_token * tok_s / (peak * world) if peak else None
            norm_value = float(norm) if norm is not None else None
            log(
                {
                    "step": step,
                    "split": "train",
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": norm_value,
                    "tokens": tokens,
                    "tokens_per_s": tok_s,
                    "mfu": mfu,
                },
                f"step {step:6d} | loss {loss_value:.4f} | lr {lr:.2e}"
                + (f" | norm {norm_value:.2f}" if norm_value is not None else "")
                + f" | {tok_s:,.0f} tok/s"
                + (f" | mfu {100 * mfu:.1f}%" if mfu is not None else ""),
            )
            t0, t0_step = time.perf_counter(), step
        evaluated = step % cfg.eval_interval == 0 or step == cfg.steps
        saved = step % cfg.checkpoint_interval == 0 or step == cfg.steps
        if evaluated:
            run_eval(step)
        if saved:
            checkpoint(step)
        if evaluated or saved:  # keep eval and checkpoint time out of tokens/s
            t0, t0_step = time.perf_counter(), step

    log.close()
    if world > 1:
        dist.destroy_process_group()
    return log.records
