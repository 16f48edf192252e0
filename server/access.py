"""Who may see and decide a task: the same rule as the engine's (`Engine.decide`): a task is
for the people it names, a role they hold, or anyone when it names nobody; escalation steps
that fired add their people. Seeing a task is allowed also to those a later step will add
(they are told when it becomes theirs).

Who may see a run (its page, trace, audit trail, files, outputs; the API's run calls): people
with the role `admin`, the person who started it (its `run.started` event's actor: the page,
the API, a chat message), and anyone who may see one of the tasks of its family (the run, the
run that called it, the runs it called). Cancelling a run: `admin` or the person who started
it."""

from __future__ import annotations

__all__ = ["holds", "may_decide_now", "may_decide_now_or_later", "may_cancel_run", "may_see_run",
           "started_by"]

ADMIN = "admin"
MAX_FAMILY = 500


def holds(people, name: str, roles) -> bool:
    return any(isinstance(a, dict) and (
        (a.get("kind") == "user" and a.get("name") == name) or
        (a.get("kind") == "role" and a.get("name") in roles)) for a in people)


def may_decide_now(task, name: str, roles) -> bool:
    allowed = [a for a in task.assignees if isinstance(a, dict)]
    return not allowed or holds(allowed, name, roles)


def may_decide_now_or_later(task, name: str, roles) -> bool:
    if may_decide_now(task, name, roles):
        return True
    return any(holds(step.get("to", ()), name, roles) for step in task.escalations)


def started_by(store, run_id: str) -> str | None:
    events = store.audit_events(run_id)
    first = events[0] if events else None
    return first.actor if first is not None and first.kind == "run.started" else None


def _family(store, run) -> list[str]:
    root, hops = run, 0
    while root.parent_run_id and hops < 50:
        parent = store.get_run(root.parent_run_id)
        if parent is None:
            break
        root, hops = parent, hops + 1
    out, todo = [], [root.id]
    while todo and len(out) < MAX_FAMILY:
        rid = todo.pop(0)
        if rid in out:
            continue
        out.append(rid)
        todo.extend(r.id for r in store.sub_runs(rid))
    return out


def may_see_run(store, run, name: str, roles) -> bool:
    if ADMIN in roles:
        return True
    family = _family(store, run)
    if any(started_by(store, rid) == name for rid in {family[0], run.id}):
        return True
    return any(may_decide_now_or_later(t, name, roles)
               for rid in family for t in store.list_tasks(status=None, run_id=rid, limit=1000))


def may_cancel_run(store, run, name: str, roles) -> bool:
    if ADMIN in roles:
        return True
    family = _family(store, run)
    return started_by(store, family[0]) == name or started_by(store, run.id) == name
