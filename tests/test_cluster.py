"""The whole pipeline submitted to a real Spark standalone cluster on 127.0.0.1.

A master and a worker are started from the pip pyspark's ``sbin/spark-daemon.sh`` (the wheel has
no start-master.sh), the run goes through ``gristmill submit`` (spark-submit with the project
zipped into --py-files), and its shards must be byte-identical to a local-mode run of the same
input. Whatever was started is stopped, even when
the test fails.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest
import yaml

from gristmill.pipeline import kernels
from tests.conftest import result_inputs
from tests.test_pipeline import shard_files

SPARK_HOME = Path(pyspark.__file__).parent
REPO = Path(__file__).resolve().parent.parent
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, ready, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                state = json.load(response)
            if ready(state):
                return state
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {seconds} s")
        time.sleep(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOG_DIR": str(tmp / "logs"),
        "SPARK_PID_DIR": str(tmp / "pids"),
        "SPARK_WORKER_DIR": str(tmp / "work"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        # Where the executors extract the shipped zip (gristmill/__init__.py): a fresh folder.
        "XDG_CACHE_HOME": str(tmp / "cache"),
        # Their kernels' code, compiled by this session's runs for the same sources: the
        # extracted copy finds it (pipeline/kernels.py) instead of compiling it all again.
        "NUMBA_CACHE_DIR": str(kernels.cache_root()),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    daemon = str(SPARK_HOME / "sbin" / "spark-daemon.sh")
    started = []
    try:
        subprocess.run(
            [daemon, "start", MASTER, "1", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui)],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        started.append(MASTER)
        subprocess.run(
            [daemon, "start", WORKER, "1", "--host", "127.0.0.1", "--cores", "2",
             "--memory", "2g", "--webui-port", str(free_port()), url],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        started.append(WORKER)
        master_json = f"http://127.0.0.1:{ui}/json/"
        wait_for(master_json, lambda s: s.get("aliveworkers", 0) >= 1)
        yield url, master_json, env, tmp
    finally:
        for cls in reversed(started):
            subprocess.run([daemon, "stop", cls, "1"], env=env, capture_output=True)


def test_pipeline_on_a_standalone_cluster_matches_local_mode(
    cluster, result, sample, shared_data, demo_config, tmp_path
):
    """The inputs and config of the session's local run (``result``), whose shards the
    cluster's must equal."""
    url, master_json, env, tmp = cluster
    out = tmp_path / "cluster-out"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(demo_config))
    inputs, benchmarks = result_inputs(sample, shared_data)
    submit = subprocess.run(
        [str(Path(sys.executable).parent / "gristmill"), "submit", "--master", url,
         "--executor-memory", "1g", "--", "run", "--input", *map(str, inputs),
         "--benchmark", *map(str, benchmarks), "--config", str(config),
         "--output", str(out)],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr[-3000:]
    shipped = list((tmp / "cache" / "gristmill" / "submit").glob("gristmill-*.zip"))
    assert len(shipped) == 1 and "--py-files" in submit.stdout
    # The executor received the project's zip from the driver.
    assert list((tmp / "work").glob(f"app-*/*/{shipped[0].name}"))
    # It imported the zip's code from the copy extracted once, and took its kernels' code from
    # the cache of these sources (compiled by this session's local runs), compiling none of its
    # own beside that copy.
    code = tmp / "cache" / "gristmill" / "code"
    assert list(code.glob("*/gristmill/filters/words.py"))
    assert not list(code.rglob("*.nbi"))
    # The application ran on the cluster, and its executor ran on our worker.
    state = wait_for(master_json, lambda s: s.get("completedapps"))
    # spark-submit names the application after the script: its settings win over the config's.
    assert [app["name"] for app in state["completedapps"]] == ["run.py"]
    app_dirs = list((tmp / "work").glob("app-*/*/stderr"))
    assert app_dirs, "no executor ran on the worker"
    # Shuffles are sized from the cluster (its 2 cores), not a constant, and adaptive.
    found = re.search(r"parallelism (\d+), (\d+) shuffle partitions", submit.stdout)
    assert found, submit.stdout[-2000:]
    parallelism, partitions = map(int, found.groups())
    assert parallelism >= 2 and partitions >= parallelism

    assert shard_files(out) == shard_files(result[0])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["tokenize"]["out"] > 0
