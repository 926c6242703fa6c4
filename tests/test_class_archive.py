"""The driver JVM's class archive: a local session starts from it, it is named after what it
depends on, and a damaged one never stops a JVM."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gristmill.pipeline import class_archive
from tests.conftest import unavailable


def built_archive() -> Path:
    """This installation's archive, which ``make test`` builds before the tests."""
    path = class_archive.archive_path()
    if not path.is_file():
        unavailable(f"no class archive at {path}: python -m gristmill.pipeline.class_archive")
    return path


def test_a_local_session_starts_from_the_archive(spark):
    """The test session's JVM maps this installation's archive: a JVM that found it stale or
    damaged would not, and would start as slowly as without one."""
    path = built_archive()
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    assert str(path) in Path(f"/proc/{pid}/maps").read_text()


def test_the_archive_is_named_after_the_java_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    here = class_archive.archive_path()
    assert here.parent == tmp_path / "cache" / "gristmill"
    other = tmp_path / "jdk" / "bin" / "java"
    other.parent.mkdir(parents=True)
    other.write_text("another runtime")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    assert class_archive.archive_path() != here
    assert class_archive.archive_path().parent == here.parent


def test_no_options_without_an_archive(tmp_path):
    assert class_archive.jvm_options(tmp_path / "none.jsa") == ""


def test_a_damaged_archive_is_passed_over_silently(tmp_path):
    damaged = tmp_path / "spark-classes.jsa"
    damaged.write_bytes(os.urandom(1 << 16))
    java = class_archive._java()
    assert java is not None
    options = class_archive.jvm_options(damaged).split()
    proc = subprocess.run([str(java), *options, "-version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "version" in proc.stderr
    assert not any(word in proc.stderr.lower() for word in ("warning", "error", "archive"))


def test_only_a_whole_archive_passes_the_check(tmp_path):
    """A cut-off archive crashes a JVM that maps it: :func:`build` moves none into place."""
    whole = built_archive()
    assert class_archive._verified(whole)
    cut = tmp_path / "cut.jsa"
    with whole.open("rb") as source:
        cut.write_bytes(source.read(whole.stat().st_size // 2))
    assert not class_archive._verified(cut)
