"""The numba kernels' decorator, and where their compiled code is cached.

numba's own cache keeps a kernel's machine code beside its source file and checks it against that
file's content alone. Two things follow that gristmill cannot live with:

- every copy of the sources compiles every kernel again: an installed wheel, the folder each
  cluster executor extracts the ``--py-files`` zip into, a fresh checkout; on 2 cores that is
  about 40 s of a first run (the quality signals alone 23 s), in every Python worker;
- a kernel that calls a kernel of another file keeps its stale code when only that other file
  changes (numba documents it as a limitation of its cache).

Here the kernels of ``pipeline/`` and ``filters/`` are cached in one folder named by the digest
of all those two folders' sources, in ``$NUMBA_CACHE_DIR`` if set, else in gristmill's user
cache: any copy of the same sources finds the code compiled once, and a change to any of them
compiles everything anew. A folder unused for a month is removed. Where the cache cannot be a
folder private to this user (machine code is loaded from it), numba's own places serve, as
before.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numba
from numba.core.caching import CacheImpl, _CacheLocator, _SourceFileBackedLocatorMixin

import gristmill
from gristmill import filters, pipeline

# The folders whose kernels share the cache; what a kernel calls or reads is in one of them.
PACKAGES = {Path(p.__path__[0]).resolve(): p.__name__.rsplit(".")[-1] for p in (pipeline, filters)}


def digest_of(packages: dict[Path, str]) -> str:
    """SHA-256 of every ``.py`` file of the ``packages`` folders (folder: package name), by
    package, name and content."""
    digest = hashlib.sha256()
    for folder, name in sorted(packages.items(), key=lambda kv: kv[1]):
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{name}/{path.name}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def sources_digest() -> str:
    return digest_of(PACKAGES)


def cache_root() -> Path:
    return Path(os.environ.get("NUMBA_CACHE_DIR") or gristmill.cache_home() / "numba")


@functools.cache
def cache_folder() -> Path | None:
    """This digest's folder (other digests' folders unused for a month removed), or None where
    the cache root is not a private folder of this user."""
    root = cache_root()
    if not all(folder.is_dir() for folder in PACKAGES):  # imported from a zip: numba's places
        return None
    try:
        if not gristmill.private_folder(root):
            return None
        current = root / sources_digest()
        current.mkdir(exist_ok=True)
        gristmill.prune_stale(root, current)
    except OSError:
        return None
    return current


class SharedSourcesLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """numba's cache locator for gristmill's kernels: :func:`cache_folder`, one subfolder per
    package, and the digest of all the sources as every kernel's source stamp."""

    def __init__(self, py_func: Callable[..., Any], py_file: str, folder: Path) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(folder / PACKAGES[Path(py_file).resolve().parent])

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return sources_digest()

    @classmethod
    def from_function(
        cls, py_func: Callable[..., Any], py_file: str
    ) -> SharedSourcesLocator | None:
        folder = cache_folder()
        source = Path(py_file)
        if folder is None or not source.is_file() or source.resolve().parent not in PACKAGES:
            return None
        locator = cls(py_func, py_file, folder)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


# numba tries its locators in this order (numba is pinned: the list is not public API).
_LOCATORS: list[Any] = CacheImpl._locator_classes
if SharedSourcesLocator not in _LOCATORS:
    _LOCATORS.insert(0, SharedSourcesLocator)


def njit(
    function: Callable[..., Any] | None = None, *, inline: Literal["never", "always"] = "never"
) -> Any:
    """``numba.njit``, cached as above: ``@njit`` or ``@njit(inline="always")``."""
    decorate = numba.njit(cache=True, inline=inline)
    return decorate if function is None else decorate(function)
