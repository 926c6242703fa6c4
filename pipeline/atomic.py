"""Files that appear whole or not at all.

A file is written under a temporary name beside its target, flushed to disk, renamed over the
target, and the rename itself made durable (it lives in the directory, not in the file). A
reader, a run killed mid-write, or a machine that lost power sees the old file or the new one,
never part of one: a rename alone can leave an empty file after a power loss on some filesystems,
and an empty ``ledger.json`` would stop every later run of an output. Files the Spark executors
write (stage tables, key-index runs) are as durable as the filesystem Spark writes them to makes
them; these are the driver's and the shard writer's.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A read-write temp file next to ``path`` that replaces it only if the block succeeds.

    Created with ``open(..., "x")`` rather than ``mkstemp`` so the final file gets the usual
    umask-based permissions instead of 0600; named afresh by each writer, so two never share it.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """``path`` holds ``data``, whole, or what it held before."""
    with atomic_file(path) as f:
        f.write(data)
