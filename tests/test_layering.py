"""Import boundaries: the domain and the trainers load no web, database or queue code; no module imports itself
through others (no import cycle)."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

FORBIDDEN = {
    "advisor": [
        "fastapi",
        "starlette",
        "sqlalchemy",
        "alembic",
        "torch",
        "xgboost",
        "lightgbm",
        "sklearn",
        "pandas",
        "numpy",
        "celery",
    ],
    "trainers": ["torch", "fastapi", "starlette", "sqlalchemy", "alembic", "celery"],
}


def _loaded_top_level_modules(package: str) -> set[str]:
    code = f"import json, sys; import {package}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_layer(package: str) -> None:
    loaded = _loaded_top_level_modules(package)
    assert package in loaded
    assert sorted(loaded & set(FORBIDDEN[package])) == []


# -- import cycles --------------------------------------------------------------------------------------------------
# The project's modules form no import cycle, counting imports inside functions: a function-level import that
# only dodges a cycle hides it (the two modules still need each other, and the order they load in decides
# whether the program starts). Lazy imports of third-party packages (torch, onnx, Pillow, celery) are fine;
# between project modules the graph must be acyclic either way. Imports under ``if TYPE_CHECKING:`` never run
# and are left out: they name types, they do not load code.
PROJECT_PACKAGES = ("advisor", "trainers", "service")

# Imports that still close a cycle, each with the change that removes it. This list only shrinks: a new cycle is
# broken, not added here (and an entry that no longer closes a cycle fails the test below until it is removed).
# An edge allowed while a refactor in flight removes it (importer, imported) -> why; empty when none is.
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {}

Edge = tuple[str, int]  # (file, line) of the import statement that makes the edge


def _module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every module name imported anywhere in ``tree`` (functions and classes included), with its line;
    ``from a import b`` names ``a.b`` (the caller keeps it only if that is a module, else falls back to ``a``)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([node.module] if node.module else [])])
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _packages_of(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph(root: Path, packages: tuple[str, ...] = PROJECT_PACKAGES) -> dict[str, dict[str, Edge]]:
    """``{importer: {imported: (file, line)}}`` between the modules of ``packages`` under ``root``.

    Importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``: those packages are edges too,
    except the ones that enclose the importer (they are loaded before it anyway)."""
    files = _module_files(root, packages)
    graph: dict[str, dict[str, Edge]] = {}
    for module, path in files.items():
        edges = graph[module] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        enclosing = _packages_of(module)
        for name, line in _imported_names(tree, module, path.name == "__init__.py"):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if not name:
                continue  # not a project module
            for target in {name} | (_packages_of(name) - enclosing):
                if target != module:
                    edges.setdefault(target, (path.relative_to(root).as_posix(), line))
    return graph


def strongly_connected(graph: dict[str, dict[str, Edge]]) -> list[list[str]]:
    """The groups of two or more modules that all import each other, directly or not (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(groups)


def describe_cycle(graph: dict[str, dict[str, Edge]], group: list[str]) -> str:
    """One cycle through ``group``'s first module, each step with the import that makes it."""
    members = set(group)
    start = group[0]
    came_from: dict[str, str] = {}
    queue = [start]
    while queue:  # breadth first: the shortest way back to ``start``
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt not in members or nxt in came_from:
                continue
            came_from[nxt] = node
            if nxt == start:
                queue = []
                break
            queue.append(nxt)
    path = [start]
    while True:
        path.append(came_from[path[-1]])
        if path[-1] == start:
            break
    path.reverse()
    steps = [f"    {a} -> {b}  ({':'.join(map(str, graph[a][b]))})" for a, b in itertools.pairwise(path)]
    rest = "" if len(group) == len(path) - 1 else f"\n  (the cycle's group: {', '.join(group)})"
    return "import cycle:\n" + "\n".join(steps) + rest


def _without(graph: dict[str, dict[str, Edge]], edges: Collection[tuple[str, str]]) -> dict[str, dict[str, Edge]]:
    return {a: {b: e for b, e in targets.items() if (a, b) not in edges} for a, targets in graph.items()}


ROOT = Path(__file__).resolve().parents[1]


# Which project packages each may import: service -> trainers -> advisor, never back.
MAY_IMPORT = {
    "advisor": {"advisor"},
    "trainers": {"advisor", "trainers"},
    "service": {"advisor", "trainers", "service"},
}


def test_packages_import_one_way() -> None:
    wrong = [
        f"{a} imports {b} ({':'.join(map(str, edge))})"
        for a, targets in import_graph(ROOT).items()
        for b, edge in targets.items()
        if b.split(".")[0] not in MAY_IMPORT[a.split(".")[0]]
    ]
    assert wrong == []


def test_project_modules_import_no_cycle() -> None:
    graph = _without(import_graph(ROOT), KNOWN_CYCLE_EDGES)
    cycles = [describe_cycle(graph, group) for group in strongly_connected(graph)]
    assert not cycles, "Break these (move what both sides need into a module both can import):\n" + "\n".join(cycles)


def test_each_known_cycle_edge_still_closes_a_cycle() -> None:
    """An allowed edge that no longer closes a cycle must leave the list (it is empty today)."""
    full = import_graph(ROOT)
    for edge in sorted(KNOWN_CYCLE_EDGES):
        graph = _without(full, set(KNOWN_CYCLE_EDGES) - {edge})
        assert edge[1] in graph[edge[0]], f"{edge[0]} no longer imports {edge[1]}: remove it from KNOWN_CYCLE_EDGES"
        assert any(set(edge) <= set(group) for group in strongly_connected(graph)), (
            f"{edge[0]} -> {edge[1]} closes no cycle any more: remove it from KNOWN_CYCLE_EDGES"
        )


def test_the_cycle_check_sees_imports_in_functions_and_packages(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "def f():\n    from pkg import c\n",
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.d\nimport json\n",
        "pkg/d.py": "from pkg.c import x\n",
        "pkg/sub/__init__.py": "def install():\n    from pkg.e import y\n",
        "pkg/sub/leaf.py": "",
        "pkg/e.py": "from pkg.sub.leaf import z\n",
        "pkg/f.py": "from . import a\n",
        "pkg/g.py": "from .sub import leaf\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b": ("pkg/a.py", 1)}
    assert graph["pkg.b"] == {"pkg.c": ("pkg/b.py", 2)}  # in a function: counted
    assert graph["pkg.c"] == {}  # under TYPE_CHECKING or third-party: left out
    assert set(graph["pkg.e"]) == {"pkg.sub", "pkg.sub.leaf"}  # importing a module runs its package's __init__
    assert set(graph["pkg.f"]) == {"pkg.a"} and set(graph["pkg.g"]) == {"pkg.sub", "pkg.sub.leaf"}
    assert strongly_connected(graph) == [["pkg.e", "pkg.sub"]]
    message = describe_cycle(graph, ["pkg.e", "pkg.sub"])
    assert "pkg.e -> pkg.sub  (pkg/e.py:1)" in message and "pkg.sub -> pkg.e  (pkg/sub/__init__.py:2)" in message


LONG_FILE_LINES = 500


def test_a_long_source_file_says_why_at_its_top() -> None:
    """Modules of one concern: a source file over 500 lines states, at its top, why it stays one file."""
    unexplained = []
    for package in ("advisor", "trainers", "service", "bench", "client"):
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) > LONG_FILE_LINES and not any("Over 500 lines on purpose" in line for line in lines[:15]):
                unexplained.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert not unexplained, "Split these, or say at the top why each stays one file: " + ", ".join(unexplained)
