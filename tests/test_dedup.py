"""Dedup on real Common Crawl documents with planted duplicates.

The signatures equal datasketch's bit for bit; the Spark job gives the same drop reasons and
components as the single-machine datasketch path; exact duplicates are gone, chains collapse into
one component, the best-scoring document is the one kept, and 1 or 8 partitions change nothing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import random
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH
from pyspark.sql import Window
from pyspark.sql import functions as F

from gristmill.filters.nfkc import nfkc_lower
from gristmill.jobs import dedup
from gristmill.jobs.connected_components import connected_components
from gristmill.jobs.stage_io import read_kept_texts
from gristmill.pipeline import lsh_clusters
from gristmill.pipeline.config import ConfigError, DedupConfig, config_from_dict
from gristmill.pipeline.connected_components import (
    EXACT_DUPLICATE,
    FUZZY_DUPLICATE,
    Decision,
    best_first,
    candidate_edges,
    components,
    reference_dedup,
    shingle_jaccard,
    sketches,
)
from gristmill.pipeline.layout import Layout
from gristmill.pipeline.ledger import Ledger
from gristmill.pipeline.minhash import (
    BAND_ROWS_SCHEMA,
    SIGNATURE_SCHEMA,
    MinHashParams,
    band_rows,
    datasketch_hashfunc,
    jaccard,
    lsh_shape,
    permutations,
    shingle_set,
    shingles,
    signature_rows,
    signatures,
)
from gristmill.pipeline.text_hash import normalize, text_hash
from gristmill.schemas.tables import INGEST, QUALITY

REAL_DOCS = "reference/CC-MAIN-2019-30.dolma-docs-00140.jsonl.gz"
N_BASE = 120


def real_texts(shared_data: Path) -> list[str]:
    with gzip.open(shared_data / REAL_DOCS, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def replace_words(text: str, rate: float, rng: random.Random, tag: str) -> str:
    """Replace a share of the words at random places: a near-duplicate at a known edit rate."""
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, round(rate * len(words)))):
        words[i] = f"{tag}{i}"
    return " ".join(words)


def replace_span(text: str, start: float, share: float, tag: str) -> str:
    """Replace one contiguous run of words: consecutive links of a chain differ in one place."""
    words = text.split(" ")
    a = int(start * len(words))
    b = a + max(1, int(share * len(words)))
    return " ".join(words[:a] + [f"{tag}{i}" for i in range(a, b)] + words[b:])


@pytest.fixture(scope="module")
def planted(shared_data) -> dict:
    """Real documents, plus exact copies, near copies (1% of words replaced) and a chain.

    Base documents are the real ones (>= 100 words) that the reference path leaves alone, so the
    planted relations are the only duplicate relations among them.
    """
    rng = random.Random(4)
    texts = [t for t in real_texts(shared_data) if len(t.split()) >= 100]
    candidates = [
        {"doc_id": f"r{i:03d}", "text": t, "quality_score": None} for i, t in enumerate(texts)
    ]
    alone = reference_dedup(candidates, config_from_dict({}))
    base = [d for d in candidates if alone[d["doc_id"]] == Decision(None, None)][:N_BASE]
    for d in base:
        d["quality_score"] = round(rng.random(), 2) if rng.random() < 0.7 else None
    rows = list(base)
    exact = {}
    for k, src in enumerate(base[:6]):
        copy = {"doc_id": f"x{k}", "text": "  " + src["text"].upper() + "\n", "quality_score": None}
        rows.append(copy)
        exact[copy["doc_id"]] = src["doc_id"]
    near = {}
    for k, src in enumerate(base[6:18]):
        score = None if k % 4 == 0 else round(rng.random(), 2)
        copy = {
            "doc_id": f"n{k:02d}",
            "text": replace_words(src["text"], 0.01, rng, "zq"),
            "quality_score": score,
        }
        rows.append(copy)
        near[copy["doc_id"]] = src["doc_id"]
    # A chain: each link replaces the next 5% of the words of the previous one; the ends share
    # little, and the best document is in the middle.
    chain = [base[18] | {"quality_score": None}]
    for k in range(1, 7):
        text = replace_span(chain[-1]["text"], 0.05 * k, 0.05, f"c{k}w")
        chain.append({"doc_id": f"c{k}", "text": text, "quality_score": 0.9 if k == 3 else 0.5})
    rows[18] = chain[0]
    rows += chain[1:]
    # A tie on quality_score: the smaller doc_id wins (checked with the other near copies).
    tie = {
        "doc_id": "t0",
        "text": replace_words(base[19]["text"], 0.01, rng, "tq"),
        "quality_score": base[19]["quality_score"],
    }
    rows.append(tie)
    near["t0"] = base[19]["doc_id"]
    return {"rows": rows, "exact": exact, "near": near, "chain": [c["doc_id"] for c in chain]}


def write_quality_stage(rows: list[dict], out: Path, files: int, batch: int = 1) -> None:
    """Ingest and quality stage tables as the dedup job reads them, split into ``files`` Parquet
    files: the texts in ingest's, as stored (quality changed none)."""
    full = [{name: None for name in QUALITY.names} | {"input_file": "in.warc.gz"} | r for r in rows]
    # A row dropped by the quality stage is not dedup's input.
    full.append(
        {name: None for name in QUALITY.names}
        | {"doc_id": "q", "input_file": "in.warc.gz", "text": "x", "drop_reason": "too_few_words"}
    )
    for name, schema, stored in (
        ("ingest", INGEST, [r | {"drop_reason": None} for r in full]),
        ("quality", QUALITY, [r | {"text": None} for r in full]),
    ):
        stage = Layout(out).stage(name, batch)
        stage.mkdir(parents=True)
        for k in range(files):
            table = pa.Table.from_pylist(stored[k::files], schema=schema)
            pq.write_table(table, stage / f"part-{k}.parquet")
        (stage / "_stats.json").write_text("{}")


