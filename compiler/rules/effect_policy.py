"""F0307: every `effect external` node is dominated by an approving gate outcome.

Dominance is computed on the graph with the run's own semantics: a node runs only when all
of its required inputs and control conditions hold (an AND over its predecessors), while the
arms of one `match` that lead to the same node are alternatives (an OR). A node is approved
when every way of reaching it passes an `approved` or `edited` outcome of some gate: the set
of approving outcomes dominates it. Inputs read inside `??` are optional and prove nothing.
"""

from __future__ import annotations


def check_effect_policy(fg, program, diags) -> None:
    level = program.policy.get("approval", "error")
    if level == "off":
        return
    gates = [n for n, i in program.nodes.items() if i.kind == "gate"]
    for name, info in program.nodes.items():
        if info.effect != "external" or "n:" + name not in fg.can_run:
            continue  # a node that can never run is reported once, by its own rule
        if "n:" + name in fg.approved:
            continue
        span = next((c.span for c in info.decl.clauses if c.__class__.__name__ == "EffectClause"),
                    info.span)
        if gates:
            help_ = f"make it wait for approval: `after {gates[0]}.approved`"
        else:
            help_ = "add an `await human(...)` gate and run this node `after GATE.approved`"
        if info.effect_from and not any(
                c.__class__.__name__ == "EffectClause" for c in info.decl.clauses):
            label = f"skill `{info.effect_from}` has an external effect"
        else:
            label = "not dominated by an approving gate"
        diags.add("F0307", program.source, span,
                  f"node `{name}` has an external effect but can run without approval",
                  label=label, help=help_,
                  notes=("set `policy approval: warning` (or `off`) to relax this per flow",),
                  severity="warning" if level == "warning" else "error")
