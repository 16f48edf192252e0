"""`skill` nodes: a pinned skill's entry command, run like a command line with its arguments."""

from __future__ import annotations

from ..expressions import MISSING, Scope, evaluate, render_template
from ..skillrun import entry_line
from .base import NodeContext, NodeKind, NodeResult
from .shell import run_line

__all__ = ["KIND"]


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    pin = next((s for s in ctx.plan.skills if s.alias == config.get("skill")), None)
    if pin is None or not pin.entry:
        return NodeResult("failed", error=f"skill `{config.get('skill')}` has no entry command "
                          "to run (an SOP-only skill is used through an agent's `skills`)")
    args = {k: evaluate(v, scope) for k, v in config.get("args", {}).items()}
    args = {k: (None if v is MISSING else v) for k, v in args.items()}
    for name, spec in pin.inputs.items():  # inputs left out take the skill's defaults
        if args.get(name) is None and "default" in spec:
            args[name] = spec["default"]
    line, stdin, files = entry_line(pin.entry, args,
                                    lambda v: render_template([{"lit": v}], scope))
    return run_line(ctx, node, line, stdin, files, kind="skill")


KIND = NodeKind("skill", execute, retries=True)
