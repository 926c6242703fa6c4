"""The ledger keeps each batch's inputs in a list of its own, so a nightly run reads and writes
what its own batch and crawl need, not every input the output has ever read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import MAX_FOLDERS, Ledger, LedgerError, describe_input

CRAWL = "https://data.commoncrawl.org/crawl-data/{}/segments/1/warc/CC-MAIN-{:05d}.warc.gz"


def described(uris: list[str]) -> list[dict]:
    return [{"uri": u, "size": 1000 + n, "checksum": f"etag:{n}"} for n, u in enumerate(uris)]


def crawl_files(crawl: str, first: int, count: int) -> list[str]:
    return [CRAWL.format(crawl, n) for n in range(first, first + count)]


@pytest.fixture
def three_batches(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    """Batches of two crawls and one of local files, saved."""
    local = tmp_path / "local"
    local.mkdir()
    files = [local / f"{n}.warc.gz" for n in range(2)]
    for f in files:
        f.write_bytes(b"x")
    plans = [
        crawl_files("CC-MAIN-2024-10", 0, 300),
        crawl_files("CC-MAIN-2024-18", 0, 300),
        [str(f) for f in files],
    ]
    ledger = Ledger.load(tmp_path / "out")
    for uris in plans:
        inputs = described(uris)
        for entry, uri in zip(inputs, uris, strict=True):
            if not uri.startswith("http"):
                entry["size"] = 1
        ledger.add_batch(inputs)
    ledger.save()
    return tmp_path / "out", plans


def test_ledger_json_does_not_grow_with_the_inputs(three_batches):
    out, plans = three_batches
    text = Layout(out).ledger.read_text()
    assert not any(uri in text for uris in plans for uri in uris)
    assert len(text) < 4000
    ledger = Ledger.load(out)
    assert [b["files"] for b in ledger.batches] == [300, 300, 2]
    crawls = [b["crawl_ids"] for b in ledger.batches]
    assert crawls == [["CC-MAIN-2024-10"], ["CC-MAIN-2024-18"], []]
    assert [[i["uri"] for i in ledger.inputs(b)] for b in (1, 2, 3)] == plans
    assert len(list(Layout(out).input_lists.iterdir())) == 3


def test_new_inputs_reads_only_the_lists_that_could_hold_them(three_batches):
    """With the other crawl's list and the local batch's list gone, a run over one crawl's
    files still plans exactly the new ones: it never opened those lists."""
    out, plans = three_batches
    lists = {b["batch"]: b["input_list"] for b in Ledger.load(out).batches}
    (Layout(out).input_lists / lists[2]).unlink()
    (Layout(out).input_lists / lists[3]).unlink()
    tonight = crawl_files("CC-MAIN-2024-10", 250, 100)
    assert Ledger.load(out).new_inputs(tonight) == tonight[50:]
    with pytest.raises(LedgerError, match=r"the inputs of batch 2 .* is missing"):
        Ledger.load(out).new_inputs(crawl_files("CC-MAIN-2024-18", 0, 1))
    with pytest.raises(LedgerError, match=r"the inputs of batch 3 .* is missing"):
        Ledger.load(out).new_inputs(plans[2])


def test_inputs_outside_crawls_are_looked_up_in_the_lists_of_their_folders(tmp_path):
    """A crawl of one's own, written to a folder a night: a night's files are looked up in the
    lists of the batches that read from their folders, not in every night's; a batch that read
    from more folders than ledger.json names, or that was recorded before folders were, is
    read for any folder."""
    nights = [[f"s3://own-crawl/2026-12-0{d}/part-{n}.warc.gz" for n in range(3)] for d in (1, 2)]
    many = [f"https://example.org/d{n}/x.warc.gz" for n in range(MAX_FOLDERS + 1)]
    ledger = Ledger.load(tmp_path / "out")
    for uris in [*nights, many]:
        ledger.add_batch(described(uris))
    ledger.save()
    assert Ledger.load(tmp_path / "out").batch(1)["outside_folders"] == [
        "s3://own-crawl/2026-12-01"
    ]
    assert Ledger.load(tmp_path / "out").batch(3)["outside_folders"] is None
    lists = {b["batch"]: b["input_list"] for b in Ledger.load(tmp_path / "out").batches}
    (Layout(tmp_path / "out").input_lists / lists[1]).unlink()
    tonight = [u.replace("12-02", "12-03") for u in nights[1]]
    assert Ledger.load(tmp_path / "out").new_inputs(nights[1] + tonight) == tonight
    with pytest.raises(LedgerError, match=r"the inputs of batch 1 .* is missing"):
        Ledger.load(tmp_path / "out").new_inputs(nights[0][:1])
    (Layout(tmp_path / "out").input_lists / lists[3]).unlink()  # folders not named: read
    with pytest.raises(LedgerError, match=r"the inputs of batch 3 .* is missing"):
        Ledger.load(tmp_path / "out").new_inputs(tonight)
    data = json.loads(Layout(tmp_path / "out").ledger.read_text())
    del data["batches"][1]["outside_folders"]  # a ledger from before folders were noted
    del data["batches"][2]
    Layout(tmp_path / "out").ledger.write_text(json.dumps(data))
    (Layout(tmp_path / "out").input_lists / lists[2]).unlink()
    with pytest.raises(LedgerError, match=r"the inputs of batch 2 .* is missing"):
        Ledger.load(tmp_path / "out").new_inputs(tonight)


def test_a_saved_list_is_read_when_asked_not_held(three_batches):
    """A run that redoes ingest over a year of nights reads every batch's list: none stays in
    memory once read or saved, so a list damaged on disk since is refused, not answered from
    a copy."""
    out, plans = three_batches
    ledger = Ledger.load(out)
    assert ledger.new_inputs(plans[0]) == []  # read batch 1's list
    ledger.settle_inputs(2, [], max_attempts=3)  # set batch 2's, then saved
    ledger.save()
    for batch in (1, 2):
        path = Layout(out).input_lists / ledger.batch(batch)["input_list"]
        path.write_bytes(path.read_bytes().replace(b"CC-MAIN-000", b"CC-MAIN-999", 1))
        with pytest.raises(LedgerError, match=f"the inputs of batch {batch}, is damaged"):
            ledger.inputs(batch)


def test_a_changed_list_replaces_the_old_one_only_when_the_ledger_names_it(three_batches):
    out, plans = three_batches
    ledger = Ledger.load(out)
    before = ledger.batch(1)["input_list"]
    failed = plans[0][7]
    ledger.settle_inputs(1, [{"path": failed, "error": "503"}], max_attempts=3)
    # Not saved yet: what is on disk is still the old, whole state.
    assert Ledger.load(out).inputs(1)[7]["uri"] == failed
    stray = Layout(out).input_lists / "inputs-00009-000000000000.jsonl"
    stray.write_text("left by a killed run\n")
    notes = Layout(out).input_lists / "NOTES.txt"
    notes.write_text("a user's file\n")
    ledger.save()
    assert notes.exists()
    notes.unlink()
    again = Ledger.load(out)
    assert again.batch(1)["input_list"] != before and again.batch(1)["files"] == 299
    assert failed not in {i["uri"] for i in again.inputs(1)} and failed in again.retries
    assert sorted(p.name for p in Layout(out).input_lists.iterdir()) == sorted(
        b["input_list"] for b in again.batches
    )
    # Planned again from the retry list, not as a new input.
    assert again.new_inputs(plans[0]) == [] and again.pending_retries() == [failed]


def test_a_version_1_ledger_moves_its_inputs_out(tmp_path):
    """An output written before the input lists existed keeps working: its inputs are read from
    ledger.json and written apart at the next save."""
    out = tmp_path / "out"
    uris = crawl_files("CC-MAIN-2024-10", 0, 3)
    old = {
        "version": 1,
        "final": {},
        "batches": [
            {
                "batch": 1,
                "created": "2026-01-01T00:00:00Z",
                "crawl_ids": ["CC-MAIN-2024-10"],
                "inputs": described(uris),
                "stages": {"ingest": {"digest": "d"}},
            }
        ],
    }
    out.mkdir()
    Layout(out).ledger.write_text(json.dumps(old))
    ledger = Ledger.load(out)
    assert ledger.inputs(1) == described(uris) and ledger.new_inputs(uris[:2]) == []
    ledger.save()
    saved = json.loads(Layout(out).ledger.read_text())
    assert saved["version"] == 2 and "inputs" not in saved["batches"][0]
    assert saved["batches"][0]["stages"] == {"ingest": {"digest": "d"}}
    assert Ledger.load(out).inputs(1) == described(uris)


def test_copy_and_follow_carry_the_inputs(three_batches, tmp_path):
    """An ablation's runs get the baseline's batches with the same inputs."""
    out, plans = three_batches
    base = Ledger.load(out)
    base.mark(1, "ingest", {"in": 1, "out": 1, "dropped": {}}, "d", "first run")
    twin = base.copy_to(tmp_path / "twin", ["ingest"])
    twin.save()
    copied = Ledger.load(tmp_path / "twin")
    assert [[i["uri"] for i in copied.inputs(b)] for b in (1, 2, 3)] == plans
    assert set(copied.batch(1)["stages"]) == {"ingest"} and copied.batch(2)["stages"] == {}
    follower = Ledger.load(tmp_path / "follower")
    follower.follow(base)
    follower.save()
    assert [i["uri"] for i in Ledger.load(tmp_path / "follower").inputs(3)] == plans[2]


def test_odd_names_and_damaged_lists(tmp_path):
    """A name with a line separator in it reads back as written; a list whose bytes no longer
    match its name is refused, not read as a shorter batch."""
    uris = ["https://example.org/a\u2028b.warc.gz", "https://example.org/c\x85d.warc.gz"]
    ledger = Ledger.load(tmp_path)
    ledger.add_batch(described(uris))
    ledger.save()
    assert [i["uri"] for i in Ledger.load(tmp_path).inputs(1)] == uris
    assert Ledger.load(tmp_path).new_inputs([*uris, "https://example.org/e"]) == [
        "https://example.org/e"
    ]
    path = Layout(tmp_path).input_lists / Ledger.load(tmp_path).batch(1)["input_list"]
    path.write_bytes(path.read_bytes().split(b"\n")[0] + b"\n")  # cut short
    with pytest.raises(LedgerError, match="is damaged"):
        Ledger.load(tmp_path).inputs(1)


def test_a_retry_planned_into_a_batch_is_not_planned_again(three_batches):
    """A run killed after planning a batch that takes an input off the retry list, but before
    that batch's ingest, leaves the input in that batch alone."""
    out, plans = three_batches
    ledger = Ledger.load(out)
    failed = plans[0][3]
    ledger.settle_inputs(1, [{"path": failed, "error": "503"}], max_attempts=3)
    ledger.save()
    ledger = Ledger.load(out)
    assert ledger.pending_retries() == [failed]
    ledger.add_batch(described([failed]))
    ledger.save()  # killed here, before batch 4's ingest
    again = Ledger.load(out)
    assert again.pending_retries() == [] and again.new_inputs([failed]) == []
    again.settle_inputs(4, [{"path": failed, "error": "503 again"}], max_attempts=3)
    assert again.pending_retries() == [failed] and again.retries[failed]["attempts"] == 2


def test_a_local_input_is_hashed_by_the_task_that_reads_it(tmp_path):
    """Planning reads no input (a night of local WARCs is terabytes for the driver alone); the
    sha256 the ingest task took is recorded when the batch settles."""
    warc = tmp_path / "a.warc.gz"
    warc.write_bytes(b"x" * 10)
    planned = describe_input(str(warc))
    assert planned == {"uri": str(warc), "size": 10, "checksum": None}
    ledger = Ledger.load(tmp_path / "out")
    ledger.add_batch([planned])
    ledger.settle_inputs(1, [], max_attempts=3, checksums={str(warc): "sha256:abc"})
    ledger.save()
    assert Ledger.load(tmp_path / "out").inputs(1)[0]["checksum"] == "sha256:abc"
