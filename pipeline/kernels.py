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

The tables the kernels read (a class or a form for every code point, built in Python from
``unicodedata`` and ``re``) are kept in the same folder (:func:`stored_table`), for the same
reason: built anew, they cost each Python worker of the quality stage 0.7 s before its first
document.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import typing
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.caching import CacheImpl, _CacheLocator, _SourceFileBackedLocatorMixin
from numba.extending import intrinsic

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


@intrinsic
def _prefetch(typingctx: Any, array: Any, row: Any, column: Any) -> Any:
    """Ask the CPU to bring ``array[row, column]``'s cache line in (LLVM's ``llvm.prefetch``,
    for reading, kept in every cache level); nothing else happens, so a kernel's results stay
    bit for bit what they were. Where a kernel reads rows of a large matrix in an order no
    hardware prefetcher can guess (a fastText model's rows by hashes), asking for the row a few
    steps ahead overlaps its wait for memory with the work on the rows before it."""
    if not (isinstance(array, types.Array) and array.ndim == 2):
        return None
    signature = types.void(array, types.intp, types.intp)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type, matrix = sig.args[0], args[0]
        view = context.make_array(array_type)(context, builder, matrix)
        at = cgutils.get_item_pointer(context, builder, array_type, view, [args[1], args[2]])
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        llvm_prefetch = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        )
        # read (0), most temporal locality (3), data cache (1)
        flags = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(llvm_prefetch, [builder.bitcast(at, byte), *flags])
        return context.get_dummy_value()

    return signature, codegen


# As kernels call it (numba passes the typing context itself).
prefetch = typing.cast(Callable[[np.ndarray, int, int], None], _prefetch)

Table = TypeVar("Table")
# What a stored table also depends on besides the sources: the interpreter, whose ``unicodedata``
# and ``re`` the tables are computed from (a minor version may bring a new Unicode version).
_TABLE_TAG = f"{sys.implementation.cache_tag}-unicode{unicodedata.unidata_version}"


# Every stored table of the modules imported so far, for what loads them all ahead of use
# (pipeline/spark_daemon.py).
STORED_TABLES: list[Callable[[], Any]] = []


def stored_table(build: Callable[[], Table]) -> Callable[[], Table]:
    """``build`` (no arguments; an array, or a tuple or named tuple of arrays), computed once
    per content of the sources and per interpreter rather than once per process, and kept in
    memory once loaded.

    The per-code-point tables are Python loops over 0x30000 to 0x110000 characters (0.05-0.2 s
    each), which every Python worker paid before its first document: a new process's first
    quality document took 1.19 s with them built, 0.52 s with them loaded, and every executor
    core of a cluster pays it again for each stage. Stored in :func:`cache_folder` (named by
    the sources' digest, so a change to any source builds them anew), they load in
    milliseconds. Where there is no such folder, or the file cannot be read or written, the
    table is built as before; a file is written whole under another name and then renamed, so
    a reader never sees half of one."""

    @functools.cache
    @functools.wraps(build)
    def table() -> Table:
        folder = cache_folder()
        path = None if folder is None else folder / "tables" / f"{_qualified(build)}.npz"
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
                return _packed(build, arrays)
            except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # damaged: built and written again
        value = build()
        if path is not None:
            _store(path, value)
        return value

    STORED_TABLES.append(table)
    return table


def _qualified(build: Callable[..., Any]) -> str:
    return f"{build.__module__}.{build.__qualname__}-{_TABLE_TAG}"


def _packed(build: Callable[..., Any], arrays: list[np.ndarray]) -> Any:
    """The arrays as ``build``'s return type says: one array, a tuple or a named tuple."""
    kind = typing.get_type_hints(build)["return"]
    if kind is np.ndarray:
        (array,) = arrays
        return array
    if typing.get_origin(kind) is tuple:
        return tuple(arrays)
    return kind(*arrays)


def _store(path: Path, value: Any) -> None:
    arrays = [value] if isinstance(value, np.ndarray) else list(value)
    partial = path.with_name(f".{path.stem}-{os.getpid()}.npz")
    try:
        path.parent.mkdir(exist_ok=True)
        np.savez(partial, *arrays)
        os.replace(partial, path)
    except OSError:  # a full or read-only disk: the table is still this process's
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
