"""Timing helpers: best of a few repeats on one core, so figures are per core and less noisy."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path


def best_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, result: dict) -> int:
    """Write a bench module's result to bench/results/<name>.json and print it."""
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    (out / f"{name}.json").write_text(text)
    print(text, end="")
    return 0
