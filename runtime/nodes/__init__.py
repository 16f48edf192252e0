"""The node executors: one module per node kind, each registered here in `KINDS`.

Every kind module defines `KIND`, a `NodeKind` (base.py): its executor, a function
`(node, config, scope, ctx) -> NodeResult`, and what the engine needs to schedule it
(retries, waits for a person, calls a model, runs parts of its own). The engine looks a
node's kind up in `KINDS` and knows nothing else about it. A new kind is a new module here
plus its line below (and the compiler's checker rule for its syntax).

Shared code: base.py (the result, the context, the table's entry), files.py (staging and
recording files), external.py (an external effect's records), shell.py (command lines),
people.py (a task's people), model.py (what the model-backed kinds share).
"""

from __future__ import annotations

from . import agent, ask, code, command, extract, flow, for_each, gate, llm, skill
from .base import NodeKind

__all__ = ["KINDS", "executed_kind"]

KINDS: dict[str, NodeKind] = {k.name: k for k in (
    gate.KIND,
    ask.KIND,
    code.KIND,
    for_each.KIND,
    flow.KIND,
    command.KIND,
    skill.KIND,
    llm.KIND,
    agent.KIND,
    extract.KIND,
)}


def executed_kind(node) -> tuple[str | None, dict]:
    """The kind a node's executions run and their configuration: a `for each` node's body,
    any other node itself."""
    spec = KINDS.get(node.kind)
    if spec is not None and spec.body is not None:
        return spec.body(node)
    return node.kind, node.config