def run_dedup(spark, rows: list[dict], out: Path, files: int, partitions: int, **dedup_cfg):
    write_quality_stage(rows, out, files)
    cfg = config_from_dict({"dedup": dedup_cfg})
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    try:
        ledger = Ledger.of_imported_batch(out, ["ingest", "quality"])
        stats = dedup.run_batch(spark, out, cfg, 1, ledger)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "4")
    table = pq.read_table(out / "stages" / "dedup").to_pylist()
    clusters = pq.read_table(out / "dedup" / "clusters").to_pylist()
    return stats, table, clusters, cfg


def decisions(table: list[dict], clusters: list[dict]) -> dict[str, tuple]:
    component = {c["doc_id"]: c["component"] for c in clusters}
    return {r["doc_id"]: (r["drop_reason"], component.get(r["doc_id"])) for r in table}


def test_signatures_equal_datasketch(shared_data):
    texts = real_texts(shared_data)[:40]
    texts += ["", " \n ", "one", "two words", "a\u00a0b\u2003c\u3000d \u1680e\u2028f\x85g\x1ch"]
    for shingle in ("word", "char"):
        params = MinHashParams.from_config(
            config_from_dict({"seed": 7, "dedup": {"shingle": shingle}})
        )
        ours = signatures(pa.array(texts), params)
        hashfunc = datasketch_hashfunc(params)
        for text, sig in zip(texts, ours, strict=True):
            sketch = MinHash(num_perm=params.num_perm, seed=7, hashfunc=hashfunc)
            sketch.update_batch([s.encode() for s in shingles(text, params)])
            assert np.array_equal(sketch.hashvalues, sig), (shingle, text[:40])
    a, b = permutations(112, 7)
    assert np.array_equal(MinHash(num_perm=112, seed=7).permutations, np.array([a, b]))


