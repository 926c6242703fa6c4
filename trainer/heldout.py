"""Held-out evaluation sets: text the trainer scores whole at every evaluation, the same windows
every time, so two runs on different data compare on the same yardstick.

A set is a file the user names: reference text (``.txt``, optionally ``.gz``: each non-blank line
a document, as WikiText holds one paragraph or heading a line) or a benchmark file in any layout
decontamination reads (JSONL, JSON, CSV/TSV: each example's text fields, joined by newlines, a
document). The documents are tokenized with the run's tokenizer as one stream,
``EOT doc1 EOT doc2 ... EOT``, cut into consecutive windows of the model's context length; every
token after the first is a target exactly once. Two figures come out:

- loss per token: the mean cross-entropy (nats) over those targets;
- bits per byte: the same sum in bits over the UTF-8 bytes of the documents, which does not depend
  on the tokenizer (Gao et al. 2020, The Pile), so runs with different tokenizers compare.

The predicted EOTs (where a document ends) are scored like any token and carry no bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tiktoken

from gristmill.pipeline.benchmarks import benchmark_name, read_benchmark
from gristmill.pipeline.tokenizer import encode_documents, eot_token, load_encoding


@dataclass(frozen=True)
class HeldOut:
    name: str
    path: Path
    stream: np.ndarray  # int64: EOT doc1 EOT doc2 ... EOT
    bytes: int  # UTF-8 bytes of the documents scored
    documents: int

    def windows(self, block_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(inputs, targets) per window of at most ``block_size`` targets, in order."""
        out = []
        for start in range(0, len(self.stream) - 1, block_size):
            chunk = self.stream[start : start + block_size + 1]
            out.append((chunk[:-1], chunk[1:]))
        return out

    def figures(self, nats: float, targets: int) -> dict[str, float]:
        """Loss per token and bits per byte from the summed cross-entropy over every target."""
        return {
            "loss": nats / targets,
            "bpb": nats / math.log(2) / self.bytes if self.bytes else math.nan,
        }


def documents(path: Path) -> list[str]:
    """A set's documents: a benchmark's examples, each its text fields joined by newlines (a text
    file's examples are its non-blank lines)."""
    return ["\n".join(e.texts) for e in read_benchmark(path).examples if e.texts]


# Documents encoded at a time: a set cut to max_tokens is encoded only as far as it is read.
ENCODE_BLOCK = 256


def _encoded(enc: tiktoken.Encoding, docs: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    for start in range(0, len(docs), ENCODE_BLOCK):
        block = docs[start : start + ENCODE_BLOCK]
        yield from zip(block, encode_documents(enc, block), strict=True)


def load_heldout(path: Path | str, tokenizer: str, max_tokens: int | None = None) -> HeldOut:
    """The set at ``path`` tokenized for a run; with ``max_tokens``, its documents in file order
    up to that many tokens (whole documents, at least one), so an evaluation's cost is bounded
    and the same for every run."""
    path = Path(path)
    docs = documents(path)
    if not docs:
        raise ValueError(f"{path}: no text to evaluate on")
    enc = load_encoding(tokenizer)
    eot = eot_token(enc)
    pieces: list[np.ndarray] = [np.array([eot], np.int64)]
    kept_bytes = total = kept = 0
    for doc, ids in _encoded(enc, docs):
        if max_tokens is not None and kept and total + len(ids) + 1 > max_tokens:
            break
        pieces += [ids.astype(np.int64), np.array([eot], np.int64)]
        total += len(ids) + 1
        kept_bytes += len(doc.encode("utf-8"))
        kept += 1
    return HeldOut(benchmark_name(path), path, np.concatenate(pieces), kept_bytes, kept)
