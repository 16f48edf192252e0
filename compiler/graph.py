"""The flow as a graph (networkx): data edges, control edges, gate outcomes; then the rules.

Vertices: `START`, `in:NAME` for inputs, `n:NAME` for nodes, `oc:NAME:OUTCOME` for the outcomes
of gates and extract nodes, `out:NAME` for outputs. Edges carry `kind` (data, control,
outcome, start), `required` (data edges inside `??` are optional) and `group` (control edges of
one match arm that lead to the same node: any one of them suffices).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .diagnostics import Diagnostics

__all__ = ["FlowGraph", "build_graph", "START", "node_id", "outcome_id"]

START = "START"


def node_id(name: str) -> str:
    return "n:" + name


def outcome_id(name: str, outcome: str) -> str:
    return f"oc:{name}:{outcome}"


@dataclass
class FlowGraph:
    g: nx.DiGraph
    order: list[str] = field(default_factory=list)       # node names, a valid execution order
    cyclic: set[str] = field(default_factory=set)        # node names on a cycle
    can_run: set[str] = field(default_factory=set)       # graph vertices that can ever run
    approved: set[str] = field(default_factory=set)      # vertices only reached via approval
    conditional: set[str] = field(default_factory=set)   # node names that a run may skip


def build_graph(program, diags: Diagnostics) -> FlowGraph:
    """Build the graph of a checked program and run every graph rule over it."""
    from .rules import RULES

    g = nx.DiGraph()
    g.add_node(START)
    edges = []
    for name in program.inputs:
        g.add_node("in:" + name)
        edges.append((START, "in:" + name, {"kind": "start"}))
    for name, info in program.nodes.items():
        v = node_id(name)
        g.add_node(v, index=info.index)
        for oc in info.outcomes:
            g.add_node(outcome_id(name, oc))
            edges.append((v, outcome_id(name, oc), {"kind": "outcome"}))
    for name, info in program.nodes.items():
        v = node_id(name)
        for dep, required in info.deps.items():
            src = node_id(dep) if dep in program.nodes else "in:" + dep
            edges.append((src, v, {"kind": "data", "required": required}))
        for k, c in enumerate(info.control):
            if not c.node:
                continue  # a match on an enum value: its subject's deps are data edges
            if not c.outcomes:
                edges.append((node_id(c.node), v, {"kind": "control", "required": True}))
                continue
            group = c.group or f"after{k}"
            for oc in c.outcomes:
                edges.append((outcome_id(c.node, oc), v, {"kind": "control", "group": group}))
    for name, out in program.outputs.items():
        g.add_node("out:" + name)
        for dep, required in out.deps.items():
            src = node_id(dep) if dep in program.nodes else "in:" + dep
            edges.append((src, "out:" + name, {"kind": "data", "required": required}))
    g.add_edges_from(edges)
    for name in program.nodes:
        v = node_id(name)
        if g.in_degree(v) == 0:
            g.add_edge(START, v, kind="start")
    fg = FlowGraph(g)
    _analyse(fg, program)
    for rule in RULES:
        rule(fg, program, diags)
    return fg


def _analyse(fg: FlowGraph, program) -> None:
    """Cycles, an execution order, which vertices can run, which are only reached via approval."""
    g = fg.g
    for comp in nx.strongly_connected_components(g):
        if len(comp) > 1 or any(g.has_edge(v, v) for v in comp):
            fg.cyclic.update(v[2:] for v in comp if v.startswith("n:"))
    if fg.cyclic:
        acyclic = g.subgraph([v for v in g if not (v.startswith("n:") and v[2:] in fg.cyclic)
                              and not (v.startswith("oc:") and v.split(":")[1] in fg.cyclic)])
    else:
        acyclic = g
    index = {v: d.get("index", -1) for v, d in g.nodes(data=True)}
    topo = list(nx.lexicographical_topological_sort(acyclic, key=lambda v: (index[v], v)))
    fg.order = [v[2:] for v in topo if v.startswith("n:")]
    never = {n for n, info in program.nodes.items() if info.when == {"lit": False}}
    can, approved = fg.can_run, fg.approved
    for v in topo:
        if v == START:
            can.add(v)
            continue
        if v.startswith("oc:"):
            parent = node_id(v.split(":")[1])
            if parent in can:
                can.add(v)
            if v.rsplit(":", 1)[1] in ("approved", "edited") and \
                    program.nodes[v.split(":")[1]].kind == "gate":
                approved.add(v)
            elif parent in approved:
                approved.add(v)
            continue
        all_ok, any_approved = True, False
        groups: dict[str, list[str]] = {}
        for u, _, d in g.in_edges(v, data=True):
            grp = d.get("group")
            if grp is not None:
                groups.setdefault(grp, []).append(u)
            elif d.get("required", True):
                all_ok &= u in can
                any_approved |= u in approved
        for members in groups.values():
            all_ok &= any(u in can for u in members)
            any_approved |= all(u in approved for u in members)
        if v.startswith("n:") and v[2:] in never:
            all_ok = False
        if all_ok:
            can.add(v)
        if any_approved:
            approved.add(v)
        if v.startswith("n:") and _may_skip(v[2:], program, fg.conditional):
            fg.conditional.add(v[2:])


def _may_skip(name: str, program, conditional: set[str]) -> bool:
    """Whether a run may skip the node: a `when`, an outcome or match condition, or a
    required input from a node that may itself be skipped."""
    info = program.nodes[name]
    if info.when is not None or any(c.outcomes or c.values for c in info.control):
        return True
    if any(c.node in conditional for c in info.control if c.node):
        return True
    return any(req and dep in conditional for dep, req in info.deps.items())