def test_a_document_without_a_shingle_has_no_band():
    """Texts that normalize to nothing share the empty set's signature: with bands they would
    all fall in one bucket of every band, one cluster of near duplicates night after night."""
    params = MinHashParams.from_config(config_from_dict({}))
    texts = [
        "",
        "!!! ??? ...",
        "\U0001f642" * 3,
        None,
        "The river runs past the old mill to the sea.",
    ]
    batch = pa.RecordBatch.from_pydict({"doc_id": list("abcde"), "text": texts})
    signed = list(signature_rows([batch], params))
    rows = pa.Table.from_batches(list(band_rows(signed, params)), schema=BAND_ROWS_SCHEMA)
    assert set(rows.column("doc_id").to_pylist()) == {"e"} and rows.num_rows == params.bands
    assert list(signature_rows([batch.slice(0, 4)], params)) == []


def test_words_split_like_str_split():
    """Every whitespace character of str.split() separates words, and nothing else does."""
    chars = [chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000]
    text = "".join(f"w{i}{c}" for i, c in enumerate(chars))
    # Raw text (no normalization, which turns punctuation into spaces): the kernel's own split.
    dedup = {"word_ngram": 1, "normalization": "none"}
    params = MinHashParams.from_config(config_from_dict({"dedup": dedup}))
    sketch = MinHash(num_perm=params.num_perm, seed=0, hashfunc=datasketch_hashfunc(params))
    sketch.update_batch([s.encode() for s in shingles(text, params)])
    assert len(shingles(text, params)) == sum(c.isspace() for c in chars) + 1
    assert np.array_equal(sketch.hashvalues, signatures(pa.array([text]), params)[0])


def test_exact_key_is_nfkc_lower_split_and_joined(shared_data):
    """The exact-duplicate key's compiled normalization is ``" ".join(nfkc_lower(t).split())``
    on real pages and around every whitespace character of str.split(), and the hash stays the
    one earlier batches' key indexes hold."""
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    texts = [
        *real_texts(shared_data)[:300],
        "".join(f"{c}Ａb\u0130{c}{c}ﬁ" for c in spaces),
        " \t",
        "",
        "\u03a3\u0391\u03a3 x",  # a capital sigma, whose lower case depends on the word's end
    ]
    for text in texts:
        assert normalize(text) == " ".join(nfkc_lower(text).split())
    assert (
        text_hash(" Hello,\u00a0 WORLD\n")
        == hashlib.blake2b(b"hello, world", digest_size=16).hexdigest()
    )


def test_normalization_makes_formatting_variants_of_real_pages_identical(shared_data):
    """Typographic quotes and dashes, undecoded entities, case, accents written apart, full-width
    digits and re-broken lines leave a real page's shingle set as it was (v1); raw, they do not."""
    from bench.dedup_quality import entities, recased, rewrapped, typographic

    texts = [t for t in real_texts(shared_data) if len(t.split()) >= 100][:30]
    assert len(texts) == 30
    rng = random.Random(0)

    def variant(text: str) -> str:
        text = rewrapped(recased(entities(typographic(text, rng), rng), rng), rng)
        return unicodedata.normalize("NFD", text).replace("1", "\uff11")

    def scores(normalization: str) -> list[float]:
        cfg = config_from_dict({"dedup": {"normalization": normalization}})
        params = MinHashParams.from_config(cfg)
        return [jaccard(shingle_set(t, params), shingle_set(variant(t), params)) for t in texts]

    assert min(scores("v1")) == 1.0
    assert np.median(scores("none")) < 0.9


