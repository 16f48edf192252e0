"""Plain JSON data: what may go into a plan from outside the flow text. No pydantic here:
`flowc check` imports this without the plan's models."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["json_problem"]


def json_problem(value: Any, depth: int = 0) -> str | None:
    """What keeps `value` from being plain JSON data (a set, a date, bytes, a key that is not
    text, NaN or an infinity), or None: what may go into a plan from outside the flow text
    (a skill's YAML, say), which must hash the same in every process."""
    if depth > 200:
        return "it is nested too deeply"
    if value is None or isinstance(value, (bool, str, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    if isinstance(value, list):
        for item in value:
            if (problem := json_problem(item, depth + 1)) is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the key {key!r} is not text"
            if (problem := json_problem(item, depth + 1)) is not None:
                return problem
        return None
    return f"a {type(value).__name__} is not JSON data"
