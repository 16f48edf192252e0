"""`gate` nodes (`await human(...)`): a person approves, edits or rejects.

The first execution opens a task (its people, what it shows, its form, its deadline and
escalation steps) and pauses; the engine creates the task with the waiting result, records
decisions and fires timers. Once the task is decided or timed out, the next execution turns
it into the gate's value and outcome. A gate whose `when:` is false passes without a task.
"""

from __future__ import annotations

from ..expressions import MISSING, Scope, evaluate, render_template
from .base import NodeContext, NodeKind, NodeResult
from .people import people

__all__ = ["KIND"]


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    run, plan, item = ctx.run, ctx.plan, ctx.item
    prefill = {f["name"]: (None if (v := evaluate(f["prefill"], scope)) is MISSING else v)
               for f in config.get("form", []) if "prefill" in f}
    pause_when = config.get("pause_when")
    # a gate whose `when:` is false passes without a task: it never had one, since the
    # condition reads only run inputs, settled results and the item, which never change
    # (so it was false whenever this gate ran before): no task to look up
    if pause_when is not None and not evaluate(pause_when, scope):
        output = {**prefill, "outcome": "approved", "reason": "", "reviewer": "flowc"}
        return NodeResult("succeeded", output, "approved", audit=[("gate.passed", {
            "node": node.id, "item": item, "why": "its `when:` condition is false",
            "form": prefill, "plan_hash": plan.hash})])
    task = ctx.store.task_for(run.id, node.id, item)
    if task is None:
        return _open(node, config, scope, ctx, prefill)
    if task.status == "pending":
        return NodeResult("waiting")
    if task.status == "cancelled":
        return NodeResult("failed", error="the gate's task was cancelled")
    if task.status == "timed_out":
        outcome = {"approve": "approved", "reject": "rejected"}.get(task.timeout_outcome or "")
        if outcome is None:
            return NodeResult("failed", error="nobody decided before the gate's timeout")
        decision = {"outcome": outcome, "values": {}, "reason": "timed out"}
    else:
        decision = task.decision or {}
        outcome = decision.get("outcome", "rejected")
    values = {**prefill, **decision.get("values", {})}
    output = {**values, "outcome": outcome, "reason": decision.get("reason", ""),
              "reviewer": task.decided_by or ""}
    return NodeResult("succeeded", output, outcome)


def _open(node, config: dict, scope: Scope, ctx: NodeContext, prefill: dict) -> NodeResult:
    """The pause that opens the gate's task (created in the waiting result's commit)."""
    from ..store import new_task_id

    run, plan, item = ctx.run, ctx.plan, ctx.item
    timeout = config.get("timeout")
    shown = [evaluate(s, scope) for s in config.get("show", [])]
    now = ctx.host.clock()
    steps = [{"after": st["seconds"], "at": now + st["seconds"],
              "to": people(st["to"], scope, f"escalation step {i}")}
             for i, st in enumerate(config.get("escalate", []), 1)]
    spec = dict(
        task_id=new_task_id(), run_id=run.id, node_id=node.id, item=item, kind="gate",
        assignees=people(config.get("to", []), scope, "`to:`"),
        title=render_template(config["title"]["template"], scope)
        if config.get("title") else f"Review `{node.id}` of {plan.flow.name}",
        show=[None if v is MISSING else v for v in shown],
        form={"fields": config.get("form", []), "values": prefill,
              "actions": config.get("actions", []),
              # shown with the request (`flowc show`, the inbox), beside the title
              "message": render_template(config["message"]["template"], scope)
              if config.get("message") else None,
              "show_labels": config.get("show_labels")},
        deadline=now + timeout["seconds"] if timeout else None,
        timeout_outcome=timeout["then"] if timeout else None,
        escalations=steps)
    opened = {"node": node.id, "item": item, "task": spec["task_id"],
              "shown": spec["show"], "form": prefill, "plan_hash": plan.hash}
    if steps:
        opened["escalations"] = [{"after": s["after"], "to": s["to"]} for s in steps]
    return NodeResult("waiting", audit=[("gate.opened", opened)], task=spec)


KIND = NodeKind("gate", execute, person=True)
