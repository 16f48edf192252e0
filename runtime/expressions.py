"""Evaluate the plan's expression IR against a run's values.

The compiler has type-checked every expression; at run time a value may still be missing
(a skipped node, an optional input), and that is what `Missing` stands for: it flows through
`??` and makes a required read fail loudly instead of turning into a silent default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Scope", "evaluate", "render_template", "EvaluationError", "MISSING"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


class EvaluationError(ValueError):
    """An expression could not be evaluated (a missing value where one is required)."""


class Scope:
    """Where names come from: the run's inputs, finished nodes' outputs, loop variables, SOPs."""

    def __init__(self, inputs: Mapping[str, Any], nodes: Mapping[str, Any],
                 variables: Mapping[str, Any] | None = None,
                 sop_text: Callable[[str], str] | None = None):
        self.inputs = inputs
        self.nodes = nodes
        self.variables = variables or {}
        self.sop_text = sop_text

    def child(self, **variables) -> Scope:
        return Scope(self.inputs, self.nodes, {**self.variables, **variables}, self.sop_text)


def _path(value: Any, path: list[str]) -> Any:
    for key in path:
        if value is MISSING or value is None:
            return MISSING
        if isinstance(value, Mapping):
            value = value.get(key, MISSING)
        else:
            value = getattr(value, key, MISSING)
    return value


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping) and "path" in value and "sha256" in value:
        return str(value["path"])  # a file renders as its path
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # `1500 EUR` beside `320 EUR`, not `1500.0 EUR`
    return str(value)


def render_template(parts: list, scope: Scope) -> str:
    return "".join(p if isinstance(p, str) else _text(evaluate(p, scope)) for p in parts)


_COMPARE = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "%": lambda a, b: a % b,
}
_CALLS = {
    "len": lambda x: len(x), "lower": lambda s: s.lower(), "upper": lambda s: s.upper(),
    "trim": lambda s: s.strip(), "join": lambda xs, sep: sep.join(xs),
    "role": lambda n: {"kind": "role", "name": n}, "user": lambda n: {"kind": "user", "name": n},
}


def evaluate(ir: Any, scope: Scope) -> Any:
    """The value of an IR expression; MISSING where a skipped or absent value is read."""
    if not isinstance(ir, dict):
        return ir
    if "lit" in ir:
        return ir["lit"]
    if "input" in ir:
        return _path(scope.inputs.get(ir["input"], MISSING), ir.get("path", []))
    if "node" in ir:
        return _path(scope.nodes.get(ir["node"], MISSING), ir.get("path", []))
    if "var" in ir:
        return _path(scope.variables.get(ir["var"], MISSING), ir.get("path", []))
    if "template" in ir:
        return render_template(ir["template"], scope)
    if "list" in ir:
        return [evaluate(x, scope) for x in ir["list"]]
    if "sop" in ir:
        return scope.sop_text(ir["sop"]) if scope.sop_text else ""
    if "call" in ir:
        args = [evaluate(a, scope) for a in ir["args"]]
        if any(a is MISSING for a in args):
            raise EvaluationError(f"`{ir['call']}(...)` reads a missing value")
        return _CALLS[ir["call"]](*args)
    op = ir.get("op")
    args = ir.get("args", [])
    if op == "fold":  # `a + b - c ...`, from the left: one flat list, however long
        value = evaluate(args[0], scope)
        for k in range(1, len(args), 2):
            value = _binary(args[k], value, args[k + 1], scope)
        return value
    if op in ("??", "and", "or"):
        return _binary(op, evaluate(args[0], scope), args[1], scope)
    if op == "not":
        return not _truth(evaluate(args[0], scope))
    if op == "neg":
        return -_need(evaluate(args[0], scope), "-")
    if op == "attr":
        return _path(evaluate(args[0], scope), [args[1]])
    if op == "index":
        target, key = evaluate(args[0], scope), evaluate(args[1], scope)
        try:
            return target[key]
        except (IndexError, KeyError, TypeError):
            return MISSING
    if op == "in":
        a, b = evaluate(args[0], scope), evaluate(args[1], scope)
        return b is not MISSING and b is not None and a in b
    if op in ("==", "!="):
        a, b = evaluate(args[0], scope), evaluate(args[1], scope)
        a, b = (None if a is MISSING else a), (None if b is MISSING else b)
        return _COMPARE[op](a, b)
    if op in _COMPARE:
        return _binary(op, evaluate(args[0], scope), args[1], scope)
    raise EvaluationError(f"unknown expression {ir!r}")


def _binary(op: str, left: Any, right_ir: Any, scope: Scope) -> Any:
    """`left op right` with the left side already evaluated; the right side is evaluated
    only when the operator needs it (`??`, `and`, `or` stop early)."""
    if op == "??":
        return left if left is not MISSING and left is not None else evaluate(right_ir, scope)
    if op == "and":
        return _truth(left) and _truth(evaluate(right_ir, scope))
    if op == "or":
        return _truth(left) or _truth(evaluate(right_ir, scope))
    a = _need(left, op)
    b = _need(evaluate(right_ir, scope), op)
    try:
        return _COMPARE[op](a, b)
    except (TypeError, ZeroDivisionError) as e:
        raise EvaluationError(f"`{op}`: {e}") from e


def _truth(v: Any) -> bool:
    return bool(v) if v is not MISSING else False


def _need(v: Any, op: str) -> Any:
    if v is MISSING or v is None:
        raise EvaluationError(f"`{op}` reads a missing value")
    return v
