"""``gristmill submit``: the spark-submit command it builds, the zip it ships, and its usage
errors. The cluster test (test_cluster.py) runs it against a real standalone cluster."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import gristmill
from gristmill.pipeline import submit
from gristmill.pipeline.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent


def test_command_ships_the_zip_and_runs_the_jobs_script(tmp_path):
    command = submit.build_command(
        ["--master", "yarn", "--conf", "spark.x=1", "--", "tokenize", "--output", "o"], tmp_path
    )
    (zipped,) = tmp_path.glob("gristmill-*.zip")
    assert command[1:5] == ["--master", "yarn", "--conf", "spark.x=1"]
    assert command[5:7] == ["--py-files", str(zipped)]
    assert command[7:] == [str(REPO / "jobs" / "tokenize_shards.py"), "--output", "o"]
    assert Path(command[0]).name == "spark-submit"


def test_venv_archive_sets_the_executors_python(tmp_path):
    env = tmp_path / "env.tar.gz"
    env.write_bytes(b"not really a venv")
    client = submit.build_command(["--venv-archive", str(env), "--", "run"], tmp_path)
    assert f"{env}#environment" in client
    assert "spark.pyspark.python=./environment/bin/python" in client
    assert f"spark.pyspark.driver.python={sys.executable}" in client
    cluster = submit.build_command(
        ["--deploy-mode", "cluster", "--venv-archive", str(env), "--", "run"], tmp_path
    )
    assert not any(a.startswith("spark.pyspark.driver.python") for a in cluster)


def imported_from(zipped: Path, cache: Path, tmp: Path) -> Path:
    """The file ``gristmill.pipeline.ledger`` is imported from, by a Python without
    site-packages whose path starts with ``zipped``, as an executor's does."""
    code = f"import sys; sys.path.insert(0, {str(zipped)!r}); import gristmill.pipeline.ledger as m"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "TMPDIR": str(tmp)}
    shown = subprocess.run(
        [sys.executable, "-S", "-c", code + "; print(m.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return Path(shown.stdout.strip())


def test_zip_is_built_once_per_content_and_imports_without_site_packages(tmp_path):
    first = submit.build_zip(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert submit.build_zip(tmp_path) == first and first.stat().st_mtime_ns == mtime
    names = zipfile.ZipFile(first).namelist()
    assert "gristmill/jobs/run.py" in names and "gristmill/pipeline/ledger.py" in names
    assert "gristmill/__init__.py" in names and not [n for n in names if "trainer" in n]
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    # Imported from one extracted copy per content, where numba's cache outlives an application.
    digest = hashlib.sha256(first.read_bytes()).hexdigest()[:16]
    ledger = Path("gristmill", "code", digest, "gristmill", "pipeline", "ledger.py")
    (tmp_path / "tmp").mkdir()
    imported = imported_from(first, tmp_path / "cache", tmp_path / "tmp")
    assert imported == tmp_path / "cache" / ledger
    stamp = imported.stat().st_mtime_ns
    assert imported_from(first, tmp_path / "cache", tmp_path / "tmp") == imported
    assert imported.stat().st_mtime_ns == stamp  # extracted once
    code = tmp_path / "cache" / "gristmill" / "code"
    assert not list(code.glob(".*"))  # no staging left
    # Another version's copy unused for the stale time goes, one used within it stays.
    old, recent = code / "0000000000000000", code / "1111111111111111"
    for copy, age in ((old, gristmill.STALE_SECONDS + 60), (recent, gristmill.STALE_SECONDS - 60)):
        (copy / "gristmill").mkdir(parents=True)
        os.utime(copy, (time.time() - age,) * 2)
    os.utime(code / digest, (time.time() - 2 * gristmill.STALE_SECONDS,) * 2)
    assert imported_from(first, tmp_path / "cache", tmp_path / "tmp") == imported
    assert sorted(p.name for p in code.iterdir()) == sorted([recent.name, digest])
    assert time.time() - (code / digest).stat().st_mtime < 60  # marked used
    # A cache that cannot be written: the temporary folder's.
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    tmp_copy = Path(f"gristmill-code-{os.getuid()}", *ledger.parts[2:])
    assert imported_from(first, blocked, tmp_path / "tmp") == tmp_path / "tmp" / tmp_copy
    # Nor a folder others may write into: the zip itself.
    (tmp_path / "tmp" / tmp_copy.parts[0]).chmod(0o777)
    assert imported_from(first, blocked, tmp_path / "tmp").is_relative_to(first)
    # Executors load language ID from the zip's own copy of lid.176.
    assert "gristmill/models/lid.176.ftz" in names
    code = (
        f"import sys; sys.path.insert(0, {str(first)!r}); from gristmill.pipeline import langid; "
        "print(langid.model_resource(), *langid.identify(['Ceci est une phrase en français.'])[0])"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(str(first)) and shown.stdout.split()[-1] == "fr"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--master", "local[2]", "run"], "missing '--'"),
        (["--", "explode"], "unknown gristmill command 'explode'"),
        (["--master", "x", "--"], "no gristmill command"),
        (["--venv-archive", "/nonexistent.tar.gz", "--", "run"], "is not a file"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli_main(["submit", *argv]) == 2
    assert message in capsys.readouterr().err


def test_dry_run_prints_the_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli_main(["submit", "--master", "local[2]", "--dry-run", "--", "run", "-h"]) == 0
    printed = capsys.readouterr().out
    assert "--master local[2] --py-files" in printed and printed.rstrip().endswith("run.py -h")
