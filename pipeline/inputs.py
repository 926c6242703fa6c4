"""Where WARC bytes come from: local files, directories, globs, http(s) and s3 URLs and Common
Crawl ``warc.paths.gz`` manifests.

The driver resolves the user's ``--input`` specs into a sorted list of concrete input URIs (one
Spark task each); an executor opens one with :func:`open_input`. URLs are streamed, never
downloaded whole, so a 1 GB Common Crawl file costs the executor a read buffer, not a disk copy.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
from pathlib import Path

from gristmill.pipeline.errors import UsageError
from gristmill.pipeline.remote import (
    RangeSource,
    ResumableStream,
    RetryPolicy,
    is_s3,
    source_for,
)

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet.gz")
MANIFEST_SUFFIXES = ("paths.gz", ".paths")


class InputError(UsageError):
    """An --input spec that names nothing readable."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def is_remote(spec: str) -> bool:
    return is_url(spec) or is_s3(spec)


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
                absolute = is_remote(line) or line.startswith("/")
                found.add(line if absolute else cc_base_url.rstrip("/") + "/" + line)
        elif is_remote(spec):
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


def open_input(
    uri: str,
    policy: RetryPolicy | None = None,
    size: int | None = None,
    start: int = 0,
    source: RangeSource | None = None,
) -> io.BufferedReader:
    """Open an input for streaming reads, from byte ``start`` (a remote one is requested from
    there, not read up to it; ``source``: an earlier stream's, to read the same bytes).

    A URL is read through :class:`~gristmill.pipeline.remote.ResumableStream`: transient failures
    are retried and a broken transfer resumes at the byte it reached. ``size``, the length the
    ledger recorded when the input was planned, lets a body that ends early be told from a whole
    one even when the server's own Content-Length is wrong. Raises
    :class:`~gristmill.pipeline.remote.NetworkError` when the network keeps failing, other
    OSErrors when the input cannot be read at all.
    """
    policy = policy or RetryPolicy()
    if is_remote(uri):
        stream = ResumableStream(source or source_for(uri, policy), policy, size, start)
        return io.BufferedReader(stream, buffer_size=1 << 20)
    handle = Path(uri.removeprefix("file://")).open("rb")  # noqa: SIM115 (the caller closes it)
    handle.seek(start)
    return handle


def display_name(uri: str) -> str:
    """The file name of an input, for reports and the card."""
    return uri.rstrip("/").rsplit("/", 1)[-1]
