"""`command` nodes: one shell line in the sandbox, every value in it quoted as data.

The line's holes are quoted for where each stands (runtime/shellquote.py); a file (a handle of
this run's files) is staged into the working directory and stands for its local path.
"""

from __future__ import annotations

from ..expressions import MISSING, EvaluationError, Scope, evaluate, render_template
from ..skillrun import is_file_value
from .base import NodeContext, NodeKind, NodeResult
from .files import open_file
from .shell import run_line

__all__ = ["KIND"]


def _shell_line(ctx: NodeContext, parts: list, scope: Scope, files: dict) -> str:
    """The command line with every value quoted for where its hole stands (bare, in
    double or in single quotes; runtime/shellquote.py): a value is data, never syntax.
    A file (a handle of this run's files) is staged into the working directory and stands
    for its local path; anything else is text."""
    from ..shellquote import UnquotableHole, quote_holes

    def text_of(k: int, p) -> str:
        value = evaluate(p, scope)
        if value is MISSING:
            raise EvaluationError("the command line reads a missing value")
        if is_file_value(value):
            rec, data = open_file(ctx, value, "a file on the command line")
            local = f"in/{k}/{rec.name}"
            files[local] = data
            return local
        return render_template([p], scope)

    try:
        return quote_holes(parts, text_of)
    except UnquotableHole as e:  # a plan the checker refuses (a hole after a backslash)
        raise EvaluationError(str(e)) from None


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    files: dict = {}
    line = _shell_line(ctx, config["line"]["template"], scope, files)
    stdin = evaluate(config["stdin"], scope) if config.get("stdin") else ""
    return run_line(ctx, node, line, stdin, files)


KIND = NodeKind("command", execute, retries=True)
