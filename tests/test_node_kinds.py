"""The node executors (runtime/nodes/): one module per kind, one table, no way back to the engine."""

from __future__ import annotations

import ast

from flowc_testkit import ROOT, plan_of

from flowc.runtime.engine import SUPPORTED_KINDS, Engine
from flowc.runtime.nodes import KINDS
from flowc.runtime.nodes.base import NodeKind, NodeResult

NODES = ROOT / "runtime" / "nodes"


def _imports(path) -> set[str]:
    """The modules a file imports, relative ones as written (`..engine`, `.base`)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_executor_imports_the_engine():
    for path in sorted(NODES.glob("*.py")):
        bad = {m for m in _imports(path) if m.rsplit(".", 1)[-1] == "engine"}
        assert not bad, f"{path.name} imports {bad}"


def test_the_table_holds_every_kind_the_engine_runs_each_in_its_own_module():
    assert set(KINDS) == SUPPORTED_KINDS
    for name, kind in KINDS.items():
        assert kind.name == name
        assert (NODES / f"{name}.py").exists(), f"kind `{name}` has no module of its own"


def test_the_engine_runs_whatever_executor_the_table_holds(store, monkeypatch):
    # the engine knows no kind's internals: swapping the `code` executor changes what a
    # code node does, and nothing else is needed (no sandbox is started)
    seen = []

    def fake(node, config, scope, ctx):
        seen.append((node.id, ctx.item, ctx.run.id))
        return NodeResult("succeeded", 41 + len(seen))

    monkeypatch.setitem(KINDS, "code", NodeKind("code", fake, retries=True))
    plan = plan_of('''flow f version "1.0.0"
node answer: int = code python() """
result = 1
"""
output a: int = answer
''')
    with Engine(store) as engine:
        run = engine.start(plan, {})
    assert run.status == "succeeded" and run.outputs == {"a": 42}
    assert seen == [("answer", -1, run.id)]
