"""Hover: what the name under the cursor is, its type, and where it comes from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flowc.compiler import syntax as s
from flowc.compiler import types as t

from .symbols import BUILTIN_FUNCTIONS, Occurrence
from .vocabulary import (
    ASK_ARGS,
    BUILTIN_TYPES,
    CLAUSE_KEYWORDS,
    GATE_ACTIONS,
    GATE_ARGS,
    NODE_OPTIONS,
    PROPERTIES,
)

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["hover_text", "describe_type", "first_lines", "skill_summary"]


def describe_type(ty: t.Type | None, depth: int = 0) -> str:
    """A type with its members, one per line (for hovers and completion details)."""
    if ty is None:
        return "unknown"
    base = t.strip_optional(ty)
    head = ty.describe()
    lines = [head]
    if depth == 0:
        if isinstance(base, t.DeliverableT):
            kinds = {"text": "text", "file": "file", "field": "field", "memory": "memory"}
            lines += [f"  {kinds[p.kind]} {p.name}: {p.type.describe()}" for p in base.parts]
        elif isinstance(base, t.RecordT):
            lines += [f"  {k}: {v.describe()}" + (" = ..." if k in base.defaults else "")
                      for k, v in base.fields]
        elif isinstance(base, t.EnumT) and base.name:
            lines += [f"  {v}" for v in base.variants]
    return "\n".join(lines)


def first_lines(path: Path, n: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = text.splitlines()
    body = "\n".join(lines[:n])
    return body + ("\n..." if len(lines) > n else "")


def skill_summary(sv, alias: str | None = None) -> str:
    out = [f"**skill** `{sv.name}` {sv.version}" + (f" as `{alias}`" if alias else "")]
    if sv.description:
        out.append(sv.description)
    if sv.inputs:
        out.append("inputs: " + ", ".join(
            f"`{k}: {v.get('type', 'json') if isinstance(v, dict) else v}`"
            for k, v in sv.inputs.items()))
    if sv.outputs:
        parts = []
        for key, val in sv.outputs.items():
            if key == "text":
                parts.append(f"text `{val}`")
            elif key == "memory":
                parts.append("memory")
            elif isinstance(val, dict):
                parts += [f"`{k}: {v}`" for k, v in val.items()]
        out.append("delivers: " + ", ".join(parts))
    if sv.effects:
        out.append("effects: " + ", ".join(str(e) for e in sv.effects))
    out.append(f"[{sv.skill_md}]({sv.skill_md.as_uri()})")
    return "\n\n".join(out)


def _code(text: str) -> str:
    return f"```flow\n{text}\n```"


def hover_text(an: Analysis, occ: Occurrence) -> str | None:
    sym = occ.symbol
    kind, name = sym.kind, sym.name
    p = an.program
    ty = occ.type
    if kind == "node" and p is not None and name in p.nodes:
        info = p.nodes[name]
        out = [_code(f"node {name}: {describe_type(info.type)}"),
               f"a `{info.kind}` node"]
        if info.outcomes:
            out.append("outcomes: " + ", ".join(f"`{o}`" for o in info.outcomes))
        if info.deps:
            out.append("uses: " + ", ".join(f"`{d}`" for d in info.deps))
        return "\n\n".join(out)
    if kind == "input" and p is not None and name in p.inputs:
        return _code(f"input {name}: {describe_type(p.inputs[name].type)}")
    if kind == "output" and p is not None and name in p.outputs:
        return _code(f"output {name}: {describe_type(p.outputs[name].type)}")
    if kind in ("record", "enum", "deliverable"):
        return _code(f"{kind} {describe_type(ty) if ty is not None else name}")
    if kind in ("field", "part"):
        owner = occ.owner.describe() if occ.owner is not None else sym.key[1].lstrip("@")
        what = "part" if kind == "part" else "field"
        return _code(f"{what} {name}: {ty.describe() if ty is not None else 'unknown'}") + \
            f"\n\n{what} of `{owner}`"
    if kind == "builtin_member":
        return _code(f"{name}: {ty.describe() if ty is not None else 'unknown'}") + \
            f"\n\nof `{sym.key[1]}`"
    if kind == "variant":
        return _code(f"{sym.key[1] or 'enum'}.{name}")
    if kind == "outcome":
        return f"outcome `{name}` of `{sym.key[1]}`"
    if kind == "local":
        return _code(f"{name}: {describe_type(ty)}") + "\n\nthe `for each` variable"
    if kind == "sop":
        return _sop_hover(an, name, None)
    if kind == "sop_entry":
        return _sop_hover(an, sym.key[1], sym.key[2])
    if kind in ("skill", "skill_name"):
        alias = sym.key[1]
        use = p.skills.get(alias) if p is not None else None
        if use is not None and use.version is not None:
            return skill_summary(use.version, alias if alias != use.version.name else None)
        return f"skill `{name}` (not resolved)"
    if kind == "flow":
        use = p.flows.get(name) if p is not None else None
        if use is not None and use.program is not None:
            sub = use.program
            ins = ", ".join(f"`{k}: {v.type.describe()}`" for k, v in sub.inputs.items())
            outs = ", ".join(f"`{k}: {v.type.describe()}`" for k, v in sub.outputs.items())
            return f"**flow** `{sub.name}` {sub.version or ''}\n\ninputs: {ins or 'none'}" \
                f"\n\noutputs: {outs or 'none'}\n\n`{use.path}`"
        return f"flow `{name}`"
    if kind == "param":
        return _param_hover(an, sym.key[1], name, occ)
    if kind == "property":
        doc = PROPERTIES.get(occ.context or "", {}).get(name)
        return f"`{name}` ({occ.context} property)\n\n{doc}" if doc else None
    if kind == "option":
        doc = {"gate": GATE_ARGS, "ask": ASK_ARGS}.get(occ.context or "", NODE_OPTIONS).get(name)
        return f"`{name}`\n\n{doc}" if doc else None
    if kind == "action":
        doc = GATE_ACTIONS.get(name)
        return f"`{name}`\n\n{doc}" if doc else None
    if kind == "builtin_fn":
        sig, doc = BUILTIN_FUNCTIONS[name]
        return _code(sig) + f"\n\n{doc}"
    if kind == "builtin_type":
        return _code(name) + f"\n\n{BUILTIN_TYPES.get(name, '')}"
    if kind == "keyword":
        doc = CLAUSE_KEYWORDS.get(name)
        return f"`{name}`" + (f"\n\n{doc}" if doc else "")
    if kind == "flow_name" and p is not None:
        return f"**flow** `{p.name}` {p.version or ''}\n\n{p.description or ''}".rstrip()
    return None


def _sop_hover(an: Analysis, alias: str, entry: str | None) -> str | None:
    p = an.program
    lib = p.sops.get(alias) if p is not None else None
    decl = p.sop_decls.get(alias) if p is not None else None
    if lib is None:
        return f"SOP `{alias}` (not found)" if decl is not None else None
    if entry is None:
        if lib.is_folder:
            names = ", ".join(f"`{alias}.{e}`" for e in lib.entry_names())
            return f"**SOP folder** `{alias}`: `{lib.path}`\n\nentries: {names}"
        e = lib.entries[""]
        return f"**SOP** `{alias}`: `{e.path}`\n\n```markdown\n{first_lines(e.path)}\n```"
    e = lib.entries.get(entry)
    if e is None:
        return f"`{alias}` has no entry `{entry}`"
    return f"**SOP** `{alias}.{entry}`: `{e.path}`\n\n```markdown\n{first_lines(e.path)}\n```"


def _param_hover(an: Analysis, target: str, name: str, occ: Occurrence) -> str | None:
    p = an.program
    if p is None:
        return None
    if target in p.skills:
        use = p.skills[target]
        if name in use.inputs:
            ty, required = use.inputs[name]
            extra = "" if required else " (optional)"
            return _code(f"{name}: {ty.describe()}") + f"\n\ninput of skill `{target}`{extra}"
    if target in p.flows and p.flows[target].program is not None:
        inp = p.flows[target].program.inputs.get(name)
        if inp is not None:
            return _code(f"input {name}: {inp.type.describe()}") + f"\n\nof flow `{target}`"
    return None


def node_decl_of(an: Analysis, name: str) -> s.NodeDecl | None:
    p = an.program
    if p is not None and name in p.nodes:
        return p.nodes[name].decl
    return None
