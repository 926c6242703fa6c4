"""The numba kernels' cache (pipeline/kernels.py): one per content of the kernel sources, found
by every copy of them, and remade when any of them changes; and the tables kept beside it."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from gristmill.filters import nfkc, words
from gristmill.pipeline import kernels, lm_text, ngrams

CALL = (
    "import json\n"
    "from gristmill.pipeline import byte_hash\n"
    "byte_hash.line_hashes(b'one\\ntwo\\n')\n"
    "stats = byte_hash._line_hashes.stats\n"
    "print(json.dumps([stats.cache_path, stats.cache_hits and sum(stats.cache_hits.values()),\n"
    "                  stats.cache_misses and sum(stats.cache_misses.values())]))\n"
)


def call_kernel(cache: Path) -> tuple[str, int, int]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", CALL], env=env, capture_output=True, text=True, check=True
    )
    path, hits, misses = json.loads(done.stdout.splitlines()[-1])
    return path, hits or 0, misses or 0


def test_a_kernel_is_compiled_once_into_the_folder_of_its_sources_digest(tmp_path):
    cache = tmp_path / "numba"
    path, hits, misses = call_kernel(cache)
    assert Path(path) == cache / kernels.sources_digest() / "pipeline"
    assert (hits, misses) == (0, 1)
    assert list(Path(path).glob("byte_hash._line_hashes-*.nbi"))
    assert call_kernel(cache) == (path, 1, 0)


def test_the_digest_is_of_every_source_and_nothing_else(tmp_path):
    copies = {}
    for folder, name in kernels.PACKAGES.items():
        copies[tmp_path / name] = name
        shutil.copytree(folder, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    # Another copy of the same sources shares the folder; other files change nothing.
    assert kernels.digest_of(copies) == kernels.sources_digest()
    (tmp_path / "filters" / "notes.txt").write_text("not a source")
    assert kernels.digest_of(copies) == kernels.sources_digest()
    # A change to one source (one that other kernels call) is a new folder for every kernel.
    words = tmp_path / "filters" / "words.py"
    words.write_text(words.read_text() + "\n")
    assert kernels.digest_of(copies) != kernels.sources_digest()


# Every table kept beside the kernels (pipeline/kernels.py's stored_table), the modules that
# define them imported above.
STORED_TABLES = kernels.STORED_TABLES


def _arrays(value: object) -> list[np.ndarray]:
    return [value] if isinstance(value, np.ndarray) else list(value)  # type: ignore[call-overload]


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and all(
        x.dtype == y.dtype and np.array_equal(x, y)
        for x, y in zip(_arrays(a), _arrays(b), strict=True)
    )


def _stored(table: object) -> Path:
    build = inspect.unwrap(table)  # type: ignore[arg-type]
    folder = kernels.cache_folder()
    assert folder is not None, "the kernels' cache must be a private folder here"
    return folder / "tables" / f"{kernels._qualified(build)}.npz"


def test_a_stored_table_loads_as_what_its_build_returns():
    assert words.char_classes in STORED_TABLES and lm_text._tables in STORED_TABLES
    assert {inspect.unwrap(t).__module__ for t in STORED_TABLES} >= {
        m.__name__ for m in (words, nfkc, lm_text, ngrams)
    }
    for table in STORED_TABLES:
        table()
        assert _stored(table).is_file()
        # The function under the in-memory cache reads the file; the build computes anew.
        assert _same(table.__wrapped__(), inspect.unwrap(table)())  # type: ignore[attr-defined]


def test_a_damaged_stored_table_is_built_and_written_again():
    path = _stored(words.char_classes)
    words.char_classes()
    path.write_bytes(path.read_bytes()[:1000])  # cut, as a full disk once might have left it
    loaded = words.char_classes.__wrapped__()  # type: ignore[attr-defined]
    assert _same(loaded, inspect.unwrap(words.char_classes)())
    with np.load(path, allow_pickle=False) as stored:  # whole again
        assert np.array_equal(stored["arr_0"], loaded)
