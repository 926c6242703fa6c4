"""A live progress line while a stage runs, on a terminal: Spark's tasks done out of those
started, the elapsed time and, once tasks finish, an estimate of the time left.

Spark's own console progress bar is off (it interleaves with everything else and shows one
anonymous stage); this one names the gristmill stage and batch. It writes to stderr only when
stderr is a terminal, so logs and scheduled runs stay one line per stage.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from pyspark import SparkContext


def _line(label: str, sc: SparkContext, started: float) -> str:
    tracker = sc.statusTracker()
    done = total = 0
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            done += info.numCompletedTasks
            total += info.numTasks
    elapsed = time.monotonic() - started
    line = f"{label}: {elapsed:.0f} s"
    if total:
        line += f", tasks {done}/{total}"
        if done:
            line += f", stage ETA {elapsed / done * (total - done):.0f} s"
    return line


@contextmanager
def progress(sc: SparkContext, label: str, stream: TextIO = sys.stderr) -> Iterator[None]:
    """Show ``label``'s progress every second while the block runs (on a terminal only); the
    block's Spark jobs carry ``label`` as their job group, which Spark's UI and REST API show."""
    sc.setJobGroup(label, f"gristmill {label}")
    if not stream.isatty():
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def show() -> None:
        while not stop.wait(1.0):
            stream.write("\r\033[K" + _line(label, sc, started))
            stream.flush()

    thread = threading.Thread(target=show, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        stream.write("\r\033[K")
        stream.flush()
