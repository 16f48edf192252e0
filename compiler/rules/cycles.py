"""F0301: nodes that depend on each other in a circle can never start."""

from __future__ import annotations

import networkx as nx

from ..diagnostics import Related


def check_cycles(fg, program, diags) -> None:
    if not fg.cyclic:
        return
    g = fg.g
    sub = g.subgraph(v for v in g if v.startswith(("n:", "oc:")))
    reported: set[str] = set()
    for comp in sorted(nx.strongly_connected_components(sub), key=lambda c: sorted(c)):
        names = sorted((v[2:] for v in comp if v.startswith("n:")),
                       key=lambda n: program.nodes[n].index)
        if not names or not (len(comp) > 1 or g.has_edge("n:" + names[0], "n:" + names[0])):
            continue
        first = names[0]
        try:
            cyc = nx.find_cycle(sub.subgraph(comp), "n:" + first)
            path = [u for u, _ in cyc] + [cyc[-1][1]]
        except nx.NetworkXNoCycle:  # pragma: no cover - the component is cyclic
            path = ["n:" + first]
        chain = " -> ".join(p.split(":")[1] for p in path if p.startswith("n:"))
        info = program.nodes[first]
        related = tuple(Related(program.source, program.nodes[n].span, "part of the cycle")
                        for n in names[1:4])
        diags.add("F0301", program.source, info.span,
                  f"nodes depend on each other in a cycle: {chain}",
                  label="this node waits for itself", related=related,
                  help="break the cycle; for repetition use `for each` or a flow call")
        reported.update(names)
