"""F0303: every outcome a gate offers is handled by something."""

from __future__ import annotations


def check_gate_outcomes(fg, program, diags) -> None:
    g = fg.g
    covered_by_match: dict[str, set[str]] = {}
    for m in program.matches:
        if m.subject_node:
            for pats, _targets in m.arms:
                covered_by_match.setdefault(m.subject_node, set()).update(pats)
    for name, info in program.nodes.items():
        if info.kind != "gate" or name in fg.cyclic:
            continue
        # a node that reads the gate's result, or waits for it plainly, runs on every outcome,
        # unless it also waits for one of the gate's outcomes
        outcome_vertices = {f"oc:{name}:{oc}" for oc in info.outcomes}
        every = any(
            d.get("kind") in ("data", "control")
            and not any(u in outcome_vertices for u in g.predecessors(v))
            for _, v, d in g.out_edges("n:" + name, data=True)
        )
        if every:
            continue
        if name in covered_by_match:
            continue  # a `match` on the gate must be exhaustive: F0309 reports what it misses
        for oc in info.outcomes:
            if g.out_degree(f"oc:{name}:{oc}") > 0:
                continue
            diags.add("F0303", program.source, info.span,
                      f"gate `{name}` can end `{oc}`, but nothing handles it",
                      label=f"`{oc}` leads nowhere",
                      help=f"add a node with `after {name}.{oc}`, or handle every outcome in a "
                      f"`match {name} {{ ... }}` with an arm `{oc} -> stop` to end the run there")
