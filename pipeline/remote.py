"""Reading remote inputs (http(s)://, s3://) so that a flaky network costs time, never data.

Common Crawl's HTTP front answers ``503 Slow Down`` under load and drops connections part-way
through 1 GB files. :class:`ResumableStream` hides both from the WARC reader: a request that fails
with a transient error (5xx, 429, a timeout, a reset or refused connection, a body shorter than
its length) is retried with exponential backoff and jitter, and a stream that breaks after some
bytes is reopened from the byte it had reached (an HTTP ``Range`` request, or a ranged S3 read),
so the reader sees every byte exactly once. A read that still fails after
``network.max_retries`` tries without progress raises :class:`NetworkError`, which the ingest
stage treats as "try this file again next run", unlike damaged data.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.client
import io
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from logging import Logger
from typing import Any, Protocol, TypeVar

from gristmill.pipeline.config_checks import check
from gristmill.pipeline.errors import InputFileError, RetryableError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "gristmill (+https://github.com/gristmill)"


class NetworkError(RetryableError):
    """A remote read that failed for a reason that may go away: retried here, then deferred to
    the next run by the ledger."""


class PermanentInputError(InputFileError):
    """A remote input that will not read however often it is tried (404, 403, changed bytes)."""


@dataclass(frozen=True)
class RetryPolicy:
    """The config's ``ingest.network`` section: how hard a read tries, how many runs an input
    gets, and where s3:// objects live. None of it changes what a successful read returns, so it
    is left out of the config digest."""

    # Tries of one request after the first, without a byte of progress in between.
    max_retries: int = 8
    # Backoff before retry k: min(backoff_max_s, backoff_initial_s * 2**k), half of it jittered.
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    # Seconds without an answer (or a byte) before a request counts as failed.
    timeout_s: float = 60.0
    # Runs in which an input may fail with a network error before the ledger gives it up (it is
    # then reported by name in the dataset card and not planned again).
    max_attempts: int = 3
    # Inputs described at once while a batch is planned (a HEAD request for a remote input's
    # size and ETag, a stat for a local one): each waits on the network, not on the driver's
    # cores, so their number is the network's to set. At 0.1 s a request, a whole crawl's
    # 80,000 files take 4 minutes at 32 (17 at the 8 that 4 per core of a 2-core driver gave).
    concurrent_requests: int = 32
    # s3:// inputs: an S3-compatible endpoint (``http://host:port``; default AWS's own), its
    # region, and whether to send unsigned requests. Credentials come from the usual AWS
    # variables and files.
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_anonymous: bool = False

    def __post_init__(self) -> None:
        check(self.max_retries >= 0, "ingest.network.max_retries", "must be >= 0")
        check(self.backoff_initial_s >= 0, "ingest.network.backoff_initial_s", "must be >= 0")
        check(
            self.backoff_max_s >= self.backoff_initial_s,
            "ingest.network.backoff_max_s",
            "must be >= backoff_initial_s",
        )
        check(self.timeout_s > 0, "ingest.network.timeout_s", "must be > 0")
        check(self.max_attempts >= 1, "ingest.network.max_attempts", "must be >= 1")
        check(self.concurrent_requests >= 1, "ingest.network.concurrent_requests", "must be >= 1")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with "equal jitter": half the step fixed, half random, so many
        tasks that failed together do not return together (and never sooner than Retry-After)."""
        step = min(self.backoff_max_s, self.backoff_initial_s * 2**attempt)
        wait = step / 2 + random.uniform(0, step / 2)
        return max(wait, min(retry_after or 0.0, self.backoff_max_s))


# What a network file system answers for a while and then no longer: a server lost or failing
# over (EIO, a stale handle), a timeout, a dropped connection. Any other error (a file removed,
# a permission) is no passing state.
TRANSIENT_ERRNOS = frozenset(
    {errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.EAGAIN, errno.EBUSY, errno.ENETDOWN}
    | {errno.ENETUNREACH, errno.ENETRESET, errno.ECONNRESET, errno.ECONNABORTED}
    | {errno.ECONNREFUSED, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ENOLINK, errno.ECOMM}
    | {errno.EREMOTEIO}
)
# A file read that fails so is tried again from its open, ten times, after a backoff from 0.1 s
# doubling up to 30 s (40-81 s in all with the jitter, as long as a server's failover takes).
FILE_RETRIES = RetryPolicy(max_retries=10, backoff_initial_s=0.1, backoff_max_s=30.0)
T = TypeVar("T")


