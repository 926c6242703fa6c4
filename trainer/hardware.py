"""Each accelerator's own peak, for model FLOPs utilization (MFU = achieved / peak FLOP/s).

Dense bf16 tensor-core peaks from NVIDIA's datasheets (the sparse figures they print first are
twice these). A GPU not listed has no known peak: its MFU is not reported unless the run is
given one (``--peak-flops``), rather than measured against another chip's.
"""

from __future__ import annotations

import re

import torch

# (a name in torch.cuda.get_device_name(), dense bf16 FLOP/s); the first match wins, so the
# more specific names come first. A name matches as whole words ("NVIDIA L40" is no "L4", an
# "NVIDIA GH200 480GB" no "H200").
BF16_PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.4e12),
    ("H200", 989.4e12),  # H100 SXM's compute, more memory
    ("H100 PCIe", 756.5e12),
    ("H100 NVL", 835.5e12),
    ("H100", 989.4e12),  # SXM
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362.05e12),
    ("L40", 181.05e12),
    ("L4", 121e12),
)


def peak_for_name(name: str) -> float | None:
    """The dense bf16 peak FLOP/s of the GPU of this name, or None if it is not in the table."""
    return next(
        (flops for key, flops in BF16_PEAK_FLOPS if re.search(rf"(?<!\w){key}(?!\w)", name)),
        None,
    )


def peak_flops(device: torch.device) -> float | None:
    """The device's dense bf16 peak FLOP/s, or None (a CPU, or a GPU not in the table)."""
    if device.type != "cuda":
        return None
    return peak_for_name(torch.cuda.get_device_name(device))
