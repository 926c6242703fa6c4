"""Shared fixtures: one SparkSession for the whole test session, and the real data in shared/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("GRISTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))
# What one test worker can hold at its peak: its SparkSession's driver (2g of heap), the Python
# workers and the runs some tests start in a process of their own.
WORKER_MEMORY = 4 << 30


def _cgroup_limit(name: str) -> str | None:
    """A cgroup v2 limit of this process's container (``memory.max``, ``cpu.max``), if set."""
    try:
        value = Path("/sys/fs/cgroup", name).read_text().strip()
    except OSError:
        return None
    return None if value.startswith("max") else value


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``pytest -n auto`` (``make test``): a worker per core this process may use, as many as the
    available memory holds (a container's limits included); PYTEST_XDIST_AUTO_NUM_WORKERS, as
    for xdist itself, overrides. Much of a test's time is the driver waiting on its JVM, so two
    workers on two cores take about two thirds of the time of one."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    quota = _cgroup_limit("cpu.max")
    if quota:
        limit, period = quota.split()
        cores = min(cores, max(1, int(limit) // int(period)))
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n")
        available = int(next(x for x in meminfo if x.startswith("MemAvailable:")).split()[1]) << 10
    except (OSError, StopIteration):
        return cores
    capped = _cgroup_limit("memory.max")
    if capped:
        available = min(available, int(capped))
    return max(1, min(cores, available // WORKER_MEMORY))


def unavailable(message: str, module: bool = False) -> NoReturn:
    """A prerequisite of a test is missing: a skip here, a failure under CI (``CI=true``), where
    ``make test`` provides every one and a skip would hide that it stopped doing so."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=module)


@pytest.fixture(scope="session", autouse=True)
def console_output() -> None:
    """Jobs called directly talk as they do under the command line (their lines reach capsys)."""
    from gristmill.pipeline.log import configure

    configure()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; missing data fails under CI (CI=true) and skips elsewhere."""
    if not (SHARED_DATA / "warc").is_dir():
        unavailable(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark():
    from gristmill.pipeline.config import SparkConfig
    from gristmill.pipeline.spark import spark_session

    cfg = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
    session = spark_session(cfg)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """The demo's generated sample (WARC, benchmark, reference text, expectations)."""
    from gristmill.pipeline.sample_warc import write_sample

    return write_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def models(spark, sample, shared_data, tmp_path_factory) -> dict[str, Path]:
    """Both quality models, trained by gristmill's own jobs: the classifier on the sample's
    reference text against real crawl documents (``make demo`` uses the sample's generated
    negatives: see test_pipeline's demo selection test), the 5-gram LM on the reference text."""
    from gristmill.jobs import train_lm, train_quality

    root = tmp_path_factory.mktemp("models")
    negatives = shared_data / "reference" / "CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
    train_quality.main(
        ["--positive", str(sample.reference), "--negative", str(negatives),
         "--out", str(root / "quality")]
    )  # fmt: skip
    train_lm.main(["--text", str(sample.reference), "--order", "5", "--out", str(root / "lm")])
    return {"classifier": root / "quality" / "model.bin", "lm": root / "lm" / "model.arpa"}


def listed_shards(shards: Path) -> list[dict]:
    """Every shard entry of the manifest in ``shards/`` (each batch's ``files.json``), as JSON
    objects."""
    from gristmill.pipeline.manifest import Manifest

    manifest = Manifest.read(shards / "manifest.json")
    return [dict(vars(e)) for _, entries in manifest.batch_shards(shards) for e in entries]


def deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if both else value
    return merged


@pytest.fixture(scope="session")
def demo_config(models) -> dict:
    """configs/demo.yaml with the model paths pointing at the models trained for the tests, and
    the classifier scoring only: its Pareto selection is random by design, which would leave
    the planted cases the other stages are checked on to chance."""
    import yaml

    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    paths = {
        "quality": {
            "classifier": {"model": str(models["classifier"]), "mode": "off"},
            "perplexity": {"model": str(models["lm"])},
        }
    }
    return deep_merge(cfg, paths)


def result_inputs(sample, shared_data) -> tuple[list[Path], list[Path]]:
    """The inputs and benchmarks of the shared run: the sample plus one real-page WARC."""
    inputs = [sample.warc, shared_data / "warc" / "realpages-00004.warc.gz"]
    benchmarks = [sample.benchmark, shared_data / "benchmarks" / "gsm8k_test.jsonl"]
    return inputs, benchmarks


@pytest.fixture(scope="session")
def result(spark, sample, shared_data, demo_config, tmp_path_factory):
    """One whole run of the demo config over :func:`result_inputs`, shared by every test that
    checks a finished output: (output dir, stats, sample expectations, documents)."""
    import json

    import pyarrow.parquet as pq

    from tests.test_pipeline import run_pipeline

    out = tmp_path_factory.mktemp("run") / "out"
    stats = run_pipeline(spark, *result_inputs(sample, shared_data), out, demo_config)
    expected = json.loads(sample.expected.read_text())
    docs = pq.read_table(out / "documents").to_pylist()
    return out, stats, expected, docs
