"""The built wheel, installed into a clean virtualenv, is a working gristmill.

What this checks is what a plain ``pip install gristmill-*.whl`` gives a user with no Makefile
and no checkout: the one ``gristmill`` namespace in site-packages (nothing named ``pipeline`` or
``jobs`` beside it), the console script, the language-ID model and every tokenizer encoding
inside installed packages, and a whole ``gristmill run`` over a real Common Crawl WARC, its
Spark workers importing gristmill from that venv. The wheel is built from a copy of the sources
and installed by pip; its dependencies, to spare CI a 600 MB download per run, are this test
venv's own (made visible through a ``.pth`` path line) and checked against the wheel's
declared requirements.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO, listed_shards

WARC = "warc/realpages-00010.warc.gz"


def _sources(into: Path) -> None:
    """What the sdist would hold: pyproject, README and the package folders."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, into / name)
    for folder in folders:
        shutil.copytree(REPO / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A clean venv with the wheel installed by pip."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    _sources(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = root / "dist"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", built, src],
        check=True,
        cwd=root,
    )
    (wheel,) = built.glob("gristmill-*.whl")
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], check=True
    )
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return env


def _run(venv: Path, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env)


def test_wheel_installs_one_namespace_with_its_models(venv, tmp_path):
    python = venv / "bin" / "python"
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = {p.name for p in site.iterdir() if not p.name.endswith((".dist-info", ".pth"))}
    assert installed == {"gristmill"}, installed
    (record,) = site.glob("gristmill-*.dist-info/RECORD")
    names = {line.split(",")[0] for line in record.read_text().splitlines()}
    assert {"gristmill/models/lid.176.ftz", "gristmill/pipeline/log4j2.properties"} <= names
    code = (
        "from importlib import metadata\n"
        "from packaging.requirements import Requirement\n"
        "for line in metadata.requires('gristmill'):\n"
        "    req = Requirement(line)\n"
        "    if req.marker is None:\n"
        "        assert metadata.version(req.name) in req.specifier, req\n"
    )
    check = _run(venv, python, "-c", code, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    code = (
        "import gristmill, sys\n"
        "from gristmill.pipeline import langid, tokenizer\n"
        "print(gristmill.__file__)\n"
        "print(langid.model_resource())\n"
        "print(*langid.identify(['Das ist ein ganz normaler deutscher Satz.'])[0])\n"
        "for name in tokenizer.ENCODINGS:\n"
        "    enc = tokenizer.load_encoding(name)\n"
        "    assert enc.decode(enc.encode('Common Crawl, 2024.')) == 'Common Crawl, 2024.'\n"
        "    print(name, enc.n_vocab)\n"
    )
    shown = _run(venv, python, "-c", code, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(str(site)) and lines[1].startswith(str(site)) and lines[2] == "de"
    assert [line.split()[0] for line in lines[3:]] == ["gpt2", "cl100k_base", "o200k_base"]


def test_installed_cli_runs_the_pipeline_on_a_real_warc(venv, shared_data, tmp_path):
    out = tmp_path / "out"
    help_text = _run(venv, "gristmill", "--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "run" in help_text.stdout
    done = _run(
        venv, "gristmill", "run", "--input", shared_data / WARC, "--output", out, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["ingest"]["out"] > 10 and stats["stages"]["tokenize"]["tokens"] > 0
    shard_tokens = sum(s["tokens"] for s in listed_shards(out / "shards"))
    assert shard_tokens == stats["stages"]["tokenize"]["tokens"]
    lid = stats["models"]["lid.176"]["path"]
    assert lid.startswith(str(venv)) and lid.endswith("lid.176.ftz")
    # The installed copy's kernels were compiled into (or found in) the cache of these sources,
    # which every copy shares (pipeline/kernels.py), none beside the installed files.
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert not list(site.rglob("*.nbi"))
