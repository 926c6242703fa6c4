"""Remote inputs over a network that fails: retried, resumed, set aside and planned again, never
lost. A real HTTP server on 127.0.0.1 answers 503 and 429, cuts connections mid-body and sends
short bodies; a real S3-compatible server (moto's server mode) serves s3:// inputs."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from gristmill.jobs import ingest
from gristmill.pipeline.config import Config, IngestConfig, config_from_dict
from gristmill.pipeline.documents import ingest_input
from gristmill.pipeline.inputs import open_input
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.remote import NetworkError, RetryPolicy
from tests.flaky_http import CUT, OK, SHORT, SLOW_DOWN, WHOLE, flaky_server, scripted
from tests.test_malformed_warc import build_corpus

FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 10}
PAGES = ("realpages-00004.warc.gz", "realpages-00010.warc.gz")


def records(rows) -> list[tuple]:
    return sorted((r["doc_id"], r["url"], r.get("text"), r["drop_reason"]) for r in rows)


def test_every_record_arrives_once_through_503s_cuts_and_short_bodies(shared_data):
    cfg = IngestConfig(network=RetryPolicy(**FAST))
    with flaky_server(shared_data / "warc", scripted()) as server:
        for name in PAGES:
            local = list(ingest_input(str(shared_data / "warc" / name), cfg))
            remote = list(ingest_input(f"{server.url}/{name}", cfg))
            assert records(remote) == records(local)
            assert all(r["doc_id"] for r in remote), "no error row: the file read whole"
            # The script was played: two 503s, a 429, a reset, a short body, then the rest; and
            # one request from the last record on, to check its gzip member is whole.
            assert server.requests[name] == 7
            # Resumed, not restarted: a restart after each break would send about 5/3 of it.
            size = (shared_data / "warc" / name).stat().st_size
            assert size <= server.served[name] < 1.5 * size


def test_a_resumed_stream_gives_exactly_the_file_bytes(shared_data):
    name = PAGES[0]
    plan = scripted((CUT, SHORT, CUT, SHORT, CUT, OK))
    with (
        flaky_server(shared_data / "warc", plan) as server,
        open_input(f"{server.url}/{name}", RetryPolicy(**FAST)) as stream,
    ):
        data = stream.read()
    assert data == (shared_data / "warc" / name).read_bytes()


def test_a_body_shorter_than_the_planned_size_is_resumed(shared_data):
    """A server whose Content-Length is itself short: the size the ledger planned with wins."""
    name = PAGES[1]
    full = (shared_data / "warc" / name).stat().st_size
    with (
        flaky_server(shared_data / "warc", scripted((SHORT, SHORT, OK))) as server,
        open_input(f"{server.url}/{name}", RetryPolicy(**FAST), size=full) as stream,
    ):
        assert len(stream.read()) == full


def test_a_server_that_stays_down_raises_a_network_error(shared_data):
    policy = RetryPolicy(**{**FAST, "max_retries": 3})
    down = scripted(down=frozenset({PAGES[0]}))
    with flaky_server(shared_data / "warc", down) as server:
        with pytest.raises(NetworkError, match="after 4 tries"):
            open_input(f"{server.url}/{PAGES[0]}", policy).read()
        assert server.requests[PAGES[0]] == 4
        rows = list(ingest_input(f"{server.url}/{PAGES[0]}", IngestConfig(network=policy)))
    (row,) = rows
    assert row["doc_id"] is None and row["input_retryable"] is True


def ingest_run(spark, uris, out, max_attempts: int) -> dict:
    """``gristmill ingest`` as a nightly job runs it: plan a batch of what is new or set aside."""
    cfg = config_from_dict(
        {"ingest": {"network": {**FAST, "max_retries": 5, "max_attempts": max_attempts}}}
    )
    return ingest.ingest_new(spark, out, cfg, ingest.resolve_uris(uris, cfg))


def test_a_file_that_fails_a_whole_run_is_ingested_by_the_next(spark, shared_data, tmp_path):
    out = tmp_path / "out"
    down: set[str] = {PAGES[1]}

    def plan(name: str, k: int) -> str:
        # The file that goes down sends a third of itself first: rows are read before it fails.
        if name in down:
            return SHORT if k == 0 else SLOW_DOWN
        return scripted()(name, k)

    with flaky_server(shared_data / "warc", plan) as server:
        cfg = IngestConfig(network=RetryPolicy(**FAST))
        *read, error = ingest_input(f"{server.url}/{PAGES[1]}", cfg)
        assert len(read) > 10 and all(r["doc_id"] for r in read) and error["input_retryable"]
    with flaky_server(shared_data / "warc", plan) as server:
        uris = [f"{server.url}/{n}" for n in PAGES]
        first = ingest_run(spark, uris, out, max_attempts=3)
        ledger = Ledger.load(out)
        assert [i["uri"] for i in ledger.inputs(1)] == [uris[0]]
        retry = ledger.retries[uris[1]]
        assert (retry["attempts"], retry["given_up"], retry["last_batch"]) == (1, False, 1)
        assert "503" in retry["last_error"]
        assert first["deferred_inputs"][0]["path"] == uris[1]
        assert first["failed_inputs"] == [] and first["input_files"] == 1
        # None of the set-aside file's records were kept in batch 1.
        table = pq.read_table(out / "stages" / "ingest").to_pylist()
        assert {r["input_file"] for r in table} == {uris[0]}
        # Its part is there and empty, though its task wrote the records it read.
        part = Layout(out).stage("ingest", 1) / "part-000001.parquet"
        assert pq.read_metadata(part).num_rows == 0

        down.clear()
        ingest_run(spark, uris, out, max_attempts=3)
    ledger = Ledger.load(out)
    assert [[i["uri"] for i in ledger.inputs(b)] for b in (1, 2)] == [[uris[0]], [uris[1]]]
    assert ledger.inputs(2)[0]["attempts"] == 2 and ledger.retries == {}
    # Every record of both files, each exactly once, as a local read gives them.
    table = pq.read_table(out / "stages" / "ingest").to_pylist()
    local = [r for n in PAGES for r in ingest_input(str(shared_data / "warc" / n), IngestConfig())]
    assert records(table) == records(r for r in local if r["doc_id"])


def test_an_input_is_given_up_after_max_attempts_runs(spark, shared_data, tmp_path):
    out = tmp_path / "out"
    down = scripted(down=frozenset({PAGES[1]}))
    with flaky_server(shared_data / "warc", down) as server:
        uris = [f"{server.url}/{n}" for n in PAGES]
        ingest_run(spark, uris, out, max_attempts=2)
        ingest_run(spark, uris, out, max_attempts=2)  # batch 2: the retry alone, failing again
        retry = json.loads(Layout(out).ledger.read_text())["retry"][uris[1]]
        assert (retry["attempts"], retry["given_up"]) == (2, True)
        requests = server.requests[PAGES[1]]
        ingest_run(spark, uris, out, max_attempts=2)  # nothing new, nothing to retry
        assert server.requests[PAGES[1]] == requests
    ledger = Ledger.load(out)
    assert len(ledger.batches) == 2 and ledger.inputs(2) == [] and ledger.batch(2)["files"] == 0
    # The card names it, with its error.
    inputs = {
        "files": 1, "paths": [uris[0]], "failed": [], "crawl_ids": [], "batches": [],
        "warc_dates": {"first": None, "last": None}, "retrying": [],
        "given_up": [{"path": uris[1], "attempts": 2, "error": retry["last_error"]}],
    }  # fmt: skip
    section = render_card_sources(inputs)
    name = uris[1].rsplit("/", 1)[1]  # by its file name, as the other inputs are
    assert f"`{name}` (2 attempts): " in section and "given up" in section


def render_card_sources(inputs: dict) -> str:
    from gristmill.pipeline.card import _sources

    return "\n".join(_sources(inputs))


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on 127.0.0.1, with a bucket of real-page WARCs."""
    moto_server = pytest.importorskip("moto.server")
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint, boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_s3_inputs_read_like_local_files(spark, shared_data, s3_server, tmp_path):
    endpoint, client = s3_server
    client.create_bucket(Bucket="commoncrawl-test")
    for name in PAGES:
        client.upload_file(
            str(shared_data / "warc" / name),
            "commoncrawl-test",
            f"crawl/{name}",
            ExtraArgs={"ACL": "public-read"},
        )
    network = RetryPolicy(**FAST, s3_endpoint=endpoint)
    uris = [f"s3://commoncrawl-test/crawl/{n}" for n in PAGES]
    local = [r for n in PAGES for r in ingest_input(str(shared_data / "warc" / n), IngestConfig())]
    remote = [r for u in uris for r in ingest_input(u, IngestConfig(network=network))]
    assert records(remote) == records(local)
    # The Spark workers started before this test set the credentials: they send unsigned
    # requests (s3_anonymous, as for a public bucket), which moto serves for public-read objects.
    anonymous = RetryPolicy(**FAST, s3_endpoint=endpoint, s3_anonymous=True)
    cfg = Config(ingest=IngestConfig(network=anonymous))
    stats, checksums = ingest.run_ingest(
        spark, [*uris, "s3://commoncrawl-test/missing.warc.gz"], tmp_path, cfg
    )
    assert stats["in"] == len(local) and stats["deferred_inputs"] == [] and checksums == {}
    (failed,) = stats["failed_inputs"]
    assert failed["path"].endswith("missing.warc.gz") and "does not exist" in failed["error"]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, dict]:
    return build_corpus(tmp_path_factory.mktemp("damaged"))


