"""The flow graph as Mermaid or Graphviz DOT text, for `flowc graph`."""

from __future__ import annotations

__all__ = ["to_mermaid", "to_dot"]

_MERMAID_SHAPES = {"gate": ("{{", "}}"), "ask": ("{{", "}}"), "command": ("[/", "/]"),
                   "code": ("[[", "]]"), "skill": ("[[", "]]"), "flow": ("[[", "]]")}


def _vid(v: str) -> str:
    return v.replace(":", "_").replace("-", "_")


def _edges(fg, program):
    """(source vertex, target vertex, label, dashed) with outcome vertices folded away."""
    g = fg.g
    out = []
    for u, v, d in g.edges(data=True):
        if d.get("kind") in ("outcome", "start") or u == "START":
            continue
        label, dashed = "", d.get("kind") == "control"
        if u.startswith("oc:"):
            _, node, oc = u.split(":")
            u, label = "n:" + node, oc
        elif d.get("kind") == "data" and not d.get("required", True):
            label = "??"
        out.append((u, v, label, dashed))
    return sorted(set(out))


def _label(v: str, program) -> str:
    kind, name = v.split(":", 1)
    if kind == "n":
        info = program.nodes[name]
        suffix = " ⚠ external" if info.effect else ""
        return f"{name}: {info.kind}{suffix}"
    return {"in": "input ", "out": "output "}[kind] + name


def to_mermaid(fg, program) -> str:
    lines = ["flowchart TD"]
    for v in fg.g.nodes:
        if v == "START" or v.startswith("oc:"):
            continue
        kind = program.nodes[v[2:]].kind if v.startswith("n:") else None
        if v.startswith(("in:", "out:")):
            a, b = "([", "])"
        else:
            a, b = _MERMAID_SHAPES.get(kind, ("[", "]"))
        lines.append(f'  {_vid(v)}{a}"{_label(v, program)}"{b}')
    for u, v, label, dashed in _edges(fg, program):
        arrow = "-.->" if dashed else "-->"
        lines.append(f"  {_vid(u)} {arrow}{'|' + label + '|' if label else ''} {_vid(v)}")
    return "\n".join(lines) + "\n"


def to_dot(fg, program) -> str:
    name = program.name or "flow"
    lines = [f'digraph "{name}" {{', "  rankdir=TB;", '  node [fontname="Helvetica"];']
    for v in fg.g.nodes:
        if v == "START" or v.startswith("oc:"):
            continue
        shape = "box"
        if v.startswith(("in:", "out:")):
            shape = "ellipse"
        elif program.nodes[v[2:]].kind in ("gate", "ask"):
            shape = "hexagon"
        lines.append(f'  "{_vid(v)}" [label="{_label(v, program)}", shape={shape}];')
    for u, v, label, dashed in _edges(fg, program):
        attrs = []
        if label:
            attrs.append(f'label="{label}"')
        if dashed:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'  "{_vid(u)}" -> "{_vid(v)}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"