def test_v2_reads_the_scripts_written_without_spaces(shared_data):
    """Real Chinese pages with 1% of their characters edited: as whitespace words (v1) a clause
    is one word and the copy falls far below the threshold; with each character a word (v2) it
    stays near 0.9, as an English page with 1% of its words edited does. v2 keeps the marks
    that tell kana apart, and gives Latin text the shingles v1 gives it."""
    from bench.corpus import warc_files
    from gristmill.pipeline.charset import decode_html
    from gristmill.pipeline.extract import extractor
    from gristmill.pipeline.warc import read_records

    with gzip.open(shared_data / "realpages.manifest.tsv.gz", "rt") as handle:
        chinese = {
            r["record_id"] for r in csv.DictReader(handle, delimiter="\t") if r["lang"] == "zh"
        }
    extract, pages = extractor("resiliparse"), []
    for path in warc_files():
        for rec in read_records(str(path), 1 << 24):
            if rec.record_id in chinese and rec.payload and len(pages) < 8:
                text = extract(decode_html(rec.payload, rec.charset)[0])
                pages += [text] if len(text) > 1500 else []
    assert len(pages) == 8
    rng = random.Random(0)

    def edited(text: str) -> str:
        chars = list(text)
        han = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
        for i in rng.sample(han, len(han) // 100):
            chars[i] = "的"
        return "".join(chars)

    params = {
        n: MinHashParams.from_config(config_from_dict({"dedup": {"normalization": n}}))
        for n in ("v1", "v2")
    }
    for text in pages:
        copy = edited(text)
        v1, v2 = (jaccard(shingle_set(text, p), shingle_set(copy, p)) for p in params.values())
        assert v1 < 0.8 < 0.88 < v2, (v1, v2)
    assert shingle_set("パン", params["v2"]).tolist() != shingle_set("ハン", params["v2"]).tolist()
    assert shingle_set("パン", params["v1"]).tolist() == shingle_set("ハン", params["v1"]).tolist()
    for text in real_texts(shared_data)[:50]:
        assert np.array_equal(shingle_set(text, params["v1"]), shingle_set(text, params["v2"]))


def test_bands_and_rows_from_threshold():
    cfg = DedupConfig(bands=None, rows=None, threshold=0.8, num_perm=128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert lsh_shape(cfg) == (lsh.b, lsh.r)
    assert lsh_shape(DedupConfig(bands=14, rows=8)) == (14, 8)  # FineWeb's, as configured
    # The default makes a pair at the threshold a candidate with probability >= 0.95.
    default = DedupConfig()
    bands, rows = lsh_shape(default)
    assert 1 - (1 - default.threshold**rows) ** bands >= 0.95 and bands * rows <= default.num_perm


@pytest.mark.parametrize(
    ("dedup_cfg", "key"),
    [
        ({"shingle": "line"}, "dedup.shingle"),
        ({"word_ngram": 0}, "dedup.word_ngram"),
        ({"threshold": 1.5}, "dedup.threshold"),
        ({"bands": 20, "rows": 8}, "dedup.bands"),
        ({"bands": None}, "dedup.bands"),
        ({"verify": "yes"}, "dedup.verify"),
        ({"local_max_docs": -1}, "dedup.local_max_docs"),
        ({"verify_jaccard": True}, "dedup.verify_jaccard' was replaced: use dedup.verify"),
    ],
)
def test_bad_config_names_the_key(dedup_cfg, key):
    with pytest.raises(ConfigError, match=key):
        config_from_dict({"dedup": dedup_cfg})


def test_union_find_chains():
    assert components("abcdxy", [("c", "d"), ("b", "c"), ("a", "b"), ("y", "x")]) == {
        "a": "a",
        "b": "a",
        "c": "a",
        "d": "a",
        "x": "x",
        "y": "x",
    }


def test_large_star_small_star_equals_union_find(spark, tmp_path):
    """Long paths in shuffled label order take several rounds; the result is union-find's."""
    rng = random.Random(1)
    labels = [f"v{i:03d}" for i in range(120)]
    rng.shuffle(labels)
    paths = [labels[i : i + 20] for i in range(0, 60, 20)]
    edges = [(a, b) for path in paths for a, b in itertools.pairwise(path)]
    edges += [tuple(rng.sample(labels[60:], 2)) for _ in range(30)]
    spark.sparkContext.setCheckpointDir(str(tmp_path))
    df = spark.createDataFrame(edges, "src string, dst string")
    expected = components({n for e in edges for n in e}, edges)
    found, rounds = connected_components(df)
    assert {r["node"]: r["component"] for r in found.collect()} == expected
    assert rounds >= 3


def test_driver_pairs_equal_spark_pairs(spark):
    """The driver's candidate pairs and verification equal the Spark job's on band rows with
    crowded buckets, earlier documents (two never linked), a doc_id both earlier and new, rows
    repeated, a doc_id with two signatures and one with none."""
    rng = np.random.default_rng(3)
    cfg = config_from_dict({})
    num_perm = MinHashParams.from_config(cfg).num_perm
    ids = [f"d{i:02d}" for i in range(30)]
    rows = [
        {"doc_id": rng.choice(ids), "band": int(rng.integers(3)), "bucket": int(rng.integers(4))}
        | {"earlier": bool(rng.random() < 0.3)}
        for _ in range(150)
    ]
    rows += [*rows[:10], dict(rows[0], earlier=not rows[0]["earlier"])]
    base = rng.integers(0, 50, num_perm, dtype=np.uint32)
    signed = []
    for doc_id in [*ids[:-1], ids[0]]:  # d00 twice, d29 none
        values = np.where(rng.random(num_perm) < rng.uniform(0.0, 0.5), 99, base)
        signed.append({"doc_id": doc_id, "signature": values.astype("<u4").tobytes()})
    bands_schema = pa.schema([*BAND_ROWS_SCHEMA, pa.field("earlier", pa.bool_())])
    bands = pa.Table.from_pylist(rows, bands_schema)
    sides = pa.Table.from_pylist(signed, SIGNATURE_SCHEMA)

    edges = dedup.candidate_edges(spark.createDataFrame(bands))
    spark_edges = {tuple(r) for r in edges.collect()}
    pairs = lsh_clusters.candidate_pairs(bands)
    assert set(map(tuple, map(dict.values, pairs.to_pylist()))) == spark_edges
    assert pairs.num_rows == len(spark_edges) > 20
    verified = dedup.verified_edges(edges, spark.createDataFrame(sides), cfg)
    spark_linked = {tuple(r) for r in verified.collect()}
    linked = lsh_clusters.verified_pairs(pairs, sides, num_perm, cfg.dedup.threshold)
    assert set(map(tuple, map(dict.values, linked.to_pylist()))) == spark_linked
    assert 0 < sum(r[-1] for r in spark_linked) < len(spark_linked) < pairs.num_rows


def test_driver_ranks_scores_as_spark_does(spark):
    """Each cluster's kept document on the driver is Spark's first by the job's order: a NaN
    score above every number, a null below, ties to the smallest doc_id, a doc_id's best row."""
    nan = float("nan")
    scores = [("a", 0.5), ("b", nan), ("c", 0.9), ("d", None), ("e", 0.2), ("e", nan)]
    scores += [("f", None), ("g", None), ("h", 0.4), ("h", None), ("i", 0.3)]
    found = pa.Table.from_pylist(
        [
            {"node": n, "component": c, "earlier": False}
            for c, members in {"a": "abc", "d": "de", "f": "fg", "h": "hi"}.items()
            for n in members
        ],
        lsh_clusters.NODES,
    )
    table = pa.Table.from_pylist(
        [{"doc_id": d, "quality_score": s} for d, s in scores],
        pa.schema([("doc_id", pa.string()), ("quality_score", pa.float64())]),
    )
    kept = lsh_clusters.kept_in_clusters(found, table).filter(pc.field("kept"))
    best = spark.createDataFrame(table).groupBy("doc_id").agg(F.max("quality_score"))
    nodes = spark.createDataFrame(found).withColumnRenamed("node", "doc_id")
    ranked = nodes.join(best.toDF("doc_id", "quality_score"), "doc_id", "left")
    order = Window.partitionBy("component").orderBy(*dedup.best_first())
    ranked = ranked.withColumn("rank", F.row_number().over(order))
    first = ranked.where(F.col("rank") == 1).select("doc_id").collect()
    assert sorted(kept.column("doc_id").to_pylist()) == sorted(r[0] for r in first)
    assert sorted(kept.column("doc_id").to_pylist()) == ["b", "e", "f", "h"]


def best(rows: list[dict]) -> str:
    return min(rows, key=best_first)["doc_id"]


def test_spark_equals_datasketch_whatever_the_partitioning(spark, planted, tmp_path):
    rows = planted["rows"]
    # One partition, more pairs than the driver may solve: all in Spark, components by the
    # large-star/small-star rounds; eight, the batch small enough for the driver to find,
    # verify and solve its pairs: the same answer.
    stats1, table1, clusters1, cfg = run_dedup(
        spark, rows, tmp_path / "one", 1, 1, local_components_max_edges=0
    )
    stats8, table8, clusters8, _cfg = run_dedup(spark, rows, tmp_path / "eight", 8, 8)
    got = decisions(table1, clusters1)
    assert got == decisions(table8, clusters8)
    assert sorted(map(tuple, map(dict.values, clusters1))) == sorted(
        map(tuple, map(dict.values, clusters8))
    )
    reference = {k: (d.drop_reason, d.component) for k, d in reference_dedup(rows, cfg).items()}
    assert got == reference

    by_id = {r["doc_id"]: r for r in rows}
    kept = {k for k, (reason, _c) in got.items() if reason is None}
    for copy, src in planted["exact"].items():
        assert {copy, src} & kept == {best([by_id[copy], by_id[src]])}
        assert EXACT_DUPLICATE in (got[copy][0], got[src][0])
    for copy, src in planted["near"].items():
        assert got[copy][1] == got[src][1] == min(copy, src)
        assert {copy, src} & kept == {best([by_id[copy], by_id[src]])}
    chain = planted["chain"]
    params = MinHashParams.from_config(cfg)
    # The chain's ends are no near duplicates of each other: only the links join them.
    ends = shingle_jaccard(by_id[chain[0]]["text"], by_id[chain[-1]]["text"], params)
    assert ends < cfg.dedup.threshold
    assert {got[c][1] for c in chain} == {min(chain)}
    assert set(chain) & kept == {"c3"}

    section = stats1["dedup"]
    assert section["fuzzy_duplicates"] == stats1["dropped"][FUZZY_DUPLICATE]
    assert (
        section["exact_duplicates"] == stats1["dropped"][EXACT_DUPLICATE] >= len(planted["exact"])
    )
    assert section["docs_in_clusters"] == len(clusters1)  # one batch: none from an earlier one
    assert section["clusters"] == len({c["component"] for c in clusters1})
    assert sum(section["cluster_sizes"].values()) == section["clusters"]
    assert section["cc_rounds"] >= 1 and stats8["dedup"]["cc_rounds"] == 0
    # Pairs found by Spark: at most local_components_max_edges of them, the driver's
    # union-find; one over, the rounds; the same answer either way.
    pairs = section["candidate_pairs"]
    assert pairs == stats8["dedup"]["candidate_pairs"]
    assert section["linked_pairs"] == stats8["dedup"]["linked_pairs"] <= pairs
    for limit, local in ((pairs, True), (pairs - 1, False)):
        stats, table, clusters, _cfg = run_dedup(
            spark, rows, tmp_path / f"limit{limit}", 2, 2, local_components_max_edges=limit,
            local_max_docs=0,
        )  # fmt: skip
        assert (stats["dedup"]["cc_rounds"] == 0) == local
        assert decisions(table, clusters) == got
    assert section["cluster_sizes"]["5-8"] >= 1  # the chain
    assert stats1["in"] == len(rows) and not list(tmp_path.rglob("*.tmp-*"))


def test_verified_char_shingles_equal_datasketch(spark, planted, tmp_path):
    rows = planted["rows"]
    stats, table, clusters, cfg = run_dedup(
        spark, rows, tmp_path / "out", 2, 2, shingle="char", verify="text", threshold=0.7
    )
    reference = {k: (d.drop_reason, d.component) for k, d in reference_dedup(rows, cfg).items()}
    assert decisions(table, clusters) == reference
    assert stats["dedup"]["linked_pairs"] <= stats["dedup"]["candidate_pairs"]
    for copy, src in planted["near"].items():
        assert reference[copy][1] == reference[src][1] is not None


def test_verification_unlinks_a_bucket_collision_below_the_threshold(spark, planted, tmp_path):
    """A real page and a rewrite of a third of it: they share an LSH bucket, but their exact
    Jaccard is under the threshold. Verified, they stay apart; skipping verification links them."""
    cfg = config_from_dict({"dedup": {"verify": "text"}})
    params = MinHashParams.from_config(cfg)
    source = planted["rows"][30]
    for start in np.arange(0.0, 0.7, 0.02):
        friend = {
            "doc_id": "z0",
            "text": replace_span(source["text"], start, 0.3, "fw"),
            "quality_score": None,
        }
        pair = [source, friend]
        collides = bool(candidate_edges(sketches(pair, params), params))
        if collides and shingle_jaccard(source["text"], friend["text"], params) < 0.75:
            break
    else:
        pytest.fail("no rewrite shares a bucket below the threshold")
    stats, table, *_ = run_dedup(spark, pair, tmp_path / "out", 1, 2, verify="text")
    assert stats["dedup"]["candidate_pairs"] == 1 and stats["dedup"]["linked_pairs"] == 0
    assert all(r["drop_reason"] is None for r in table)


def test_estimated_jaccard_agrees_with_datasketch_own_hashing(planted):
    """Our signatures and datasketch's own MinHash (SHA-1 hashing, its own permutations) of the
    same shingles estimate the same Jaccard: both within sampling error of the exact value."""
    params = MinHashParams.from_config(config_from_dict({}))
    by_id = {r["doc_id"]: r["text"] for r in planted["rows"]}
    pairs = [*planted["near"].items(), *itertools.pairwise(planted["chain"])]
    pairs += [(a["doc_id"], b["doc_id"]) for a, b in itertools.pairwise(planted["rows"][:20])]
    ours = dict(zip(by_id, signatures(pa.array(list(by_id.values())), params), strict=True))

    def theirs(doc_id: str) -> MinHash:
        sketch = MinHash(num_perm=params.num_perm, seed=1)
        sketch.update_batch([s.encode() for s in shingles(by_id[doc_id], params)])
        return sketch

    errors_ours, errors_theirs = [], []
    for a, b in pairs:
        exact = shingle_jaccard(by_id[a], by_id[b], params)
        errors_ours.append(abs(float(np.mean(ours[a] == ours[b])) - exact))
        errors_theirs.append(abs(theirs(a).jaccard(theirs(b)) - exact))
    # 112 hashes: a standard error of at most 0.047 (at J = 0.5).
    assert np.mean(errors_ours) < 0.04 and np.mean(errors_theirs) < 0.04
    assert max(errors_ours) < 0.2 and max(errors_theirs) < 0.2
    assert abs(np.mean(errors_ours) - np.mean(errors_theirs)) < 0.02


def templated_site(shared_data: Path, pages: int) -> list[dict]:
    """One site's pages: the same 150 real words (a template main-content extraction left in)
    and 60 real words of their own each. Pairs share about half their shingles (Jaccard about
    0.55), far under the threshold, and 18 x 6 bands make 40% of them candidates."""
    words = " ".join(real_texts(shared_data)).split()
    template = " ".join(words[:150])
    return [
        {
            "doc_id": f"s{k:03d}",
            "text": template + " " + " ".join(words[1000 + 60 * k : 1060 + 60 * k]),
            "quality_score": round(0.5 + k / 1000, 3),
        }
        for k in range(pages)
    ]


def test_pages_sharing_a_template_do_not_chain(spark, shared_data, tmp_path):
    """Unverified, a site's templated pages chain into one cluster through chance band matches
    and all but one are dropped; verified by signature (the default) each stays, while a real
    near copy of one of them is still found. The Spark job equals the reference either way."""
    site = templated_site(shared_data, 40)
    copy = {"doc_id": "t-copy", "quality_score": 0.1}
    copy["text"] = replace_words(site[7]["text"], 0.01, random.Random(1), "zq")
    rows = [*site, copy]
    params = MinHashParams.from_config(config_from_dict({}))
    assert shingle_jaccard(site[0]["text"], site[1]["text"], params) < 0.6
    dropped = {}
    for verify in ("signature", "none"):
        _stats, table, clusters, cfg = run_dedup(
            spark, rows, tmp_path / verify, 2, 2, verify=verify
        )
        got = decisions(table, clusters)
        reference = reference_dedup(rows, cfg)
        assert got == {k: (d.drop_reason, d.component) for k, d in reference.items()}
        dropped[verify] = {k for k, (reason, _) in got.items() if reason == FUZZY_DUPLICATE}
    assert dropped["signature"] == {"t-copy"}
    assert len(dropped["none"]) >= 30


def test_a_new_nights_templated_pages_are_verified_against_earlier_signatures(
    spark, shared_data, tmp_path
):
    """Night 2's pages of a site whose pages night 1 kept: most share a band with an earlier
    sibling, and unverified would be dropped against it; the earlier documents' signatures,
    looked up by doc_id, keep them, and the real near copy is still dropped. Rebuilt from the
    texts (an output deduplicated before signatures were stored), the index gives the same, and
    so do Spark's pairs (night 2 again, with the driver's pairs off)."""
    site = templated_site(shared_data, 60)
    copy = {"doc_id": "t-copy", "quality_score": 0.9}
    copy["text"] = replace_words(site[3]["text"], 0.01, random.Random(2), "zq")
    nights = [site[:30], [*site[30:], copy]]
    cfg = config_from_dict({})
    out = tmp_path / "out"
    outcomes = []
    for night, rows in enumerate([*nights, nights[1]], 1):
        batch = min(night, 2)
        if night <= 2:
            write_quality_stage(rows, out, 2, batch)
            ledger = Ledger.of_imported_batch(out, ["ingest", "quality"])
        if night == 2:  # the earlier rows sharing its buckets past the driver's bound: Spark's
            index = dedup.EarlierKeys(spark, out, cfg, [1])
            params = MinHashParams.from_config(cfg)
            signed = dedup.batch_signatures(read_kept_texts(spark, out, "quality", [2]), params)
            tight = config_from_dict({"dedup": {"local_max_docs": 1}})
            assert dedup.driver_graph(index, signed, tight, True) is None
            assert dedup.driver_graph(index, signed, cfg, True) is not None
        if night == 3:  # night 2 again, its earlier signatures computed from night 1's kept texts
            shutil.rmtree(Layout(out).dedup_index("minhashes"))
            shutil.rmtree(Layout(out).dedup_minhashes(1))
            cfg = config_from_dict({"dedup": {"local_max_docs": 0}})
        stats = dedup.run_batch(spark, out, cfg, batch, ledger)
        ledger.mark(batch, "dedup", stats, "test", "test")
        ledger.save()
        if batch == 2:
            table = pq.read_table(Layout(out).stage("dedup", 2)).to_pylist()
            outcomes.append({r["doc_id"] for r in table if r["drop_reason"] == FUZZY_DUPLICATE})
            section = stats["dedup"]
            assert section["against_earlier"]["fuzzy_duplicates"] == 1
            assert section["candidate_pairs"] >= 20 and section["linked_pairs"] == 1
    assert outcomes == [{"t-copy"}, {"t-copy"}]
