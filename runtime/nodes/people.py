"""The people a gate or a question names (`to:`, an escalation step), checked."""

from __future__ import annotations

import json

from ..expressions import MISSING, EvaluationError, evaluate

__all__ = ["people"]


def people(irs, scope, what: str) -> list[dict]:
    """The people a gate names (`to:` or an escalation step), checked: each is a role or a
    user with a non-empty name; anything else fails the node, saying what."""
    out = []
    for ir in irs:
        p = evaluate(ir, scope)
        if not (isinstance(p, dict) and p.get("kind") in ("role", "user")
                and isinstance(p.get("name"), str) and p["name"]):
            name = p.get("name") if isinstance(p, dict) else p
            shown = "a missing value" if name is MISSING else json.dumps(name, default=str)
            raise EvaluationError(f"{what} names {shown}, not a role or user name")
        out.append({"kind": p["kind"], "name": p["name"]})
    return out
