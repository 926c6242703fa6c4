"""http(s) inputs and Common Crawl path manifests, served from a loopback HTTP server."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading

import pytest

from gristmill.jobs.ingest import run_ingest
from gristmill.pipeline.config import Config
from gristmill.pipeline.inputs import resolve_inputs
from gristmill.pipeline.remote import describe_remote

FILES = ("CC-MAIN-2020-34.resiliparse-excerpt.warc.gz", "noncc.dolma-wget-sample-0000.warc.gz")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(shared_data):
    handler = functools.partial(_QuietHandler, directory=str(shared_data / "warc"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_inputs_stream_like_local_files(spark, shared_data, server, tmp_path):
    cfg = Config()
    urls = [f"{server}/{name}" for name in FILES] + [f"{server}/missing.warc.gz"]
    stats, _ = run_ingest(spark, resolve_inputs(urls, cfg.ingest.cc_base_url), tmp_path / "h", cfg)
    local, _ = run_ingest(
        spark,
        resolve_inputs([str(shared_data / "warc" / n) for n in FILES], cfg.ingest.cc_base_url),
        tmp_path / "l",
        cfg,
    )
    assert (stats["in"], stats["out"], stats["dropped"]) == (
        local["in"],
        local["out"],
        local["dropped"],
    )
    assert stats["in"] == 16 + 22
    (failed,) = stats["failed_inputs"]
    assert failed["path"].endswith("missing.warc.gz")
    assert "404" in failed["error"]
    h = spark.read.parquet(str(tmp_path / "h" / "stages" / "ingest")).select("doc_id", "text")
    lo = spark.read.parquet(str(tmp_path / "l" / "stages" / "ingest")).select("doc_id", "text")
    assert h.exceptAll(lo).count() == 0 and lo.exceptAll(h).count() == 0


def test_cc_paths_manifest_is_prefixed_with_the_base_url(spark, server, tmp_path):
    manifest = tmp_path / "warc.paths.gz"
    manifest.write_bytes(gzip.compress("\n".join(FILES).encode() + b"\n"))
    uris = resolve_inputs([str(manifest)], cc_base_url=server + "/")
    assert uris == sorted(f"{server}/{n}" for n in FILES)
    assert resolve_inputs([str(manifest)], server, max_files=1) == [f"{server}/{FILES[0]}"]
    stats, _ = run_ingest(spark, uris, tmp_path / "m", Config())
    assert stats["in"] == 38 and stats["failed_inputs"] == []


def test_http_inputs_are_described_without_reading_them(shared_data, server):
    """The ledger's (size, checksum) of an http input comes from a HEAD request."""
    policy = Config().ingest.network
    size, _checksum = describe_remote(f"{server}/{FILES[0]}", policy)
    assert size == (shared_data / "warc" / FILES[0]).stat().st_size
    assert describe_remote(f"{server}/missing.warc.gz", policy) == (None, None)
