"""``gristmill submit``: run a gristmill job on a Spark cluster through spark-submit.

    gristmill submit --master spark://host:7077 --executor-memory 8g -- run --input ... --output ...

Everything before ``--`` goes to spark-submit as given (``--master``, ``--deploy-mode``,
``--conf``, ``--files`` ...), except gristmill's own ``--venv-archive``, ``--spark-submit`` and
``--dry-run``; after ``--`` come a gristmill command and its arguments. The project's packages are
zipped once per content as the installed namespace (``gristmill/pipeline/``, ``gristmill/jobs/``,
..., cached under ``~/.cache/gristmill/submit/``) and shipped with ``--py-files``; the job's own
script is the application. Third-party dependencies come from the executors' Python: the same
virtualenv on every node, the project's Docker image (Kubernetes), or a packed virtualenv given with
``--venv-archive env.tar.gz`` (``venv-pack -o env.tar.gz``), unpacked by Spark on each executor
as ``./environment``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from gristmill import cache_home
from gristmill.jobs.arguments import COMMANDS
from gristmill.pipeline.atomic import atomic_file
from gristmill.pipeline.errors import EXIT_USAGE, UsageError

# The folders zipped for the executors, each as the gristmill subpackage it installs as (the
# trainer runs outside Spark and stays out).
PACKAGES = ("pipeline", "filters", "jobs", "schemas")
NAMESPACE = "gristmill"


class SubmitError(UsageError):
    """A ``gristmill submit`` command line that cannot be turned into a spark-submit one."""


def _package_dir(name: str) -> Path:
    """Where a gristmill package's files are: the repository's folder in a checkout, or
    site-packages/gristmill/<name> in an installed wheel."""
    spec = importlib.util.find_spec(f"{NAMESPACE}.{name}" if name else NAMESPACE)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _sources() -> list[tuple[Path, str]]:
    """(file, its name in the zip): ``pipeline/ledger.py`` is ``gristmill/pipeline/ledger.py``."""
    root = _package_dir("")
    files = [(root / "__init__.py", f"{NAMESPACE}/__init__.py")]
    # The language-ID model, which executors load from the package (extracted from the zip).
    models = sorted(p for p in (root / "models").iterdir() if p.is_file())
    files += [(path, f"{NAMESPACE}/models/{path.name}") for path in models]
    for package in PACKAGES:
        folder = _package_dir(package)
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" not in path.parts:
                name = f"{NAMESPACE}/{package}/{path.relative_to(folder).as_posix()}"
                files.append((path, name))
    return files


def build_zip(cache: Path) -> Path:
    """The project's packages as a zip for --py-files, named by a hash of their contents: the
    same sources give the same file, built once."""
    sources = _sources()
    digest = hashlib.sha256()
    for path, name in sources:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    target = cache / f"gristmill-{digest.hexdigest()[:16]}.zip"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in sources:
            # A fixed timestamp: the zip's bytes depend on the sources only.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return target


def job_script(command: str) -> Path:
    """The file spark-submit runs for a gristmill command (``tokenize`` is tokenize_shards.py)."""
    if command not in COMMANDS:
        raise SubmitError(
            f"unknown gristmill command {command!r} after '--'; one of {', '.join(COMMANDS)}"
        )
    spec = importlib.util.find_spec(COMMANDS[command][0])
    assert spec is not None and spec.origin is not None, command
    return Path(spec.origin).resolve()


def spark_submit_binary(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("SPARK_HOME"):
        return str(Path(os.environ["SPARK_HOME"]) / "bin" / "spark-submit")
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str], list[str]]:
    """(gristmill's own options, spark-submit options, gristmill command and its arguments)."""
    if "--" not in argv:
        raise SubmitError(
            "missing '--' before the gristmill command, e.g. gristmill submit --master URL -- "
            "run --input ... --output ..."
        )
    split = argv.index("--")
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--venv-archive", type=Path)
    ours.add_argument("--spark-submit")
    ours.add_argument("--dry-run", action="store_true")
    options, forwarded = ours.parse_known_args(argv[:split])
    job = argv[split + 1 :]
    if not job:
        raise SubmitError("no gristmill command after '--'")
    if options.venv_archive and not options.venv_archive.is_file():
        raise SubmitError(f"--venv-archive {options.venv_archive} is not a file")
    return options, forwarded, job


def build_command(argv: list[str], cache: Path) -> list[str]:
    options, forwarded, job = parse(argv)
    script = job_script(job[0])
    command = [spark_submit_binary(options.spark_submit), *forwarded]
    command += ["--py-files", str(build_zip(cache))]
    if options.venv_archive:
        command += [
            "--archives",
            f"{options.venv_archive.resolve()}#environment",
            "--conf",
            "spark.pyspark.python=./environment/bin/python",
        ]
        if "cluster" not in _deploy_mode(forwarded):
            # In client mode the driver runs here, with this Python.
            command += ["--conf", f"spark.pyspark.driver.python={sys.executable}"]
    return [*command, str(script), *job[1:]]


def _deploy_mode(forwarded: list[str]) -> str:
    for i, arg in enumerate(forwarded):
        if arg == "--deploy-mode" and i + 1 < len(forwarded):
            return forwarded[i + 1]
        if arg.startswith("--deploy-mode="):
            return arg.split("=", 1)[1]
    return "client"


def cache_dir() -> Path:
    return cache_home() / "submit"


def main(argv: list[str]) -> int:
    """Print the spark-submit command, run it, and return its exit code."""
    try:
        command = build_command(argv, cache_dir())
    except SubmitError as exc:
        print(f"gristmill submit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(" ".join(command), flush=True)
    if "--dry-run" in argv[: argv.index("--")]:
        return 0
    if not shutil.which(command[0]) and not Path(command[0]).is_file():
        print(f"gristmill submit: error: spark-submit not found at {command[0]}", file=sys.stderr)
        return EXIT_USAGE
    return subprocess.run(command, check=False).returncode
