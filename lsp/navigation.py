"""Go to definition, find references and rename, over the symbol index."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowc.compiler import syntax as s
from flowc.compiler import types as t
from flowc.compiler.source import Span

from .symbols import Occurrence

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["Target", "definition", "references", "rename_edits", "RenameRefused",
           "RENAMEABLE"]


@dataclass(frozen=True)
class Target:
    """Where a definition is: a span of this document, or a line of another file."""

    span: Span | None = None
    path: Path | None = None
    line: int = 0            # 0-based, in `path`
    source_text: str | None = None   # the other file's text when `span` is in it


def _line_of(path: Path, pattern: str) -> int:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    rx = re.compile(pattern)
    for i, line in enumerate(lines):
        if rx.search(line):
            return i
    return 0


def definition(an: Analysis, occ: Occurrence) -> list[Target]:
    sym = occ.symbol
    key = sym.key
    p = an.program
    kind = key[0]
    if kind == "value" and p is not None:
        name = key[1]
        if sym.kind == "skill" and name in p.skills and p.skills[name].version is not None:
            return [Target(path=p.skills[name].version.skill_md)]
        if sym.kind == "sop" and name in p.sops and not p.sops[name].is_folder \
                and not occ.definition:
            return [Target(path=p.sops[name].entries[""].path)]
        if sym.kind == "flow" and name in p.flows and p.flows[name].path is not None \
                and not occ.definition:
            return [Target(path=p.flows[name].path)]
    if kind == "import_path" and p is not None:
        name = key[1]
        if name in p.sops:
            lib = p.sops[name]
            return [Target(path=e.path) for e in lib.entries.values()][:1] if not \
                lib.is_folder else [Target(path=e.path) for e in lib.entries.values()]
        if name in p.flows and p.flows[name].path is not None:
            return [Target(path=p.flows[name].path)]
        return []
    if kind == "skill_name" and p is not None:
        use = p.skills.get(key[1])
        return [Target(path=use.version.skill_md)] if use and use.version else []
    if kind == "sop_entry" and p is not None:
        lib = p.sops.get(key[1])
        e = lib.entries.get(key[2]) if lib is not None else None
        return [Target(path=e.path)] if e is not None else []
    if kind == "member" and key[1].startswith("@skill:") and p is not None:
        use = p.skills.get(key[1][len("@skill:"):])
        if use is not None and use.version is not None:
            md = use.version.skill_md
            return [Target(path=md, line=_line_of(md, rf"^\s*{re.escape(key[2])}\s*:|"
                                                      rf"^\s*text\s*:\s*{re.escape(key[2])}"))]
    if kind == "param" and p is not None:
        target, name = key[1], key[2]
        if target in p.skills and p.skills[target].version is not None:
            md = p.skills[target].version.skill_md
            return [Target(path=md, line=_line_of(md, rf"^\s+{re.escape(name)}\s*:"))]
        if target in p.flows and p.flows[target].program is not None:
            sub = p.flows[target].program
            inp = sub.inputs.get(name)
            if inp is not None:
                return [Target(span=inp.decl.name.span, path=Path(sub.source.path),
                               source_text=sub.source.text)]
    if kind == "outcome" and p is not None:
        node = p.nodes.get(key[1])
        if node is not None:
            return [Target(span=node.decl.name.span)]
    d = an.index.definition(key)
    if d is not None:
        return [Target(span=d.span)]
    return []


def references(an: Analysis, occ: Occurrence, include_declaration: bool) -> list[Span]:
    return [o.span for o in an.index.references(occ.symbol.key)
            if include_declaration or not o.definition]


# ---- rename ----------------------------------------------------------------------------------

RENAMEABLE = {"node", "input", "output", "sop", "skill", "flow", "record", "enum",
              "deliverable", "field", "part", "variant", "local"}
_KEYWORDS = {
    "flow", "version", "mode", "on", "policy", "import", "use", "record", "enum",
    "deliverable", "text", "files", "fields", "memory", "input", "output", "node", "llm",
    "agent", "extract", "skill", "code", "command", "await", "ask", "for", "when", "after",
    "effect", "match", "else", "not", "true", "false", "null", "and", "or", "in", "each",
    "human", "sop", "as", "concurrency", "stop", "fail",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class RenameRefused(Exception):
    """A rename that would break the flow; the message says why."""


def _value_names(an: Analysis) -> set[str]:
    p = an.program
    if p is None:
        return set()
    return set(p.nodes) | set(p.inputs) | set(p.outputs) | set(p.skills) | set(p.flows) | \
        set(p.sop_decls)


def _collision(an: Analysis, occ: Occurrence, new: str) -> str | None:
    key = occ.symbol.key
    idx = an.index
    if key[0] == "value":
        if new in _value_names(an):
            return f"`{new}` is already declared in this flow"
        locals_ = {o.symbol.name for o in idx.occurrences if o.symbol.key[0] == "local"}
        if new in locals_:
            return f"`{new}` is already a `for each` variable"
    elif key[0] == "type":
        if new in t.PRIMITIVES or new in ("list", "map", "file", "memory"):
            return f"`{new}` is a built-in type"
        if any(o.definition and o.symbol.key[0] == "type" and o.symbol.name == new
               for o in idx.occurrences):
            return f"type `{new}` is already declared"
    elif key[0] in ("member", "variant"):
        owner = key[1]
        taken = {o.symbol.name for o in idx.occurrences
                 if o.definition and o.symbol.key[0] == key[0] and o.symbol.key[1] == owner}
        if owner.startswith("@gate:"):
            taken |= {"outcome", "reason", "reviewer"}
        if new in taken:
            what = "variant" if key[0] == "variant" else "member"
            return f"`{owner.lstrip('@')}` already has a {what} `{new}`"
    elif key[0] == "local":
        if new in _value_names(an):
            return f"`{new}` would hide the declaration of the same name"
    return None


def rename_edits(an: Analysis, occ: Occurrence, new: str) -> list[tuple[Span, str]]:
    """The edits of a rename; raises `RenameRefused` with a reason when it cannot be done."""
    if occ.symbol.kind not in RENAMEABLE:
        raise RenameRefused(f"`{occ.symbol.name}` cannot be renamed here")
    if occ.symbol.key[0] == "variant" and not occ.symbol.key[1]:
        raise RenameRefused("the variants of an inline enum cannot be renamed")
    if not _IDENT.match(new):
        raise RenameRefused(f"`{new}` is not a name (letters, digits and `_`)")
    if new in _KEYWORDS:
        raise RenameRefused(f"`{new}` is a keyword")
    if new == occ.symbol.name:
        return []
    why = _collision(an, occ, new)
    if why is not None:
        raise RenameRefused(f"cannot rename to `{new}`: {why}")
    if an.syntax_errors:
        raise RenameRefused("the file has syntax errors: fix them before renaming")
    edits: dict[Span, str] = {}
    for o in an.index.references(occ.symbol.key):
        edits[o.span] = new
        if o.definition and occ.symbol.kind == "skill":
            use = _use_without_alias(an, o.span)
            if use is not None:  # `use skill x @ 1.0` becomes `use skill x @ 1.0 as NEW`
                del edits[o.span]
                edits[Span(use.span.end, use.span.end)] = f" as {new}"
    return sorted(edits.items(), key=lambda kv: kv[0].start)


def _use_without_alias(an: Analysis, span: Span) -> s.UseSkill | None:
    for it in an.file.items:
        if isinstance(it, s.UseSkill) and it.alias is None and it.skill.span == span:
            return it
    return None
