"""Where WARC bytes come from: local files, directories, globs, http(s) URLs and Common Crawl
``warc.paths.gz`` manifests.

The driver resolves the user's ``--input`` specs into a sorted list of concrete input URIs (one
Spark task each); an executor opens one with :func:`open_input`. URLs are streamed, never
downloaded whole, so a 1 GB Common Crawl file costs the executor a read buffer, not a disk copy.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import urllib.request
from pathlib import Path
from typing import BinaryIO

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet.gz")
MANIFEST_SUFFIXES = ("paths.gz", ".paths")
HTTP_TIMEOUT_S = 60


class InputError(ValueError):
    """An --input spec that names nothing readable."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _is_manifest(spec: str) -> bool:
    return spec.endswith(MANIFEST_SUFFIXES)


def _is_warc(path: str) -> bool:
    return path.endswith(WARC_SUFFIXES)


def _manifest_lines(spec: str) -> list[str]:
    with open_input(spec) as raw:
        data = raw.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def resolve_inputs(specs: list[str], cc_base_url: str, max_files: int | None = None) -> list[str]:
    """Expand input specs into concrete WARC URIs, sorted and without repeats.

    A directory contributes its WARC/WET files (recursively); a glob its matches; a manifest the
    lines it lists, each prefixed with ``cc_base_url`` unless it is already a URL or absolute path.
    Sorting makes the task list, and so the run, independent of the order specs were given in.
    """
    found: set[str] = set()
    for spec in specs:
        if _is_manifest(spec):
            for line in _manifest_lines(spec):
                absolute = is_url(line) or line.startswith("/")
                found.add(line if absolute else cc_base_url.rstrip("/") + "/" + line)
        elif is_url(spec):
            found.add(spec)
        elif os.path.isdir(spec):
            for root, _dirs, files in os.walk(spec):
                found.update(os.path.abspath(os.path.join(root, f)) for f in files if _is_warc(f))
        elif any(ch in spec for ch in "*?["):
            matches = [os.path.abspath(p) for p in glob.glob(spec, recursive=True)]
            if not matches:
                raise InputError(f"input glob matches no file: {spec}")
            found.update(p for p in matches if os.path.isfile(p))
        elif os.path.isfile(spec):
            found.add(os.path.abspath(spec))
        else:
            raise InputError(f"input not found: {spec}")
    if not found:
        raise InputError(f"no WARC or WET files in inputs: {' '.join(specs)}")
    ordered = sorted(found)
    return ordered[:max_files] if max_files else ordered


class ForwardStream(io.RawIOBase):
    """A network stream that can report its position and seek forward by reading.

    FastWARC asks Python streams for ``tell``/``seek`` and panics on an unseekable one; a WARC is
    read front to back, so forward seeks (and seeks to the current position) are all it needs.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer) or 0
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset}.get(whence)
        if target is None or target < self._pos:
            raise io.UnsupportedOperation("a network input can only seek forward")
        while self._pos < target:
            chunk = self._raw.read(min(1 << 20, target - self._pos))
            if not chunk:
                break
            self._pos += len(chunk)
        return self._pos

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_input(uri: str) -> BinaryIO:
    """Open an input for streaming reads; raises OSError (or urllib's subclasses) on failure."""
    if is_url(uri):
        request = urllib.request.Request(uri, headers={"User-Agent": "gristmill"})
        response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
        return io.BufferedReader(ForwardStream(response), buffer_size=1 << 20)
    return Path(uri.removeprefix("file://")).open("rb")


def display_name(uri: str) -> str:
    """The file name of an input, for reports and the card."""
    return uri.rstrip("/").rsplit("/", 1)[-1]
