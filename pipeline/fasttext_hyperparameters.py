"""fastText's supervised-training options, apart from fastText itself: the command line reads
their defaults without loading the library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hyperparameters:
    """fastText's supervised options, with defaults that score well on the shared reference data.

    Word bigrams capture the phrasing that tells edited prose from boilerplate; minCount 3 keeps
    one-off tokens (typos, ids, URLs), the bulk of a crawl's vocabulary, out of the model; the
    200,000 n-gram buckets (fastText's default is 2,000,000) keep the model file near 100 MB
    instead of 800 MB at dim 100 (size = (words + buckets) x dim x 4 bytes). One thread makes
    training deterministic; fastText's lock-free SGD with more threads is not (measured here).
    """

    lr: float = 0.3
    epoch: int = 10
    dim: int = 100
    word_ngrams: int = 2
    min_count: int = 3
    bucket: int = 200_000
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("epoch", "dim", "word_ngrams", "min_count", "bucket", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def fasttext_args(self) -> dict[str, Any]:
        """The keyword arguments of ``fasttext.train_supervised``, in fastText's names."""
        return {
            "lr": self.lr,
            "epoch": self.epoch,
            "dim": self.dim,
            "wordNgrams": self.word_ngrams,
            "minCount": self.min_count,
            "bucket": self.bucket,
            "thread": self.threads,
            "seed": self.seed,
            "loss": "softmax",
        }