@pytest.mark.parametrize(
    "name",
    ["garbage-member.warc.gz", "garbage-bytes.warc.gz", "length-too-short.warc.gz",
     "truncated-gzip.warc.gz", "length-too-long.warc.gz"],
)  # fmt: skip
def test_a_damaged_stretch_of_a_remote_input_costs_what_it_costs_a_local_one(name, damaged):
    """A corrupt member in the middle of a remote WARC: reading goes on from the next member
    (requested from there), as for a local file, so the records after it are kept, not lost
    with the rest of the file; a cut-off last member is reported as for a local one."""
    root = damaged[name]["path"].parent
    cfg = IngestConfig(network=RetryPolicy(**FAST))
    local = list(ingest_input(str(root / name), cfg))
    with flaky_server(root, scripted(())) as server:
        remote = list(ingest_input(f"{server.url}/{name}", cfg))
    docs = [r for r in local if r["doc_id"]]
    assert len(docs) >= 2 and records(r for r in remote if r["doc_id"]) == records(docs)
    errors = [[r["input_error"] for r in rows if not r["doc_id"]] for rows in (local, remote)]
    assert len(errors[0]) == 1 and errors[1] == errors[0]


def test_a_server_without_ranges_costs_no_record_and_no_task(damaged):
    """A server that answers a range request with the whole file: the last member's check is
    left undone (the file is not called damaged for it), and a damaged file is read up to its
    damage and reported, without failing the task."""
    root = damaged["garbage-member.warc.gz"]["path"].parent
    cfg = IngestConfig(network=RetryPolicy(**FAST))
    plan = scripted((OK, WHOLE, WHOLE, WHOLE))
    with flaky_server(root, plan) as server:
        rows = list(ingest_input(f"{server.url}/missing-headers.warc.gz", cfg))
        assert rows and all(r["doc_id"] for r in rows)  # no error row
        cut = list(ingest_input(f"{server.url}/garbage-member.warc.gz", cfg))
    errors = [r["input_error"] for r in cut if not r["doc_id"]]
    assert len(errors) == 1 and "not read past it" in errors[0] and "Range" in errors[0]
    assert [r for r in cut if r["doc_id"]]  # the records before the damage are kept
