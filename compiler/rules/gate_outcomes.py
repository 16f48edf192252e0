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
        # a node that reads the gate's result, or waits for it plainly, runs on every outcome
        every = any(d.get("kind") in ("data", "control") for _, _, d in g.out_edges("n:" + name,
                                                                                  data=True))
        if every:
            continue
        covered = covered_by_match.get(name, set())
        if "else" in covered:
            continue
        for oc in info.outcomes:
            if oc in covered or g.out_degree(f"oc:{name}:{oc}") > 0:
                continue
            diags.add("F0303", program.source, info.span,
                      f"gate `{name}` can end `{oc}`, but nothing handles it",
                      label=f"`{oc}` leads nowhere",
                      help=f"add a node with `after {name}.{oc}`, or "
                      f"`match {name} {{ {oc} -> stop }}` to end the run there")
