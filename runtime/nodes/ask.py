"""`ask` nodes: a question to a person; the answer (checked against its type) is the value.

The first execution opens the question's task and pauses; once it is answered (or timed out
with a default), the next execution gives the answer.
"""

from __future__ import annotations

from ..expressions import Scope, evaluate, render_template
from .base import NodeContext, NodeKind, NodeResult, checked
from .people import people

__all__ = ["KIND"]


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    run, item = ctx.run, ctx.item
    task = ctx.store.task_for(run.id, node.id, item)
    if task is None:
        timeout = config.get("timeout")
        default = None
        if timeout and timeout.get("then") == "default":
            default = evaluate(timeout["default"], scope)
        from ..store import new_task_id

        spec = dict(
            task_id=new_task_id(), run_id=run.id, node_id=node.id, item=item, kind="ask",
            assignees=people(config.get("to", []), scope, "`to:`"),
            title=render_template(config["question"]["template"], scope),
            show=[], form={"schema": config.get("schema", {}), "default": default,
                           "choices": evaluate(config["choices"], scope)
                           if config.get("choices") else None},
            deadline=ctx.host.clock() + timeout["seconds"] if timeout else None,
            timeout_outcome=timeout["then"] if timeout else None)
        return NodeResult("waiting", audit=[("ask.opened", {
            "node": node.id, "item": item, "task": spec["task_id"],
            "question": spec["title"]})], task=spec)
    if task.status == "pending":
        return NodeResult("waiting")
    if task.status == "cancelled":
        return NodeResult("failed", error="the question was cancelled")
    if task.status == "timed_out":
        if task.timeout_outcome != "default":
            return NodeResult("failed", error="nobody answered before the timeout")
        return checked(node, task.form.get("default"), config.get("schema"))
    return checked(node, (task.decision or {}).get("value"), config.get("schema"))


KIND = NodeKind("ask", execute, person=True)
