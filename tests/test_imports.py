"""Imports inside ``islr`` point one way, down the layer table of docs/architecture.md ("Import direction",
checked by tests/test_docs.py; tuning calls training, never the reverse): the graph of islr-internal imports has
no cycle.

Every ``import`` / ``from … import`` counts, at module level or inside a function (a deferred import still ties
the two modules together), as does ``importlib.import_module("islr.…")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from islr import paths  # noqa: F401  (the package under test must import)

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "islr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The islr module that importing ``name`` runs: itself, else its nearest enclosing module (a name in it)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The islr modules that ``module`` (source file ``path``) imports anywhere in its body."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names += [f"{base}.{alias.name}" for alias in node.names]  # a submodule, or a name in ``base``
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names.append(node.args[0].value)
    targets = {_target(n, modules) for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}
    return {t for t in targets if t and t != module}


def import_graph() -> dict[str, set[str]]:
    """``{module: the islr modules it imports}`` for every module of src/islr."""
    modules = _modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, as ``[a, b, …, a]`` (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(sorted(c)[0], c, graph) for c in components]


def _cycle_in(start: str, component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path start → … → start inside one strongly connected component (breadth-first)."""
    parents: dict[str, str | None] = {start: None}
    queue = [start]
    for v in queue:  # grows while it is read: breadth-first
        for w in sorted(graph.get(v, ()) & component):
            if w == start:
                path = [v]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if w not in parents:
                parents[w] = v
                queue.append(w)
    raise AssertionError(f"{start} is not on a cycle of {sorted(component)}")


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c", "a"]]),
    ({"a": {"a"}}, [["a", "a"]]),
    ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c", "e"}, "e": set()}, [["a", "b", "a"], ["c", "d", "c"]]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, []),
])
def test_find_cycles_names_each_cycle(graph, expected):
    assert sorted(find_cycles(graph)) == expected


def test_graph_sees_deferred_and_relative_imports(tmp_path):
    modules = {"islr": tmp_path / "islr/__init__.py", "islr.a": tmp_path / "islr/a.py",
               "islr.pkg": tmp_path / "islr/pkg/__init__.py", "islr.pkg.b": tmp_path / "islr/pkg/b.py"}
    source = ("import os\nfrom . import a\nfrom .. import a as again\n\n\ndef f():\n    from islr.pkg.b import thing\n"
              "    import importlib\n    return importlib.import_module('islr')\n")
    path = tmp_path / "islr/pkg/c.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    # ``from . import a`` in islr.pkg.c names islr.pkg.a (absent: falls back to the package islr.pkg).
    assert imports_of("islr.pkg.c", path, modules) == {"islr.pkg", "islr.a", "islr.pkg.b", "islr"}


def test_no_import_cycle_in_islr():
    graph = import_graph()
    assert {"islr.tune", "islr.train.run", "islr.config"} <= set(graph)  # the walk found the package
    assert "islr.train.run" in graph["islr.tune"]  # deferred imports are edges
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in src/islr:\n" + "\n".join(" -> ".join(c) for c in cycles)
