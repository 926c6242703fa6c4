"""Bad command lines and bad configs: exit code 2, a message naming the problem, and nothing
written, not even the output directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gristmill.pipeline.cli import main


@pytest.fixture
def warc(shared_data) -> Path:
    return shared_data / "warc" / "realpages-00004.warc.gz"


RUN = ["run", "--input", "{warc}", "--output", "{out}"]
# name: (command line, config file text or None, what the message must name)
CASES = {
    "no input": (["run", "--output", "{out}"], None, "one of the arguments --input"),
    "unknown flag": ([*RUN, "--fast"], None, "--fast"),
    "missing input": (
        ["run", "--input", "/nonexistent/x.warc.gz", "--output", "{out}"],
        None,
        "input not found: /nonexistent/x.warc.gz",
    ),
    "max files 0": ([*RUN, "--max-files", "0"], None, "--max-files must be >= 1"),
    "bad crawl id": (
        ["run", "--crawl-id", "2024-10", "--output", "{out}"],
        None,
        "not a Common Crawl id",
    ),
    "unknown command": (["explode", "--output", "{out}"], None, "invalid choice"),
    "missing benchmark": ([*RUN, "--benchmark", "/none.jsonl"], None, "/none.jsonl"),
    "missing config": ([*RUN, "--config", "/none.yaml"], None, "/none.yaml"),
    "unknown key": (RUN, "dedup:\n  treshold: 0.8\n", "dedup.treshold"),
    "wrong type": (RUN, "dedup:\n  num_perm: many\n", "dedup.num_perm"),
    "out of range": (RUN, "quality:\n  min_lang_score: 1.5\n", "quality.min_lang_score"),
    "bad bucket name": (
        RUN,
        "tokenize:\n  buckets:\n    - {name: ../../escape}\n",
        "tokenize.buckets.name",
    ),
    "yaml syntax": (RUN, "a: [1,\n", "not valid YAML"),
    "not a mapping": (RUN, "- 1\n", "expected a mapping"),
    "stage before any batch": (["dedup", "--output", "{out}"], None, "no batch yet"),
    "unknown batch": (["quality", "--output", "{out}", "--batch", "4"], None, "batch 4"),
    "tokenize too early": (["tokenize", "--output", "{out}"], None, "no batch yet"),
    "card too early": (["card", "--output", "{out}"], None, "no shards yet"),
    "ablate one config": (
        ["ablate", "--input", "{warc}", "--heldout", "{warc}", "--output", "{out}"],
        "quality: {recipe: none}\n",
        "give --config twice",
    ),
    "ablate not runs": (
        ["ablate", "--runs", "{out}", "{out}", "--heldout", "{warc}", "--output", "{out}"],
        None,
        "no shards/manifest.json and stats.json",
    ),
    "ablate same heldout names": (
        ["ablate", "--runs", "a", "b", "--heldout", "{warc}", "{warc}", "--output", "{out}"],
        None,
        "--heldout sets must have different names",
    ),
    "ablate no steps": (
        ["ablate", "--runs", "a", "b", "--heldout", "{warc}", "--steps", "0", "--output", "{out}"],
        None,
        "--steps must be >= 1",
    ),
    "ablate missing heldout": (
        ["ablate", "--runs", "a", "b", "--heldout", "/none.txt", "--output", "{out}"],
        None,
        "--heldout /none.txt: no such file",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_usage_errors_exit_2_and_write_nothing(case, warc, tmp_path, capsys):
    template, config_text, message = CASES[case]
    out = tmp_path / "out"
    argv = [a.replace("{out}", str(out)).replace("{warc}", str(warc)) for a in template]
    if config_text is not None:
        config = tmp_path / "config.yaml"
        config.write_text(config_text)
        argv += ["--config", str(config)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


HEAVY = ("pyspark", "numba", "fasttext", "matplotlib", "kenlm", "tiktoken")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["ablate", "--help"],
        ["run", "--output", "x"],
        ["train-lm", "--order"],
    ],
)
def test_help_and_usage_errors_load_nothing_heavy(argv):
    """Answered before pyspark (let alone a JVM), numba, fastText or matplotlib are imported."""
    script = (
        "import sys\n"
        "from gristmill.pipeline.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    code, loaded = done.stdout.strip().splitlines()[-1].split(" ", 1)
    assert loaded == "[]", done.stdout
    assert code == ("0" if "--help" in argv else "2")
    assert ("usage: gristmill" in done.stdout + done.stderr) and "Traceback" not in done.stderr
