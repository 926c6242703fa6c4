# One image for the Spark master, the workers and the runner: Java 17 for Spark 4, the project
# and its pinned Python dependencies in a virtualenv at /opt/gristmill/.venv.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends default-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/gristmill
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY jobs jobs
COPY filters filters
COPY schemas schemas
COPY trainer trainer
COPY gristmill gristmill
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir .

ENV PATH=/opt/gristmill/.venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/gristmill/.venv/bin/python \
    SPARK_HOME=/opt/gristmill/.venv/lib/python3.11/site-packages/pyspark
