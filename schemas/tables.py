"""Arrow schemas of the stage tables under ``<output>/stages/<stage>/``.

Every stage table holds every document the stage received, kept or not: ``drop_reason`` is null
for kept documents and names the rule otherwise. The next stage reads the rows whose
``drop_reason`` is null. Keeping the dropped rows makes the funnel in stats.json a plain group-by
over the table, and lets a user see what a rule removed (as datatrove's exclusion writer does).
Spark schemas are derived from these with :func:`spark_schema`.
"""

from __future__ import annotations

import pyarrow as pa

from gristmill.filters import pii
from gristmill.filters.rule_sets import RULE_SETS

DROP_REASON = pa.field("drop_reason", pa.string())

INGEST = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("warc_date", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("input_file", pa.string()),
        pa.field("content_type", pa.string()),
        pa.field("charset", pa.string()),
        pa.field("payload_bytes", pa.int64()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float64()),
        DROP_REASON,
    ]
)

# What the ingest task emits: the ingest rows plus, for each input file that failed, one row with
# a null doc_id and the error; ``input_retryable`` marks a network failure (the file is tried
# again next run, and its rows of this run are dropped). The job splits them apart before writing.
INGEST_EVENTS = pa.schema(
    [f.with_nullable(True) if f.name == "doc_id" else f for f in INGEST]
    + [pa.field("input_error", pa.string()), pa.field("input_retryable", pa.bool_())]
)

QUALITY_SIGNALS = [
    pa.field("n_words", pa.int64()),
    pa.field("n_chars", pa.int64()),
    # Each rule set's signals (bad_words: null where the document's language has no list).
    *(f for rule_set in RULE_SETS for f in rule_set.module.SIGNAL_FIELDS),
    # How many addresses were masked in the stored (kept) text.
    *pii.SIGNAL_FIELDS,
    # The fastText classifier's P(high quality); null when no classifier is configured. Dedup
    # keeps the best-scoring document of a cluster.
    pa.field("quality_score", pa.float64()),
    # KenLM perplexity (null without a model) and its per-language bucket: head/middle/tail.
    pa.field("perplexity", pa.float64()),
    pa.field("perplexity_bucket", pa.string()),
]

QUALITY = pa.schema(
    [f for f in INGEST if f.name != "drop_reason"] + QUALITY_SIGNALS + [DROP_REASON]
)

# Text is stored where a stage changes it: the ingest table holds every document's text, the
# quality table the cleaned text of every document it keeps (C4 line cleaning changes nearly all),
# decontaminate's only the texts it cut, null for the others.
# :func:`gristmill.jobs.stage_io.read_kept_texts` gives a stage's documents with their text as of
# that stage.
TEXT = pa.field("text", pa.string())

# Dedup changes no text, so its table has none.
DEDUP = pa.schema(
    [f for f in QUALITY if f.name not in ("drop_reason", "text")]
    + [pa.field("text_hash", pa.string()), DROP_REASON]
)


def with_text(schema: pa.Schema) -> pa.Schema:
    """``schema`` with a text column: rows as a stage works on them, before text is stored."""
    return schema if "text" in schema.names else schema.append(TEXT)


# ``<output>/dedup/clusters/batch=N/``: one row per document in a near-duplicate cluster (two or
# more documents linked by MinHash LSH). ``component`` is the cluster's smallest doc_id; ``kept``
# marks the one document of the cluster that dedup kept (the best quality_score, then smallest
# doc_id); ``earlier`` marks documents kept by an earlier batch, which stay kept (and then no
# document of this batch in the cluster is).
DEDUP_CLUSTERS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("component", pa.string(), nullable=False),
        pa.field("kept", pa.bool_(), nullable=False),
        pa.field("earlier", pa.bool_(), nullable=False),
    ]
)

DECONTAMINATE = pa.schema(
    [f for f in DEDUP if f.name != "drop_reason"]
    + [
        TEXT,
        pa.field("contaminated_ngrams", pa.int64()),
        pa.field("chars_removed", pa.int64()),
        pa.field("benchmarks_matched", pa.list_(pa.string())),
        DROP_REASON,
    ]
)

# The final documents: kept rows of the decontaminate stage with their final text, without
# drop_reason.
DOCUMENTS = pa.schema([f for f in DECONTAMINATE if f.name != "drop_reason"])


# The batch stages' tables whose columns are fixed here (tokenize's follow the config's buckets):
# read with their schema given, since inferring it from the files is a Spark job of its own.
STAGE_TABLES = {
    "ingest": INGEST,
    "quality": QUALITY,
    "dedup": DEDUP,
    "decontaminate": DECONTAMINATE,
}


def spark_schema(schema: pa.Schema):  # -> pyspark.sql.types.StructType
    """The Spark StructType of an Arrow schema (imported lazily: this module is pyspark-free)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)
