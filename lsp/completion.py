"""Completion: what may be written at the cursor, from the text before it and the program.

The context comes from the text of the declaration the cursor is in (scanned from its first
line: strings, template holes, brackets and what opened them), so it works as well in a
declaration that does not parse yet as in one that does; the names, types, skills and SOPs
offered come from the last check of the document, which covers every declaration that
parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from flowc.compiler import types as t
from flowc.compiler.parser import SYNC_RE

from .hover import describe_type
from .symbols import BUILTIN_FUNCTIONS
from .vocabulary import (
    ASK_ARGS,
    BUILTIN_TYPES,
    CLAUSE_KEYWORDS,
    GATE_ACTIONS,
    GATE_ARGS,
    NODE_KINDS,
    NODE_OPTIONS,
    PROPERTIES,
    TOP_KEYWORDS,
    TOP_SNIPPETS,
)

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["complete", "scan_context", "Context"]

K = lsp.CompletionItemKind
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CHAIN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*\.\s*\Z")


@dataclass
class Context:
    """What surrounds the cursor inside its declaration."""

    decl: str                      # the declaration's text up to the cursor
    stack: list[tuple[str, str]] = field(default_factory=list)  # (opener, text before it)
    in_string: bool = False        # in a string, outside any `{...}` hole
    in_hole: bool = False          # in a template hole: an expression
    in_comment: bool = False


def scan_context(text: str, offset: int) -> Context:
    start = _decl_start(text, offset)
    decl = text[start:offset]
    ctx = Context(decl)
    i, n = 0, len(decl)
    quote = None      # the open string's quote: '"', '"""', "'''", "`"
    code_string = False
    holes = 0         # `{` nesting inside a template hole
    while i < n:
        c = decl[i]
        if quote is not None and holes == 0:
            if c == "\\":
                i += 2
                continue
            if decl.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            if c == "{" and not code_string:
                if decl.startswith("{{", i):
                    i += 2
                    continue
                holes = 1
            elif c == "\n" and quote == '"':
                quote = None  # an unterminated string ends at the line's end
            i += 1
            continue
        if quote is not None:  # inside a hole
            if c == "{":
                holes += 1
            elif c == "}":
                holes -= 1
                i += 1
                continue
            if c == '"':
                # a string inside a hole is rare; skip it
                end = decl.find('"', i + 1)
                i = n if end == -1 else end + 1
                continue
        if decl.startswith("//", i):
            end = decl.find("\n", i)
            if end == -1:
                ctx.in_comment = True
                break
            i = end
            continue
        if quote is None:
            for q in ('"""', "'''", '"', "`"):
                if decl.startswith(q, i):
                    quote = q
                    code_string = q != '"' and q != "`" and \
                        re.search(r"\bcode\s+\w+\s*(\([^)]*\))?\s*\Z", decl[:i]) is not None
                    i += len(q)
                    break
            else:
                if c in "([{":
                    ctx.stack.append((c, decl[max(0, i - 80):i]))
                elif c in ")]}" and ctx.stack:
                    ctx.stack.pop()
                i += 1
            continue
        i += 1
    if quote is not None:
        ctx.in_hole = holes > 0
        ctx.in_string = holes == 0
    return ctx


def _decl_start(text: str, offset: int) -> int:
    pos = text.rfind("\n", 0, offset) + 1
    for _ in range(5000):
        if SYNC_RE.match(text, pos) and pos < offset:
            return pos
        if pos == 0:
            return 0
        pos = text.rfind("\n", 0, pos - 1) + 1
    return pos


# ---- building items ----------------------------------------------------------------------------


class _Items:
    def __init__(self, rng: lsp.Range):
        self.rng = rng
        self.items: dict[str, lsp.CompletionItem] = {}

    def add(self, label: str, kind, detail: str | None = None, doc: str | None = None,
            insert: str | None = None, snippet: bool = False, sort: str = "5") -> None:
        if label in self.items:
            return
        self.items[label] = lsp.CompletionItem(
            label=label, kind=kind, detail=detail,
            documentation=lsp.MarkupContent(lsp.MarkupKind.Markdown, doc) if doc else None,
            text_edit=lsp.TextEdit(self.rng, insert if insert is not None else label),
            insert_text_format=lsp.InsertTextFormat.Snippet if snippet else None,
            sort_text=f"{sort}{label}",
        )


def complete(an: Analysis | None, text: str, offset: int, codec) -> list[lsp.CompletionItem]:
    before = text[:offset]
    m = _WORD.search(before)
    word_start = offset - (len(m.group(0)) if m else 0)
    out = _Items(codec.range(word_start, offset))
    ctx = scan_context(text, offset)
    if ctx.in_comment or ctx.in_string:
        return []
    head = before[:word_start]
    line = head[head.rfind("\n") + 1:]
    _complete(an, ctx, head, line, out)
    return list(out.items.values())


def _complete(an, ctx: Context, head: str, line: str, out: _Items) -> None:
    p = an.program if an is not None else None
    # ---- `use skill NAME @ VERSION` ----
    mv = re.match(r"\s*use\s+skill\s+([A-Za-z_][\w-]*)\s*@\s*[\^~<>=]*\s*\Z", line)
    if mv:
        _skill_versions(an, mv.group(1), out)
        return
    if re.match(r"\s*use\s+skill\s+\Z", line):
        _skill_names(an, out)
        return
    if re.match(r"\s*(use|import)\s+\Z", line):
        word = "skill" if line.strip() == "use" else "sop"
        out.add(word, K.Keyword)
        if word == "skill":
            out.add("flow", K.Keyword)
        return
    # ---- members after `.` ----
    chain = _CHAIN.search(head)
    if chain:
        _members(an, ctx, chain.group(1), out)
        return
    if ctx.in_hole:
        _expression(p, out, sops=True)
        return
    opener, before_open = ctx.stack[-1] if ctx.stack else (None, "")
    if opener is None:
        _top(an, ctx, head, line, out)
        return
    if opener == "{" and re.search(r"\b(llm|agent|extract)\s*\Z", before_open):
        kind = re.search(r"\b(llm|agent|extract)\s*\Z", before_open).group(1)
        cur = _current_segment(ctx.decl, head)
        if re.match(r"\s*\Z", cur):
            for key, doc in PROPERTIES[kind].items():
                out.add(key, K.Property, f"{kind} property", doc, insert=f"{key} ", sort="1")
            return
        key = re.match(r"\s*([A-Za-z_]\w*)", cur)
        _value_for(p, key.group(1) if key else "", out)
        return
    if opener == "(" and re.search(r"\b(await|ask)\s+human\s*\Z", before_open):
        gate = "await" in re.search(r"\b(await|ask)\s+human\s*\Z", before_open).group(0)
        args = GATE_ARGS if gate else ASK_ARGS
        cur = _current_segment(ctx.decl, head, sep=",")
        if re.match(r"\s*\Z", cur):
            for key, doc in args.items():
                out.add(key, K.Property, "gate argument" if gate else "ask argument", doc,
                        insert=f"{key}: ", sort="1")
            return
        key = re.match(r"\s*([A-Za-z_]\w*)\s*:", cur)
        key = key.group(1) if key else ""
        if key == "timeout" and "->" in cur:
            for a in (("approve", "reject", "fail") if gate else ("fail",)):
                out.add(a, K.EnumMember, "timeout outcome", GATE_ACTIONS.get(a), sort="1")
            return
        if key == "to" or (key == "escalate" and re.search(r"->\s*\Z", cur)):
            _people(out)
            return
        if key == "edit":
            _types(p, out)
            return
        _expression(p, out)
        return
    if opener == "(" and re.search(r"\b(skill|flow)\s+([A-Za-z_]\w*)\s*\Z", before_open):
        mc = re.search(r"\b(skill|flow)\s+([A-Za-z_]\w*)\s*\Z", before_open)
        cur = _current_segment(ctx.decl, head, sep=",")
        if re.match(r"\s*\Z", cur):
            for name, ty, required in _call_params(p, mc.group(1), mc.group(2)):
                out.add(name, K.Field, ty.describe() + ("" if required else " (optional)"),
                        insert=f"{name}: ", sort="1" if required else "2")
            return
        _expression(p, out)
        return
    if opener == "[":
        owner = re.search(r"([A-Za-z_]\w*)\s*:?\s*\Z", before_open)
        key = owner.group(1) if owner else ""
        if key == "sops":
            _sops(p, out)
            return
        if key == "skills":
            for name in (p.skills if p else {}):
                out.add(name, K.Module, "skill", sort="1")
            return
        if key == "actions":
            for a in ("approve", "edit", "reject"):
                out.add(a, K.EnumMember, "gate action", GATE_ACTIONS[a], sort="1")
            return
        if key == "context":
            _values(p, out, kinds=("node", "input"))
            return
        if key == "to" or (key == "escalate" and re.search(
                r"->\s*\Z", _current_segment(ctx.decl, head, sep=","))) or re.search(
                r"\bescalate\s*:.*->\s*\Z", before_open, re.S):
            _people(out)
            return
        _expression(p, out)
        return
    if opener == "{" and re.search(r"\bmatch\b", ctx.decl[:20]):
        _match_arm(p, ctx, line, out)
        return
    if opener == "{" and re.search(r"\b(record|deliverable|enum)\b", ctx.decl[:30]):
        if re.search(r":\s*\Z", head) or re.search(r"<\s*\Z", head):
            _types(p, out)
        elif ctx.decl.lstrip().startswith("deliverable") and len(ctx.stack) == 1:
            for kw, doc in (("text", "a text part: `text NAME`"),
                            ("files", "file parts: `files { NAME: file<KIND> }`"),
                            ("fields", "field parts: `fields { NAME: TYPE }`"),
                            ("memory", "the memory snapshot")):
                out.add(kw, K.Keyword, doc)
        return
    if opener == "{" and re.search(r":\s*\Z", head):  # a form field's type
        _types(p, out)
        return
    _expression(p, out)


def _people(out: _Items) -> None:
    """`role("...")` and `user("...")`: who decides a gate (`to:`, `escalate:`)."""
    out.add('role("...")', K.Function, "everyone with a role", insert='role("$1")',
            snippet=True, sort="1")
    out.add('user("...")', K.Function, "one person", insert='user("$1")',
            snippet=True, sort="1")


def _current_segment(decl: str, head: str, sep: str = ",") -> str:
    """The text of the current property or argument: from the last opener, comma or line."""
    cut = max(head.rfind("\n"), head.rfind("("), head.rfind("{"), head.rfind(sep)
              if sep else -1)
    return head[cut + 1:]


def _top(an, ctx: Context, head: str, line: str, out: _Items) -> None:
    p = an.program if an is not None else None
    decl = ctx.decl
    if re.match(r"\s*\Z", line) and not line:
        for kw, doc in TOP_KEYWORDS.items():
            out.add(kw, K.Keyword, "declaration", doc, sort="2")
        for label, body in TOP_SNIPPETS.items():
            out.add(label, K.Snippet, "snippet", f"```flow\n{body}\n```", insert=body,
                    snippet=True, sort="1")
        return
    if re.match(r"\s*node\s+\w+\s*(:\s*[^=]*)?=\s*\Z", decl):
        for kw, doc in NODE_KINDS.items():
            insert = {"await": "await human(", "ask": "ask human(",
                      "for": "for each "}.get(kw, kw + " ")
            out.add(insert.strip().rstrip("("), K.Keyword, "node kind", doc, insert=insert,
                    sort="1")
        return
    if re.search(r"=\s*skill\s+\Z", decl):
        for name, use in (p.skills if p else {}).items():
            params = ", ".join(f"{k}: ${i + 1}" for i, (k, (_, req)) in
                               enumerate(use.inputs.items()) if req)
            out.add(name, K.Module, "skill", insert=f"{name}({params})", snippet=True,
                    sort="1")
        return
    if re.search(r"=\s*flow\s+\Z", decl):
        for name in (p.flows if p else {}):
            out.add(name, K.Module, "flow", insert=f"{name}(", sort="1")
        return
    if re.search(r"\bcode\s+\Z", decl):
        for lang in ("python", "javascript"):
            out.add(lang, K.Keyword, "language")
        return
    if re.search(r"(^|\n)\s*after\s+([\w.]+\s*,\s*)*\Z", decl):
        _values(p, out, kinds=("node",))
        return
    if re.match(r"\s*(input\s+\w+|node\s+\w+|output\s+\w+)\s*:\s*\Z", decl) or \
            (re.search(r"[:<,]\s*\Z", head) and re.match(r"\s*(input|output)\b", decl)):
        _types(p, out)
        return
    if re.search(r"(^|\n)\s*effect\s+\Z", decl):
        out.add("external", K.Keyword, "acts on the outside world")
        return
    if re.match(r"\s*mode\s+\Z", decl):
        for m in ("workflow", "chat"):
            out.add(m, K.Keyword, "mode")
        return
    if re.match(r"\s*policy\s+approval\s*:\s*\Z", decl):
        for lv in ("error", "warning", "off"):
            out.add(lv, K.Keyword, "policy level")
        return
    if re.match(r"\s*on\s+\Z", decl):
        out.add("schedule", K.Keyword, insert='schedule "${1:0 9 * * 1}"', snippet=True)
        out.add("upload", K.Keyword, insert="upload file<${1:csv}>", snippet=True)
        return
    if re.match(r"\s*node\b", decl) and re.match(r"[ \t]+\Z", line):
        for kw, doc in CLAUSE_KEYWORDS.items():
            out.add(kw, K.Keyword, "clause", doc, insert=kw + " ", sort="1")
        for kw, doc in NODE_OPTIONS.items():
            out.add(kw, K.Property, "option", doc, insert=kw + " ", sort="2")
        return
    _expression(p, out)


def _value_for(p, key: str, out: _Items) -> None:
    if key == "from":
        _values(p, out, kinds=("node",))
    elif key in ("model",):
        out.add('"default"', K.Value, "the configured model")
    else:
        _expression(p, out, sops=True)


def _values(p, out: _Items, kinds=("node", "input")) -> None:
    if p is None:
        return
    if "node" in kinds:
        for name, info in p.nodes.items():
            out.add(name, K.Function, f"{info.kind} node: {info.type.describe()}",
                    describe_type(info.type), sort="1")
    if "input" in kinds:
        for name, inp in p.inputs.items():
            out.add(name, K.Variable, f"input: {inp.type.describe()}",
                    describe_type(inp.type), sort="1")


def _expression(p, out: _Items, sops: bool = False) -> None:
    _values(p, out)
    for name, (sig, doc) in BUILTIN_FUNCTIONS.items():
        out.add(name, K.Function, sig, doc, insert=f"{name}($1)", snippet=True, sort="3")
    if p is not None:
        for name, ty in p.types.items():
            if isinstance(ty, t.EnumT):
                out.add(name, K.Enum, "enum", describe_type(ty), sort="4")
        if sops:
            _sops(p, out)
    for kw in ("true", "false", "null", "not", "and", "or", "in"):
        out.add(kw, K.Keyword, sort="6")


def _types(p, out: _Items) -> None:
    for name, doc in BUILTIN_TYPES.items():
        insert = {"list": "list<$1>", "map": "map<$1>", "file": "file<$1>"}.get(name)
        out.add(name, K.TypeParameter, "built-in type", doc, insert=insert,
                snippet=insert is not None, sort="2")
    if p is not None:
        for name, ty in p.types.items():
            kind = K.Enum if isinstance(ty, t.EnumT) else K.Struct
            out.add(name, kind, "type", describe_type(ty), sort="1")


def _sops(p, out: _Items) -> None:
    if p is None:
        return
    for alias, lib in p.sops.items():
        out.add(alias, K.File, f"SOP: {lib.path.name}", sort="1")
        if lib.is_folder:
            for entry in lib.entry_names():
                out.add(f"{alias}.{entry}", K.File, f"SOP: {lib.entries[entry].path.name}",
                        sort="2")


def _skill_names(an, out: _Items) -> None:
    reg = an.registry if an is not None else None
    if reg is None:
        return
    for name in reg.names():
        versions = reg.versions(name)
        latest = max(versions, key=_semver_key) if versions else None
        out.add(name, K.Module, f"skill {latest.version}" if latest else "skill",
                latest.description if latest else None, sort="1")


def _skill_versions(an, name: str, out: _Items) -> None:
    reg = an.registry if an is not None else None
    if reg is None:
        return
    versions = sorted(reg.versions(name), key=_semver_key, reverse=True)
    for k, sv in enumerate(versions):
        out.add(sv.version, K.Constant, f"{sv.name} {sv.version}", sv.description,
                sort=f"{k:03d}")
        major, minor = sv.version.split(".")[:2]
        out.add(f"^{major}.{minor}", K.Constant, f"any compatible {major}.x from {major}.{minor}",
                sort=f"5{k:03d}")


def _semver_key(sv):
    nums = re.findall(r"\d+", sv.version)[:3]
    return tuple(int(x) for x in nums)


def _call_params(p, kind: str, name: str):
    if p is None:
        return []
    if kind == "skill" and name in p.skills:
        return [(k, ty, req) for k, (ty, req) in p.skills[name].inputs.items()]
    if kind == "flow" and name in p.flows and p.flows[name].program is not None:
        sub = p.flows[name].program
        return [(k, v.type, v.decl.default is None and not t.is_optional(v.type))
                for k, v in sub.inputs.items()]
    return []


def _members(an, ctx: Context, chain: str, out: _Items) -> None:
    p = an.program if an is not None else None
    if p is None:
        return
    parts = [x.strip() for x in chain.split(".")]
    head, rest = parts[0], parts[1:]
    if head in p.sops:
        lib = p.sops[head]
        prefix = ".".join(rest)
        for entry in lib.entry_names():
            if entry and (not prefix or entry.startswith(prefix + ".")):
                label = entry[len(prefix) + 1:] if prefix else entry
                out.add(label, K.File, f"SOP: {lib.entries[entry].path.name}")
        return
    if head in p.types and isinstance(p.types[head], t.EnumT) and not rest:
        for v in p.types[head].variants:
            out.add(v, K.EnumMember, f"{head}.{v}")
        return
    ty = _local_type(p, ctx, head)
    if ty is None:
        if head in p.nodes:
            ty = p.nodes[head].type
        elif head in p.inputs:
            ty = p.inputs[head].type
        else:
            return
    in_after = re.search(r"(^|\n)\s*after\s+[\w.,\s]*\Z", ctx.decl) is not None
    if head in p.nodes and not rest and (in_after or p.nodes[head].outcomes):
        for oc in p.nodes[head].outcomes:
            out.add(oc, K.Event, f"outcome of {head}", sort="1" if in_after else "7")
        if in_after:
            return
    for part in rest:
        ty = t.member(ty, part)
        if ty is None:
            return
    base = t.strip_optional(ty)
    if isinstance(base, t.DeliverableT):
        for part in base.parts:
            out.add(part.name, K.Field, f"{part.kind} {part.name}: {part.type.describe()}",
                    describe_type(part.type), sort="1")
    else:
        for name in t.member_names(base):
            mt = t.member(base, name)
            out.add(name, K.Field, f"{name}: {mt.describe() if mt else '?'}",
                    describe_type(mt), sort="1")


def _local_type(p, ctx: Context, name: str) -> t.Type | None:
    m = re.search(rf"for\s+each\s+{re.escape(name)}\s+in\s+([\w.]+)", ctx.decl)
    if not m:
        return None
    parts = m.group(1).split(".")
    head = parts[0]
    ty = p.nodes[head].type if head in p.nodes else (
        p.inputs[head].type if head in p.inputs else None)
    if ty is None:
        return t.UNKNOWN
    for part in parts[1:]:
        ty = t.member(ty, part)
        if ty is None:
            return t.UNKNOWN
    base = t.strip_optional(ty)
    return base.elem if isinstance(base, t.ListT) else t.UNKNOWN


def _match_arm(p, ctx: Context, line: str, out: _Items) -> None:
    if p is None:
        return
    subject = re.match(r"\s*match\s+([\w.]+)", ctx.decl)
    if "->" in line:
        _values(p, out, kinds=("node",))
        out.add("stop", K.Keyword, "end the run here")
        out.add("fail", K.Keyword, "fail the run")
        return
    if subject:
        name = subject.group(1)
        if name in p.nodes and p.nodes[name].outcomes:
            for oc in p.nodes[name].outcomes:
                out.add(oc, K.EnumMember, f"outcome of {name}", sort="1")
        else:
            ty = None
            parts = name.split(".")
            if parts[0] in p.nodes:
                ty = p.nodes[parts[0]].type
            elif parts[0] in p.inputs:
                ty = p.inputs[parts[0]].type
            for part in parts[1:]:
                ty = t.member(ty, part) if ty is not None else None
            base = t.strip_optional(ty) if ty is not None else None
            if isinstance(base, t.EnumT):
                for v in base.variants:
                    out.add(v, K.EnumMember, "variant", sort="1")
    out.add("else", K.Keyword, "every other case", sort="9")
