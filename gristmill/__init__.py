"""gristmill: Common Crawl WARC files to LLM pretraining shards, on Apache Spark.

The code lives in the top-level folders of the repository, which mirror the flow (``pipeline/``,
``filters/``, ``jobs/``, ``schemas/``, ``trainer/``); it installs and imports as subpackages of
this one namespace (``gristmill.pipeline``, ``gristmill.jobs``, ...), mapped by ``package-dir`` in
pyproject.toml, so nothing with a generic name lands in site-packages.
"""
