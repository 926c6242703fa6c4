"""The modules' import graph has no cycles: every module can be read, and imported, after the
ones it depends on (imports inside functions, which break a cycle on purpose, are not edges)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "jobs", "filters", "schemas", "trainer")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(("gristmill", *parts)).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Module -> the gristmill modules its top-level statements import."""
    files = {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gristmill"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("gristmill")}
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 50 and graph["gristmill.pipeline.cli"]
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert set(order) == set(graph)
