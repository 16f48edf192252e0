"""F0302: nodes that can never run, found by propagating 'can run' from START.

A node can run when every required input can, when each of its control conditions can be
met by at least one of its alternatives, and when its `when` condition is not constant
false. Nodes on a cycle are reported by the cycle rule, not again here.
"""

from __future__ import annotations


def check_reachability(fg, program, diags) -> None:
    after_cycle = _downstream_of_cycles(fg)
    for name, info in program.nodes.items():
        if name in fg.cyclic or "n:" + name in fg.can_run or name in after_cycle:
            continue
        blockers = []
        for u, _ in fg.g.in_edges("n:" + name):
            if u not in fg.can_run:
                blockers.append(u.split(":")[1] if ":" in u else u)
        if info.when == {"lit": False}:
            why = "its `when` condition is always false"
        elif blockers:
            why = "it waits for " + ", ".join(f"`{b}`" for b in sorted(set(blockers))) + \
                ", which can never run"
        else:
            why = "nothing leads to it"
        diags.add("F0302", program.source, info.span, f"node `{name}` can never run",
                  label=why, help="remove the node, or fix what it waits for")


def _downstream_of_cycles(fg) -> set[str]:
    """Nodes that wait on a cycle: the cycle is the one problem to report, not its echoes."""
    import networkx as nx

    out: set[str] = set()
    for name in fg.cyclic:
        out.update(v[2:] for v in nx.descendants(fg.g, "n:" + name) if v.startswith("n:"))
    return out - fg.cyclic
