"""Checked program and graph to plan: the runtime's view of a flow, content-hashed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flowc import __version__

from . import types as t
from .lockfile import plan_location as _rel
from .plan import (
    ControlCondition,
    Dependency,
    FlowImport,
    FlowMeta,
    InputSpec,
    OutputSpec,
    Plan,
    PlanNode,
    RunEnd,
    SkillPin,
    SopDocument,
    SopImport,
    SourceSpan,
)

__all__ = ["build_plan"]


def _span(source, span) -> SourceSpan:
    s, e = source.position(span.start), source.position(span.end)
    return SourceSpan(line=s.line, column=s.column, end_line=e.line, end_column=e.column)


def _output_type(o, graph) -> t.Type:
    """An undeclared output that reads a node a run may skip may be null."""
    from .rules.conditional_outputs import may_be_missing

    if o.decl.type is None and not t.is_optional(o.type) and may_be_missing(
            o.value, graph.conditional):
        return t.OptionalT(o.type)
    return o.type


def build_plan(result, compiler) -> Plan:
    prog, graph = result.program, result.graph
    base = prog.base_dir
    src = prog.source
    sops = [
        SopImport(alias=alias, path=_rel(lib.path, base), folder=lib.is_folder, documents=[
            SopDocument(name=e.name, path=_rel(e.path, base), sha256=e.sha256, size=e.size)
            for e in sorted(lib.entries.values(), key=lambda e: e.name)
        ])
        for alias, lib in sorted(prog.sops.items())
    ]
    skills = []
    for alias, use in sorted(prog.skills.items()):
        sv = use.version
        skills.append(SkillPin(
            alias=alias, name=sv.name, requested=str(use.decl.spec.value), version=sv.version,
            sha256=sv.sha256, location=getattr(sv, "url", None) or _rel(sv.folder, base), description=sv.description,
            inputs={k: {"schema": t.json_schema(ty), "required": req,
                        **({"default": use.defaults[k]} if k in use.defaults else {})}
                    for k, (ty, req) in sorted(use.inputs.items())},
            output=t.json_schema(use.output), effects=[str(e) for e in sv.effects],
            entry=sv.entry,
        ))
    flows = []
    for alias, use in sorted(prog.flows.items()):
        sub = compiler._flows.get(use.path.resolve()) if use.path else None
        if sub is None or sub.plan is None:  # pragma: no cover - errors stop planning earlier
            continue
        flows.append(FlowImport(alias=alias, path=_rel(use.path, base), plan=sub.plan))
    order = {name: i for i, name in enumerate(graph.order)}
    schemas: dict = {}  # one schema per type: nodes of one type share its (unchanged) parts

    def schema_of(ty) -> dict:
        try:
            found = schemas.get(ty)
        except TypeError:  # a type holding an unhashable default value
            return t.json_schema(ty)
        if found is None:
            found = schemas[ty] = t.json_schema(ty)
        return found

    nodes = []
    for name in graph.order:
        info = prog.nodes[name]
        deps = [Dependency(name=d, kind="node" if d in prog.nodes else "input", required=r)
                for d, r in sorted(info.deps.items())]
        control = [ControlCondition(node=c.node or None, outcomes=list(c.outcomes),
                                    group=c.group, values=list(c.values), subject=c.subject)
                   for c in info.control]
        nodes.append(PlanNode(
            id=name, kind=info.kind, position=order[name], source_index=info.index,
            span=_span(src, info.decl.span), deps=deps, control=control, when=info.when,
            effect=info.effect, outcomes=list(info.outcomes), options=info.options,
            config=info.config, output_schema=schema_of(info.type),
        ))
    inputs = [InputSpec(name=i.name, schema=t.json_schema(i.type),
                        required=i.decl.default is None and not t.is_optional(i.type),
                        default=i.default)
              for i in prog.inputs.values()]
    outputs = [OutputSpec(name=o.name, schema=t.json_schema(_output_type(o, graph)),
                          value=o.value, span=_span(src, o.decl.span))
               for o in prog.outputs.values()]
    ends = []
    for m in prog.matches:
        covered = {p for pats, _ in m.arms for p in pats if p != "else"}
        for pats, targets in m.arms:
            values = [u for u in m.universe if u not in covered] if "else" in pats else []
            values = list(dict.fromkeys([*(p for p in pats if p != "else"), *values]))
            for action in ("stop", "fail"):
                if action in targets:
                    ends.append(RunEnd(
                        action=action, node=m.subject_node,
                        outcomes=values if m.subject_node else [],
                        values=[] if m.subject_node else values,
                        subject=m.subject, span=_span(src, m.decl.span)))
    meta = FlowMeta(
        name=prog.name, version=prog.version, description=prog.description, mode=prog.mode,
        triggers=prog.triggers, source=Path(src.path).name,
        source_sha256=hashlib.sha256(src.text.encode("utf-8")).hexdigest(),
    )
    plan = Plan(
        compiler=f"flowc {__version__}", flow=meta, policy=dict(prog.policy),
        types={k: t.json_schema(v) for k, v in sorted(prog.types.items())},
        inputs=inputs, outputs=outputs, sops=sops, skills=skills, flows=flows, nodes=nodes,
        ends=ends,
    )
    return plan.model_copy(update={"hash": plan.canonical_sha256()})
