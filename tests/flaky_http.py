"""A real HTTP server on 127.0.0.1 that fails the way Common Crawl's front does under load.

Each GET of a file follows a script, per path and request number: answer ``503 Slow Down``, ``429``
with Retry-After, cut the connection mid-body (a TCP reset), send a short body (a clean close
before Content-Length bytes), or serve. Ranges (``bytes=N-``), HEAD and ETags are served as a
real server does, so a client can resume where a transfer broke.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

OK, SLOW_DOWN, TOO_MANY, CUT, SHORT = "ok", "503", "429", "cut", "short"
WHOLE = "whole"  # the whole file with a 200, Range or not: a server that serves no ranges
# The default script: two 503s, a 429, a cut connection, a short body, then the whole file.
SCRIPT = (SLOW_DOWN, SLOW_DOWN, TOO_MANY, CUT, SHORT)

Plan = Callable[[str, int], str]


def scripted(script: tuple[str, ...] = SCRIPT, down: frozenset[str] = frozenset()) -> Plan:
    """Request k of a path gets ``script[k]`` (then OK); paths in ``down`` always get 503."""

    def plan(name: str, k: int) -> str:
        if name in down:
            return SLOW_DOWN
        return script[k] if k < len(script) else OK

    return plan


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    def __init__(self, *args, root: Path, state: FlakyServer, **kwargs) -> None:
        self.root, self.state = root, state
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def _file(self) -> Path | None:
        path = (self.root / self.path.lstrip("/")).resolve()
        return path if path.is_file() and self.root.resolve() in path.parents else None

    def _etag(self, path: Path) -> str:
        stat = path.stat()
        return '"' + hashlib.sha1(f"{path}:{stat.st_size}".encode()).hexdigest()[:16] + '"'

    def do_HEAD(self) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("ETag", self._etag(path))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        action = self.state.next_action(path.name)
        if action == SLOW_DOWN:
            self.send_error(503, "Slow Down")
            return
        if action == TOO_MANY:
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-") and action != WHOLE:
            start = int(ranged[len("bytes=") : -1])
        if start >= len(data):
            self.send_error(416)
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", self._etag(path))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if action in (OK, WHOLE):
            self.wfile.write(body)
            self.state.served[path.name] += len(body)
            return
        part = body[: max(1, len(body) // 3)]
        self.wfile.write(part)
        self.wfile.flush()
        self.state.served[path.name] += len(part)
        if action == CUT:  # a reset, as when a load balancer drops the connection
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class FlakyServer:
    """Serves ``root``; ``plan(file name, request number)`` says what each GET gets."""

    def __init__(self, root: Path, plan: Plan) -> None:
        self.plan = plan
        self.requests: Counter[str] = Counter()
        self.served: Counter[str] = Counter()  # body bytes sent per file, failures included
        self._lock = threading.Lock()
        handler = functools.partial(FlakyHandler, root=root, state=self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def next_action(self, name: str) -> str:
        with self._lock:
            k = self.requests[name]
            self.requests[name] += 1
        return self.plan(name, k)


@contextmanager
def flaky_server(root: Path, plan: Plan) -> Iterator[FlakyServer]:
    server = FlakyServer(root, plan)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
