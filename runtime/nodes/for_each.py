"""`for each` nodes: the body (a node of another kind) run once per item of a list.

Each item is a part of its own: attempted with the node's retries and committed on its own
(the engine does both, `Host.run_parts`), at most `concurrency` side by side. Items already
settled are not run again; the node's value is the list of the items' values, in order.
"""

from __future__ import annotations

from ..expressions import MISSING, EvaluationError, Scope, evaluate
from .base import NodeContext, NodeKind, NodeResult, Part, checked

__all__ = ["KIND"]

_FINAL = ("succeeded", "failed", "skipped")


def _items(ctx: NodeContext, node) -> dict:
    return {r.item: r for r in ctx.store.node_results(ctx.run.id)
            if r.node_id == node.id and r.item >= 0}


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    items = evaluate(config["over"], scope)
    if items is MISSING or items is None:
        raise EvaluationError("`for each` goes over a missing list")
    done = _items(ctx, node)
    body = config["body"]
    todo = [i for i in range(len(items))
            if done.get(i) is None or done[i].status not in _FINAL]
    parts = [Part(i, body["kind"], body, scope.child(**{config["var"]: items[i]}),
                  done[i].status if done.get(i) is not None else None) for i in todo]
    outcomes = ctx.host.run_parts(ctx.run, ctx.plan, node, parts,
                                  max(1, int(config.get("concurrency", 1))))
    for i, r in zip(todo, outcomes, strict=True):
        if r.status == "failed":
            return NodeResult("failed", error=f"item {i}: {r.error}")
    if any(r.status == "waiting" for r in outcomes):
        return NodeResult("waiting")
    done = _items(ctx, node)
    return checked(node, [done[i].output for i in range(len(items))])


def body(node) -> tuple[str | None, dict]:
    """The kind and configuration each item runs."""
    return node.config.get("body", {}).get("kind"), node.config.get("body", node.config)


KIND = NodeKind("for_each", execute, retries=True, container=True, body=body)