def retried_read(read: Callable[[], T], name: str, policy: RetryPolicy, log: Logger) -> T:
    """``read()``, tried again on a passing error of the file system (:data:`TRANSIENT_ERRNOS`)
    with ``policy``'s backoff and a warning each time; one that outlasts the retries says how
    many tries it had."""
    attempt = 0
    while True:
        try:
            return read()
        except OSError as exc:
            if exc.errno not in TRANSIENT_ERRNOS:
                raise
            if attempt == policy.max_retries:
                tries = f"{exc.strerror}, {attempt + 1} tries"
                raise OSError(exc.errno, tries, exc.filename) from exc
            delay = policy.delay(attempt)
            attempt += 1
            log.warning("%s: %s; read again in %.1f s (try %d)", name, exc, delay, attempt + 1)
            time.sleep(delay)


class ByteStream(Protocol):
    """What a source's open body must do: fill a buffer, and close."""

    def readinto(self, buffer: Any) -> int | None: ...

    def close(self) -> None: ...


class RangeSource(Protocol):
    """A remote object that can be opened at a byte offset."""

    name: str

    def open_at(self, offset: int, timeout: float) -> tuple[ByteStream, int | None]:
        """A stream of the object's bytes from ``offset``, and the object's total size if known.
        Raises NetworkError (transient) or PermanentInputError."""
        ...

    def describe(self, timeout: float) -> tuple[int | None, str | None]:
        """(size, checksum) without reading the body: for the ledger."""
        ...


def _transient(exc: BaseException) -> bool:
    return isinstance(
        exc,
        NetworkError | TimeoutError | ConnectionError | socket.timeout | http.client.HTTPException,
    ) or (isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError))


class ResumableStream(io.RawIOBase):
    """Forward-only reads of a :class:`RangeSource` that survive failures.

    FastWARC asks a Python stream for ``tell``/``seek`` and panics on an unseekable one; a WARC is
    read front to back, so forward seeks (by reading) are all it needs. ``error`` keeps the
    failure that ended the stream, since the reader above may wrap the exception it receives.
    """

    def __init__(
        self, source: RangeSource, policy: RetryPolicy, size: int | None = None, start: int = 0
    ) -> None:
        self._source = source
        self._policy = policy
        self._pos = start  # the first request asks for the object from here
        self._size = size  # known from the ledger, else learnt from the first response
        self._body: ByteStream | None = None
        self.error: BaseException | None = None

    @property
    def source(self) -> RangeSource:
        """The object read: a later stream of the same input reuses it, pinned to the bytes this
        one read (an HTTP source sends their ETag as If-Range)."""
        return self._source

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _open(self) -> ByteStream:
        body, size = self._source.open_at(self._pos, self._policy.timeout_s)
        if size is not None and self._size is None:
            self._size = size
        return body

    def _close_body(self) -> None:
        if self._body is not None:
            # A broken connection may fail to close; it is dropped either way.
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None

    def readinto(self, buffer) -> int:
        failures = 0
        while True:
            try:
                if self._body is None:
                    if self._size is not None and self._pos >= self._size:
                        return 0
                    self._body = self._open()
                n = self._body.readinto(buffer) or 0
                if n == 0 and len(buffer) and self._size is not None and self._pos < self._size:
                    raise NetworkError(
                        f"body ended at byte {self._pos} of {self._size} (connection closed early)"
                    )
            except PermanentInputError as exc:
                self.error = exc
                self._close_body()
                raise
            except Exception as exc:
                if not _transient(exc):
                    self.error = exc
                    raise
                self._close_body()
                if failures >= self._policy.max_retries:
                    self.error = NetworkError(
                        f"{self._source.name}: gave up at byte {self._pos} after "
                        f"{failures + 1} tries: {exc}"
                    )
                    raise self.error from exc
                time.sleep(self._policy.delay(failures, getattr(exc, "retry_after", None)))
                failures += 1
                continue
            self._pos += n
            return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset}.get(whence)
        if target is None or target < self._pos:
            raise io.UnsupportedOperation("a remote input can only seek forward")
        scratch = bytearray(1 << 20)
        while self._pos < target:
            view = memoryview(scratch)[: min(len(scratch), target - self._pos)]
            if not self.readinto(view):
                break
        return self._pos

    def close(self) -> None:
        self._close_body()
        super().close()


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff applies


def _total_size(response, offset: int) -> int | None:
    """The object's size from Content-Range (``bytes a-b/total``) or Content-Length."""
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


