"""docker-compose.yml, validated offline (no Docker engine here) and checked against the
Dockerfile and the project: the services, the image and the commands must agree."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import compose_spec

REPO = Path(__file__).resolve().parent.parent


def compose() -> dict:
    spec = compose_spec.PyCompose.from_yaml((REPO / "docker-compose.yml").read_text())
    spec.validate()
    return spec.to_dict()


def test_services_share_one_image_built_from_the_dockerfile():
    services = compose()["services"]
    assert sorted(services) == ["master", "runner", "worker-1", "worker-2"]
    assert services["master"]["build"] in (".", {"context": "."})
    assert (REPO / "Dockerfile").is_file()
    assert {s["image"] for s in services.values()} == {"gristmill:latest"}
    for name, service in services.items():
        assert "data:/data" in service["volumes"], name


def test_commands_exist_in_the_image_and_point_at_the_master():
    services = compose()["services"]
    master = services["master"]["command"]
    port = master[master.index("--port") + 1]
    assert f"{port}:{port}" in services["master"]["ports"]
    for worker in ("worker-1", "worker-2"):
        command = services[worker]["command"]
        assert command[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
        assert command[-1] == f"spark://master:{port}"
        assert "master" in services[worker]["depends_on"]
    # spark-class comes with the pyspark wheel into the venv's bin, which the image puts on PATH;
    # gristmill is the project's console script.
    assert (Path(sys.executable).parent / "spark-class").is_file()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert services["runner"]["command"][0] in scripts


def test_dockerfile_installs_what_the_makefile_installs():
    dockerfile = (REPO / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    folders = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    for folder in folders.values():
        assert f"COPY {folder} {folder}" in dockerfile, folder
    # The wheel carries every model file (lid.176 included): a plain install is complete.
    assert "pip install --no-cache-dir .\n" in dockerfile
    assert "--no-deps" not in dockerfile + makefile
    assert "default-jre-headless" in dockerfile
    assert "ENV PATH=/opt/gristmill/.venv/bin:$PATH" in dockerfile
