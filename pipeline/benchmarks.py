"""Reading benchmark test sets for decontamination: JSONL, JSON, CSV/TSV or plain text (each
non-blank line an example: held-out reference text such as WikiText), gzipped or not.

An example's text is the values of the fields in :data:`TEXT_FIELDS` (or the file's own list,
from config) it has (strings, or lists of strings such as multiple-choice options). Two views of
it serve decontamination's two rules:

- ``texts``, each field on its own: the training text loses any 13-gram of one of them;
- ``sequences``, as GPT-3's appendix C joins context and completion to label an example dirty:
  the example's context fields joined, followed by one of its completions (the fields in
  :data:`CHOICE_FIELDS`, each option its own sequence: a page holds a PIQA goal with the right
  solution, not with both), or the context alone when it has none.

An example's id is its ``id``-like field, else its line or row number.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gristmill.pipeline.errors import UsageError

TEXT_FIELDS = (
    "text", "question", "answer", "goal", "sol1", "sol2", "prompt", "canonical_solution",
    "context", "passage", "choices", "query", "premise", "hypothesis", "sentence", "ctx",
    "endings", "Question", "Best Answer", "Correct Answers", "Incorrect Answers",
)  # fmt: skip
# Fields holding an example's alternative completions (multiple-choice options, answers).
CHOICE_FIELDS = (
    "sol1", "sol2", "choices", "endings", "Best Answer", "Correct Answers", "Incorrect Answers",
)  # fmt: skip
ID_FIELDS = ("id", "task_id", "idx", "example_id", "qid", "ID")
# Fields that hold a list in one string, its items joined by "; " (TruthfulQA's CSV): each item
# is its own answer, as a page holds one answer, not the list.
JOINED_FIELDS = {"Correct Answers": ";", "Incorrect Answers": ";"}
# GSM8K's calculator annotations inside its solutions.
_CALCULATOR = re.compile(r"<<[^<>\n]*>>")
# Keys whose values hold an example's text inside a nested field: HF ARC's and SQuAD's
# {"text": [...], "label": [...]}, OpenBookQA's and old ARC's {"stem": ..., "choices": [...]}.
NESTED_TEXT_KEYS = ("stem", "text", "choices")


class BenchmarkError(UsageError):
    """A benchmark file that cannot be read as examples."""


@dataclass(frozen=True)
class Example:
    id: str
    texts: tuple[str, ...]
    raw: str  # the example as one JSON line, for writing the clean subset back out
    sequences: tuple[str, ...] = ()  # context + each completion (see the module docstring)


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: str
    examples: tuple[Example, ...]


def benchmark_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".csv", ".tsv", ".txt"):
        name = name.removesuffix(suffix)
    return name


def _texts(record: dict[str, Any], fields: tuple[str, ...]) -> tuple[str, ...]:
    texts: list[str] = []
    for key in fields:
        value = record.get(key)
        if isinstance(value, str) and key in JOINED_FIELDS:
            value = value.split(JOINED_FIELDS[key])
        texts.extend(_strings(value))
    return tuple(texts)


def _strings(value: Any) -> list[str]:
    """The non-blank strings of a field: itself, a list's items, or a nested record's text
    (:data:`NESTED_TEXT_KEYS`), which was left out whole before (ARC's options, SQuAD's
    answers: such an example could never be found dirty). A string with GSM8K's calculator
    notes (``<<16-3-4=9>>``) counts twice, with and without them: a page that copies a
    solution mostly shows it as people read it, without them, where none of the solution's
    n-grams across a note matched."""
    if isinstance(value, str):
        if not value.strip():
            return []
        plain = _CALCULATOR.sub("", value) if "<<" in value else value
        return list(dict.fromkeys((value.strip(), plain.strip())))
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for key in NESTED_TEXT_KEYS for s in _strings(value.get(key))]
    return []


def _sequences(record: dict[str, Any], fields: tuple[str, ...]) -> tuple[str, ...]:
    """The context fields joined, then each completion after it (or the context alone)."""
    context = " ".join(_texts(record, tuple(f for f in fields if f not in CHOICE_FIELDS)))
    choices = _texts(record, tuple(f for f in fields if f in CHOICE_FIELDS))
    joined = [f"{context} {c}".strip() for c in choices] if choices else [context]
    return tuple(dict.fromkeys(s for s in joined if s))


def read_benchmark(
    path: str | Path, fields: tuple[str, ...] = TEXT_FIELDS, id_field: str | None = None
) -> Benchmark:
    """Read a benchmark; ``fields`` and ``id_field`` override the default layouts for a file."""
    path = Path(path)
    id_fields = (id_field,) if id_field else ID_FIELDS

    def _example(record: dict[str, Any], number: int, raw: str) -> Example:
        ident = next((str(record[k]) for k in id_fields if record.get(k) not in (None, "")), None)
        return Example(
            id=ident or str(number),
            texts=_texts(record, fields),
            raw=raw,
            sequences=_sequences(record, fields),
        )

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchmarkError(f"cannot read benchmark {path}: {exc.strerror}") from exc
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"benchmark {path} is not UTF-8 text (gzipped or not): {exc}") from exc
    plain = path.name.removesuffix(".gz")
    examples: list[Example] = []
    try:
        if plain.endswith(".txt"):  # reference text: each non-blank line (paragraph) an example
            for number, line in enumerate(text.splitlines()):
                if line.strip():
                    record = {"text": line.strip()}
                    examples.append(
                        _example(record, number, json.dumps(record, ensure_ascii=False))
                    )
        elif plain.endswith((".csv", ".tsv")):
            delimiter = "\t" if plain.endswith(".tsv") else ","
            for number, row in enumerate(csv.DictReader(io.StringIO(text), delimiter=delimiter)):
                examples.append(_example(row, number, json.dumps(row, ensure_ascii=False)))
        elif plain.endswith(".json"):
            loaded = json.loads(text)
            items = (
                loaded.get("examples", loaded.get("data")) if isinstance(loaded, dict) else loaded
            )
            if not isinstance(items, list):
                raise BenchmarkError(f"{path}: expected a list or {{'examples': [...]}}")
            for number, item in enumerate(items):
                examples.append(_example(item, number, json.dumps(item, ensure_ascii=False)))
        else:
            for number, line in enumerate(text.splitlines()):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise BenchmarkError(
                            f"benchmark {path}, line {number + 1}: not a JSON object: {exc}"
                        ) from exc
                    examples.append(_example(record, number, line))
    except (json.JSONDecodeError, csv.Error, AttributeError) as exc:
        raise BenchmarkError(f"benchmark {path} is not valid JSON/JSONL/CSV: {exc}") from exc
    if not any(e.texts for e in examples):
        raise BenchmarkError(f"benchmark {path} has no text in any of the fields {fields}")
    return Benchmark(benchmark_name(path), str(path), tuple(examples))
