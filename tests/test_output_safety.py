"""Output safety: a run writes and deletes only inside its output directory, names that come
from inputs or config cannot point elsewhere, and no user data is ever unpickled or evaluated."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gristmill.jobs.stage_io import commit, temp_path
from gristmill.pipeline.benchmarks import benchmark_name
from gristmill.pipeline.documents import doc_id_for

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "filters", "jobs", "schemas", "trainer")
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}


def sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]


def test_no_pickle_eval_unsafe_yaml_or_shell():
    problems = []
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if FORBIDDEN_MODULES & {n.split(".")[0] for n in names}:
                    problems.append(f"{where}: imports {names}")
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            keywords = {k.arg: k.value for k in node.keywords}
            if isinstance(func, ast.Name) and name in FORBIDDEN_CALLS:
                problems.append(f"{where}: {name}()")
            if name in ("load", "load_all") and ast.unparse(func).startswith("yaml."):
                problems.append(f"{where}: yaml.{name} (use yaml.safe_load)")
            shell = keywords.get("shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                problems.append(f"{where}: shell=True")
            if ast.unparse(func) == "torch.load":
                safe = keywords.get("weights_only")
                if not (isinstance(safe, ast.Constant) and safe.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
    assert not problems, problems


def test_commit_refuses_to_leave_the_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    tmp = temp_path(out, out / "stages" / "x")
    tmp.mkdir(parents=True)
    with pytest.raises(ValueError, match="not inside the output"):
        commit(tmp, outside, out)
    with pytest.raises(ValueError, match="not inside the output"):
        commit(tmp, out / ".." / "precious", out)
    assert (outside / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError):
        temp_path(out, tmp_path / "elsewhere")


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/abs/path", "a/b\\\\c", "..", "\x00x"])
def test_names_from_inputs_never_hold_a_path(hostile):
    assert len(doc_id_for(hostile, None, hostile, 0)) == 32
    assert doc_id_for(hostile, None, hostile, 0).isalnum()
    clean_file = f"{benchmark_name(Path(f'{hostile}.jsonl'))}.jsonl"  # decontamination/clean/
    assert Path(clean_file).name == clean_file and clean_file not in (".", "..")


def test_a_run_writes_nothing_beside_its_output(result):
    out = result[0]
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve()), path