@dataclass
class HttpSource:
    """An http(s) URL read with ``Range`` requests; ``If-Range`` pins the bytes to the first
    response's ETag, so a file replaced mid-read is refused rather than spliced."""

    name: str
    etag: str | None = None

    def open_at(self, offset: int, timeout: float) -> tuple[ByteStream, int | None]:
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self.etag:
                headers["If-Range"] = self.etag
        request = urllib.request.Request(self.name, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in RETRYABLE_STATUS or exc.code >= 500:
                error = NetworkError(f"HTTP {exc.code} {exc.reason}")
                error.retry_after = _retry_after(exc.headers)  # type: ignore[attr-defined]
                raise error from None
            raise PermanentInputError(f"HTTP Error {exc.code}: {exc.reason}") from None
        etag = response.headers.get("ETag")
        if offset and response.status != 206:
            response.close()
            if self.etag and etag != self.etag:
                raise PermanentInputError(
                    f"{self.name} changed while it was read (ETag {self.etag} -> {etag})"
                )
            raise PermanentInputError(f"{self.name}: the server ignores Range requests")
        self.etag = self.etag or etag
        return response, _total_size(response, offset)

    def describe(self, timeout: float) -> tuple[int | None, str | None]:
        headers = {"User-Agent": USER_AGENT}
        request = urllib.request.Request(self.name, method="HEAD", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                size = response.headers.get("Content-Length")
                etag = response.headers.get("ETag")
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in RETRYABLE_STATUS or exc.code >= 500:
                raise NetworkError(f"HTTP {exc.code} {exc.reason}") from None
            return None, None  # reported when the read fails, with the reason
        return (int(size) if size and size.isdigit() else None), _etag_checksum(etag)


def _etag_checksum(etag: str | bytes | None) -> str | None:
    if isinstance(etag, bytes):
        etag = etag.decode("ascii", "replace")
    return f"etag:{etag.strip(chr(34))}" if etag else None


def is_s3(spec: str) -> bool:
    return spec.startswith("s3://")


@functools.cache
def _s3_filesystem(endpoint: str | None, region: str, anonymous: bool) -> Any:
    """One S3 client per process and settings (pyarrow's, already a dependency). Its own retries
    are off: :class:`ResumableStream` retries with resume, and two layers would multiply."""
    from pyarrow import fs

    options: dict[str, Any] = {"region": region, "anonymous": anonymous}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options.update(scheme=scheme, endpoint_override=host.rstrip("/"))
    options["retry_strategy"] = fs.AwsStandardS3RetryStrategy(max_attempts=1)
    return fs.S3FileSystem(**options)


class _TransientReads:
    """A pyarrow file whose read errors count as network failures (to be retried)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def readinto(self, buffer) -> int:
        try:
            return self._handle.readinto(buffer)
        except OSError as exc:
            raise NetworkError(str(exc)) from exc

    def close(self) -> None:
        self._handle.close()


@dataclass
class S3Source:
    """An s3://bucket/key object, read with ranged GETs through pyarrow's S3 filesystem."""

    name: str
    policy: RetryPolicy
    etag: str | None = None

    @property
    def _path(self) -> str:
        return self.name.removeprefix("s3://")

    def _filesystem(self) -> Any:
        p = self.policy
        return _s3_filesystem(p.s3_endpoint, p.s3_region, p.s3_anonymous)

    @staticmethod
    def _classify(exc: OSError) -> OSError:
        text = str(exc)
        if isinstance(exc, FileNotFoundError | PermissionError) or any(
            code in text for code in ("ACCESS_DENIED", "AccessDenied", "NoSuchBucket")
        ):
            return PermanentInputError(text)
        return NetworkError(text)

    def open_at(self, offset: int, timeout: float) -> tuple[ByteStream, int | None]:
        try:
            handle = self._filesystem().open_input_file(self._path)
            etag = _etag_checksum(handle.metadata().get("ETag"))
            if self.etag and etag and etag != self.etag:
                handle.close()
                raise PermanentInputError(f"{self.name} changed while it was read")
            self.etag = self.etag or etag
            handle.seek(offset)
            return _TransientReads(handle), handle.size()
        except PermanentInputError:
            raise
        except OSError as exc:
            raise self._classify(exc) from exc

    def describe(self, timeout: float) -> tuple[int | None, str | None]:
        try:
            with self._filesystem().open_input_file(self._path) as handle:
                return handle.size(), _etag_checksum(handle.metadata().get("ETag"))
        except OSError as exc:
            error = self._classify(exc)
            if isinstance(error, NetworkError):
                raise error from exc
            return None, None


def source_for(uri: str, policy: RetryPolicy) -> RangeSource:
    if is_s3(uri):
        return S3Source(uri, policy)
    return HttpSource(uri)


def describe_remote(uri: str, policy: RetryPolicy) -> tuple[int | None, str | None]:
    """(size, checksum) of a remote input, retried like a read; (None, None) if it stays out of
    reach (the read that follows reports why, or defers the input)."""
    source = source_for(uri, policy)
    for attempt in range(policy.max_retries + 1):
        try:
            return source.describe(policy.timeout_s)
        except Exception as exc:
            if not _transient(exc) or attempt == policy.max_retries:
                return None, None
            time.sleep(policy.delay(attempt))
    return None, None
