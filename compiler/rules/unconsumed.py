"""F0305 and F0311: declared deliverable parts, and whole results, that nothing reads."""

from __future__ import annotations

from .. import types as t


def check_unconsumed(fg, program, diags) -> None:
    g = fg.g
    for name, info in program.nodes.items():
        if info.kind == "gate" or info.effect is not None or name in fg.cyclic:
            continue
        consumed = program.consumed.get(name, set())
        out_edges = [d for _, _, d in g.out_edges("n:" + name, data=True)
                     if d.get("kind") != "outcome"]
        outcome_used = any(g.out_degree(f"oc:{name}:{oc}") for oc in info.outcomes)
        if name not in program.consumed and not out_edges and not outcome_used:
            diags.add("F0311", program.source, info.span, f"the result of `{name}` is never used",
                      label="nothing reads this",
                      help="use it in another node or an `output`, or mark a node with side "
                      "effects `effect external`")
            continue
        ty = info.type
        if consumed is None or not info.declared_type or not isinstance(ty, t.DeliverableT):
            continue
        for part in ty.parts:
            if part.name not in consumed:
                diags.add("F0305", program.source, info.span,
                          f"part `{part.name}` of `{name}` ({ty.describe()}) is never used",
                          label=f"`{name}.{part.name}` has no reader",
                          help=f"read `{name}.{part.name}` downstream, or drop it from "
                          f"`{ty.describe()}`")
