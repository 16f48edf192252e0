"""The import graph of the `flowc` package has no cycle.

Every module under `flowc` (the folders pyproject.toml maps into the namespace: `flowc/`,
`compiler/`, `runtime/`, `lsp/`, ...) is parsed with `ast`; every import is an edge, at the top
of the module or inside a function (a lazy import that exists for start-up speed still ties
the two modules together), with relative imports resolved against the importing package.
Imports under `if TYPE_CHECKING:` are left out: they never run, and they are how a lower layer
names a higher one's types. An edge goes to the module imported (`from a.b import c` to `a.b.c`
when that is a module, else to `a.b`), not to the packages above it.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    """Every module of the `flowc` namespace: dotted name -> file."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    out: dict[str, Path] = {}
    for package in setup["packages"]:
        folder = ROOT / setup["package-dir"][package]
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import node in `tree` that runs (those under `if TYPE_CHECKING:` do not)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that importing `name` loads: itself, or its nearest known parent."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [_target(a.name, modules) for a in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [_target(f"{source}.{a.name}", modules) for a in node.names]
            for target in targets:
                if target is not None and target != name:
                    graph.add_edge(name, target, line=node.lineno)
    return graph


def test_the_graph_sees_the_modules_and_their_lazy_imports():
    graph = import_graph()
    assert "flowc.cli" in graph and "flowc.compiler.checker" in graph
    assert "flowc.runtime.sandbox" in graph and "flowc.lsp.server" in graph
    assert graph.has_edge("flowc.compiler.checker", "flowc.compiler.syntax")  # `from . import`
    assert graph.has_edge("flowc.lsp_cli", "flowc.lsp.server")  # inside a function


def test_no_import_cycle():
    graph = import_graph()
    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            cycles.append(cycle[0][0] + "".join(
                f" -> (line {graph.edges[u, v]['line']}) {v}" for u, v in cycle))
    if cycles:
        pytest.fail("import cycles:\n" + "\n".join(sorted(cycles)))
