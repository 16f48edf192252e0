"""What a person's decision on a task must be, checked without any I/O.

The embedded engine checks a decision with these before it commits it; the Temporal workflow
checks an update with the same functions in its validator, so a decision that does not fit
its form is refused before it enters the workflow's history (see runtime/temporal/).
"""

from __future__ import annotations

from typing import Any

from .validate import field_problem, schema_errors

__all__ = ["DecisionRefused", "already_decided", "gate_decision", "ask_decision"]


class DecisionRefused(ValueError):
    """A decision that changes nothing: wrong user, bad value, task already decided."""


def already_decided(task, after: str = "") -> DecisionRefused:
    """The refusal of a decision on a task that is no longer pending: the first one stands."""
    return DecisionRefused(f"task `{task.id}` was already {task.status} by "
                           f"{task.decided_by or 'flowc'}; the first decision stands{after}")


def gate_decision(form: dict, action: str, values: dict, reason: str,
                  max_bytes: int | None) -> dict:
    """The decision a gate's form takes for `action` with `values` (its edited fields) and
    `reason`, or DecisionRefused saying what does not fit."""
    actions = form.get("actions", [])
    if action not in ("approve", "edit", "reject"):
        raise DecisionRefused(f"unknown action `{action}`: approve, edit or reject")
    if action not in actions:
        raise DecisionRefused(f"this gate does not offer `{action}` "
                              f"(it offers: {', '.join(actions)})")
    if not isinstance(values, dict):
        raise DecisionRefused("the edited values must be a map of field names to values")
    fields = {f["name"]: f["schema"] for f in form.get("fields", [])}
    if values and action != "edit":
        raise DecisionRefused("values can only be changed with --edit")
    for name, value in values.items():
        if name not in fields:
            raise DecisionRefused(f"the form has no field `{name}` "
                                  f"(fields: {', '.join(fields) or 'none'})")
        problem = field_problem(value, max_bytes)
        if problem:
            raise DecisionRefused(f"field `{name}` {problem}")
        problems = schema_errors(value, fields[name], name)
        if problems:
            raise DecisionRefused(problems[0])
    if not isinstance(reason, str):
        raise DecisionRefused("the reason must be text")
    problem = field_problem(reason, max_bytes)
    if problem:
        raise DecisionRefused(f"the reason {problem}")
    outcome = {"approve": "approved", "edit": "edited", "reject": "rejected"}[action]
    return {"outcome": outcome, "values": values, "reason": reason}


def ask_decision(form: dict, answer: Any, max_bytes: int | None) -> dict:
    """The decision an `ask human` task takes for `answer`, or DecisionRefused."""
    schema = form.get("schema", {})
    problem = field_problem(answer, max_bytes)
    if problem:
        raise DecisionRefused(f"the answer {problem}")
    problems = schema_errors(answer, schema, "answer")
    if problems:
        raise DecisionRefused(problems[0])
    choices = form.get("choices")
    if choices and answer not in choices:
        raise DecisionRefused(f"the answer must be one of: {', '.join(map(str, choices))}")
    return {"outcome": "answered", "value": answer}
