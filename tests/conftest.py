"""Shared fixtures: one SparkSession for the whole test session, and the real data in shared/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("GRISTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; missing data fails under CI (CI=true) and skips elsewhere."""
    if not (SHARED_DATA / "warc").is_dir():
        message = f"real test data not found at {SHARED_DATA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark():
    from pipeline.config import SparkConfig
    from pipeline.spark import spark_session

    cfg = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
    session = spark_session(cfg)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """The demo's generated sample (WARC, benchmark, reference text, expectations)."""
    from pipeline.sample_warc import write_sample

    return write_sample(tmp_path_factory.mktemp("sample"))
