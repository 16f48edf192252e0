"""`flow` nodes: a sub-flow the plan carries, run as a child run; its outputs are the value.

The child run is started once (found again by its parent node on later executions) and
advanced as far as it goes; while it waits (a person, say) the node waits too, and the
child's end wakes this run.
"""

from __future__ import annotations

from ..expressions import MISSING, Scope, evaluate
from .base import NodeContext, NodeKind, NodeResult, checked

__all__ = ["KIND"]


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    run, item = ctx.run, ctx.item
    sub = next((f.plan for f in ctx.plan.flows if f.alias == config["flow"]), None)
    if sub is None:
        return NodeResult("failed", error=f"the plan lacks the flow `{config['flow']}`")
    child = ctx.store.child_run(run.id, f"{node.id}#{item}")
    if child is None:
        args = {k: evaluate(v, scope) for k, v in config.get("args", {}).items()}
        args = {k: v for k, v in args.items() if v is not MISSING}
        child = ctx.host.run_flow(sub, args, (run.id, f"{node.id}#{item}"))
    if child.status == "succeeded":
        return checked(node, child.outputs, item=item)
    if child.status in ("failed", "cancelled"):
        return NodeResult("failed",
                          error=f"sub-flow run {child.id} {child.status}: {child.error}")
    return NodeResult("waiting")


KIND = NodeKind("flow", execute, container=True)
