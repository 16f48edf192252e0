"""The symbol index of one checked document: every name, what it stands for, and where.

One walk over the syntax tree, with the checked program at hand for types, records an
`Occurrence` for each name: the `Symbol` it refers to (a stable key shared by the
declaration and all its uses), whether it is the declaration, and the type of the value it
names. Hover, go to definition, references, rename, semantic tokens and the outline all read
this index; none of them walks the tree again.

Symbol keys:
  ("value", name)               inputs, nodes, outputs and import aliases (one namespace)
  ("type", name)                records, enums, deliverables
  ("member", owner, name)       a declared type's field or part (owner: the type's name),
                                a gate's form field (owner "@gate:NODE"), a skill's output
                                part (owner "@skill:ALIAS")
  ("variant", enum, name)       an enum variant
  ("outcome", node, name)       a gate's or extract node's outcome
  ("sop_entry", alias, entry)   a document of an imported SOP folder
  ("local", node, name)         a `for each` variable
  ("param", target, name)       a skill's or flow's input, named in a call
  and keys for words with no declaration in the file (properties, options, built-ins).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowc.compiler import syntax as s
from flowc.compiler import types as t
from flowc.compiler.source import Span

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["Symbol", "Occurrence", "SymbolIndex", "build_index", "BUILTIN_FUNCTIONS"]

BUILTIN_FUNCTIONS = {
    "len": ("len(value) -> int", "The number of items of a list or map, or characters of text."),
    "lower": ("lower(text) -> str", "The text in lower case."),
    "upper": ("upper(text) -> str", "The text in upper case."),
    "trim": ("trim(text) -> str", "The text without leading and trailing white space."),
    "join": ("join(list, separator) -> str", "The items joined with the separator."),
    "role": ('role("name") -> principal', "Everyone who has the role: who a gate goes to."),
    "user": ('user("id") -> principal', "One person, by id or e-mail address."),
}
_CALL_TYPES = {"len": t.INT, "lower": t.STR, "upper": t.STR, "trim": t.STR, "join": t.STR,
               "role": t.PRINCIPAL, "user": t.PRINCIPAL}


@dataclass(frozen=True, slots=True)
class Symbol:
    key: tuple
    kind: str   # node input output sop skill flow record enum deliverable field part variant
    #             outcome sop_entry local param property option builtin_type builtin_fn
    #             builtin_member action keyword flow_name skill_name language file_kind
    name: str


@dataclass(slots=True)
class Occurrence:
    span: Span
    symbol: Symbol
    definition: bool = False
    type: t.Type | None = None
    owner: t.Type | None = None      # for members: the type they belong to
    context: str | None = None       # e.g. the node kind a property belongs to


@dataclass
class SymbolIndex:
    occurrences: list[Occurrence] = field(default_factory=list)
    by_key: dict[tuple, list[Occurrence]] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list)

    def finish(self) -> None:
        self.occurrences.sort(key=lambda o: (o.span.start, o.span.end))
        self._starts = [o.span.start for o in self.occurrences]
        for o in self.occurrences:
            self.by_key.setdefault(o.symbol.key, []).append(o)

    def at(self, offset: int) -> Occurrence | None:
        """The occurrence under `offset` (a cursor just after a name still counts)."""
        i = bisect_right(self._starts, offset) - 1
        best = None
        while i >= 0:
            o = self.occurrences[i]
            if o.span.start <= offset < o.span.end:
                return o
            if o.span.end == offset and best is None:
                best = o
            if offset - o.span.start > 4096:
                break
            i -= 1
        return best

    def definition(self, key: tuple) -> Occurrence | None:
        for o in self.by_key.get(key, ()):
            if o.definition:
                return o
        return None

    def references(self, key: tuple) -> list[Occurrence]:
        return list(self.by_key.get(key, ()))


_TYPE_KINDS = {s.RecordDecl: "record", s.EnumDecl: "enum", s.DeliverableDecl: "deliverable"}


class _Indexer:
    def __init__(self, an: Analysis):
        self.an = an
        self.p = an.program
        self.index = SymbolIndex()
        self.type_kinds: dict[str, str] = {}
        self.declared_members: dict[str, set[str]] = {}
        for it in an.file.items:
            kind = _TYPE_KINDS.get(type(it))
            if kind is not None:
                self.type_kinds.setdefault(it.name.value, kind)
                self.declared_members[it.name.value] = set(_member_names(it))
        self.node: s.NodeDecl | None = None
        self.locals: dict[str, t.Type] = {}

    # ---- recording -----------------------------------------------------------------------------
    def add(self, span: Span, key: tuple, kind: str, name: str, *, definition=False,
            type_=None, owner=None, context=None) -> None:
        self.index.occurrences.append(
            Occurrence(span, Symbol(key, kind, name), definition, type_, owner, context))

    def value_kind(self, name: str) -> str | None:
        p = self.p
        if p is None:
            return None
        if name in p.nodes:
            return "node"
        if name in p.inputs:
            return "input"
        if name in p.sops or name in p.sop_decls:
            return "sop"
        if name in p.skills:
            return "skill"
        if name in p.flows:
            return "flow"
        if name in p.outputs:
            return "output"
        return None

    def value_type(self, name: str) -> t.Type | None:
        p = self.p
        if p is None:
            return None
        if name in p.nodes:
            return p.nodes[name].type
        if name in p.inputs:
            return p.inputs[name].type
        if name in p.outputs:
            return p.outputs[name].type
        return None

    # ---- declarations ----------------------------------------------------------------------------
    def run(self) -> SymbolIndex:
        f = self.an.file
        if f.header is not None:
            n = f.header.name
            self.add(n.span, ("flow", n.value), "flow_name", n.value, definition=True)
        for it in f.items:
            method = getattr(self, "item_" + type(it).__name__, None)
            if method is not None:
                method(it)
        self.index.finish()
        return self.index

    def item_ImportSop(self, it: s.ImportSop) -> None:
        a = it.alias
        self.add(a.span, ("value", a.value), "sop", a.value, definition=True)
        self.add(it.path.span, ("import_path", a.value), "sop", a.value, context="path")

    def item_UseSkill(self, it: s.UseSkill) -> None:
        local = it.local_name
        if it.alias is not None:
            self.add(it.skill.span, ("skill_name", local.value), "skill_name", it.skill.value)
        self.add(local.span, ("value", local.value), "skill", local.value, definition=True)

    def item_UseFlow(self, it: s.UseFlow) -> None:
        a = it.alias
        self.add(a.span, ("value", a.value), "flow", a.value, definition=True)
        self.add(it.path.span, ("import_path", a.value), "flow", a.value, context="path")

    def item_RecordDecl(self, it: s.RecordDecl) -> None:
        name = it.name.value
        self.add(it.name.span, ("type", name), "record", name, definition=True,
                 type_=self._declared_type(name))
        self.field_defs(it.fields, name, "field")

    def item_EnumDecl(self, it: s.EnumDecl) -> None:
        name = it.name.value
        ty = self._declared_type(name)
        self.add(it.name.span, ("type", name), "enum", name, definition=True, type_=ty)
        for v in it.variants:
            self.add(v.span, ("variant", name, v.value), "variant", v.value, definition=True,
                     type_=ty, owner=ty)

    def item_DeliverableDecl(self, it: s.DeliverableDecl) -> None:
        name = it.name.value
        ty = self._declared_type(name)
        self.add(it.name.span, ("type", name), "deliverable", name, definition=True, type_=ty)
        for part in it.parts:
            if part.kind == "text" and part.name is not None:
                self.add(part.name.span, ("member", name, part.name.value), "part",
                         part.name.value, definition=True, type_=t.STR, owner=ty,
                         context="text")
            elif part.kind == "memory":
                self.add(Span(part.span.start, part.span.start + 6), ("member", name, "memory"),
                         "part", "memory", definition=True, type_=t.MEMORY, owner=ty,
                         context="memory")
            else:
                self.field_defs(part.fields, name, "part", context=part.kind)

    def field_defs(self, fields, owner: str, kind: str, context: str | None = None) -> None:
        owner_ty = self._declared_type(owner) if not owner.startswith("@") else None
        for fd in fields:
            ty = self._member_type(owner_ty, fd.name.value)
            self.add(fd.name.span, ("member", owner, fd.name.value), kind, fd.name.value,
                     definition=True, type_=ty, owner=owner_ty, context=context)
            self.type_expr(fd.type)
            if fd.default is not None:
                self.expr(fd.default)

    def item_InputDecl(self, it: s.InputDecl) -> None:
        n = it.name
        self.add(n.span, ("value", n.value), "input", n.value, definition=True,
                 type_=self.value_type(n.value))
        self.type_expr(it.type)
        if it.default is not None:
            self.expr(it.default)

    def item_OutputDecl(self, it: s.OutputDecl) -> None:
        n = it.name
        self.add(n.span, ("value", n.value), "output", n.value, definition=True,
                 type_=self.value_type(n.value))
        if it.type is not None:
            self.type_expr(it.type)
        self.expr(it.value)

    def item_NodeDecl(self, it: s.NodeDecl) -> None:
        n = it.name
        info = self.p.nodes.get(n.value) if self.p is not None else None
        if info is not None and info.decl is not it:
            info = None
        self.add(n.span, ("value", n.value), "node", n.value, definition=True,
                 type_=info.type if info else None, context=info.kind if info else None)
        if it.type is not None:
            self.type_expr(it.type)
        self.node, self.locals = it, {}
        try:
            self.body(it.body)
            for cl in it.clauses:
                self.clause(cl)
        finally:
            self.node, self.locals = None, {}

    def item_MatchDecl(self, it: s.MatchDecl) -> None:
        subj = it.subject
        self.expr(subj)
        node = None
        enum = None
        if isinstance(subj, s.Ref) and len(subj.parts) == 1 and self.p is not None:
            info = self.p.nodes.get(subj.parts[0].value)
            if info is not None and info.outcomes:
                node = info.name
        if node is None:
            base = t.strip_optional(self.type_of(subj))
            if isinstance(base, t.EnumT):
                enum = base
        for arm in it.arms:
            for pat in arm.patterns:
                if pat.value == "else":
                    self.add(pat.span, ("keyword", "else"), "keyword", "else")
                elif node is not None:
                    self.add(pat.span, ("outcome", node, pat.value), "outcome", pat.value)
                elif enum is not None and enum.name:
                    self.add(pat.span, ("variant", enum.name, pat.value), "variant", pat.value,
                             type_=enum, owner=enum)
            for tgt in arm.targets:
                if tgt.value in ("stop", "fail"):
                    self.add(tgt.span, ("keyword", tgt.value), "keyword", tgt.value)
                else:
                    self.value_ref(tgt)

    def item_TriggerDecl(self, it: s.TriggerDecl) -> None:
        self.add(it.kind.span, ("keyword", it.kind.value), "keyword", it.kind.value)
        if not isinstance(it.arg, s.Literal):
            self.type_expr(it.arg)

    def item_ModeDecl(self, it: s.ModeDecl) -> None:
        self.add(it.mode.span, ("keyword", it.mode.value), "keyword", it.mode.value)

    def item_PolicyDecl(self, it: s.PolicyDecl) -> None:
        self.add(it.name.span, ("option", "policy " + it.name.value), "option", it.name.value)
        self.add(it.level.span, ("keyword", it.level.value), "keyword", it.level.value)

    # ---- types -----------------------------------------------------------------------------------
    def _declared_type(self, name: str) -> t.Type | None:
        return self.p.types.get(name) if self.p is not None else None

    @staticmethod
    def _member_type(owner: t.Type | None, name: str) -> t.Type | None:
        return t.member(owner, name) if owner is not None else None

    def type_expr(self, te) -> None:
        if isinstance(te, s.OptionalType):
            self.type_expr(te.inner)
        elif isinstance(te, s.NamedType):
            name = te.name.value
            if name in self.type_kinds:
                self.add(te.name.span, ("type", name), self.type_kinds[name], name,
                         type_=self._declared_type(name))
            elif name in t.PRIMITIVES or name in ("list", "map", "file", "memory"):
                self.add(te.name.span, ("builtin_type", name), "builtin_type", name)
            if name == "file":
                for a in te.args:
                    if isinstance(a, s.NamedType):
                        self.add(a.name.span, ("file_kind", a.name.value), "file_kind",
                                 a.name.value)
            else:
                for a in te.args:
                    self.type_expr(a)

    # ---- node bodies ---------------------------------------------------------------------------
    def body(self, b) -> None:
        if isinstance(b, s.PropNode):
            for prop in b.props:
                self.add(prop.key.span, ("property", b.kind, prop.key.value), "property",
                         prop.key.value, context=b.kind)
                self.prop_value(prop.key.value, prop.value)
        elif isinstance(b, s.SkillCall | s.FlowCall):
            target = b.skill if isinstance(b, s.SkillCall) else b.flow
            self.value_ref(target)
            for a in b.args:
                self.add(a.name.span, ("param", target.value, a.name.value), "param",
                         a.name.value, context=target.value)
                self.value(a.value)
        elif isinstance(b, s.CodeNode):
            self.add(b.language.span, ("language", b.language.value), "language",
                     b.language.value)
            for a in b.args:
                self.add(a.name.span, ("code_arg", self._node_name(), a.name.value), "param",
                         a.name.value, definition=True, type_=self.type_of(a.value))
                self.value(a.value)
        elif isinstance(b, s.CommandNode):
            self.expr(b.line)
            if b.stdin is not None:
                self.expr(b.stdin)
        elif isinstance(b, s.GateNode | s.AskNode):
            self.human_args(b)
        elif isinstance(b, s.ForEach):
            elem = t.strip_optional(self.type_of(b.iterable))
            ety = elem.elem if isinstance(elem, t.ListT) else t.UNKNOWN
            self.expr(b.iterable)
            if b.concurrency is not None:
                self.expr(b.concurrency)
            self.add(b.var.span, ("local", self._node_name(), b.var.value), "local",
                     b.var.value, definition=True, type_=ety)
            saved = self.locals
            self.locals = {**saved, b.var.value: ety}
            try:
                self.body(b.body)
            finally:
                self.locals = saved

    def _node_name(self) -> str:
        return self.node.name.value if self.node is not None else ""

    def prop_value(self, key: str, v) -> None:
        if key in ("sops", "skills") and isinstance(v, s.ListExpr | s.Ref):
            items = v.items if isinstance(v, s.ListExpr) else (v,)
            for item in items:
                if isinstance(item, s.Ref):
                    self.ref(item, allow_sop=True)
                else:
                    self.expr(item)
            return
        self.value(v)

    def human_args(self, b) -> None:
        gate = isinstance(b, s.GateNode)
        for a in b.args:
            key = a.name.value
            self.add(a.name.span, ("gate_option" if gate else "ask_option", key), "option", key,
                     context="gate" if gate else "ask")
            v = a.value
            if gate and key == "actions" and isinstance(v, s.ListExpr):
                for item in v.items:
                    if isinstance(item, s.Ref) and len(item.parts) == 1:
                        n = item.parts[0]
                        self.add(n.span, ("action", n.value), "action", n.value)
                    else:
                        self.expr(item)
            elif key == "timeout" and isinstance(v, s.Arrow):
                self.expr(v.left)
                r = v.right
                if isinstance(r, s.Ref) and len(r.parts) == 1 and (
                        gate or r.parts[0].value == "fail"):
                    n = r.parts[0]
                    self.add(n.span, ("action", n.value), "action", n.value)
                else:
                    self.expr(r)
            elif gate and key == "edit" and isinstance(v, s.Form):
                self.field_defs(v.fields, "@gate:" + self._node_name(), "field", context="form")
            else:
                self.value(v)

    def clause(self, cl) -> None:
        if isinstance(cl, s.WhenClause):
            self.expr(cl.condition)
        elif isinstance(cl, s.AfterClause):
            for ref in cl.refs:
                head = ref.parts[0]
                self.value_ref(head)
                if len(ref.parts) > 1:
                    oc = ref.parts[1]
                    self.add(oc.span, ("outcome", head.value, oc.value), "outcome", oc.value)
        elif isinstance(cl, s.EffectClause):
            self.add(cl.kind.span, ("keyword", cl.kind.value), "keyword", cl.kind.value)
        elif isinstance(cl, s.OptionClause):
            self.add(cl.key.span, ("option", cl.key.value), "option", cl.key.value,
                     context="node")
            self.value(cl.value)

    # ---- values and expressions ------------------------------------------------------------------
    def value(self, v) -> None:
        if isinstance(v, s.Arrow):
            self.expr(v.left)
            self.expr(v.right)
        elif isinstance(v, s.ArrowList):
            for a in v.items:
                self.value(a)
        elif isinstance(v, s.Form):
            for fd in v.fields:
                self.type_expr(fd.type)
                if fd.default is not None:
                    self.expr(fd.default)
        else:
            self.expr(v)

    def value_ref(self, n: s.Name) -> None:
        kind = self.value_kind(n.value) or "unknown"
        self.add(n.span, ("value", n.value), kind, n.value, type_=self.value_type(n.value))

    def expr(self, e) -> None:
        if isinstance(e, s.Ref):
            self.ref(e)
        elif isinstance(e, s.Template):
            for piece in e.pieces:
                if isinstance(piece, s.TemplatePart):
                    if isinstance(piece.expr, s.Ref):
                        self.ref(piece.expr, allow_sop=True)
                    else:
                        self.expr(piece.expr)
        elif isinstance(e, s.ListExpr):
            for item in e.items:
                self.expr(item)
        elif isinstance(e, s.BinOp):
            for side, other in ((e.left, e.right), (e.right, e.left)):
                if not self._bare_variant(side, other, e.op):
                    self.expr(side)
        elif isinstance(e, s.Chain):  # `+ - * / % and or ??`: no enum variants to read
            for operand in e.operands:
                self.expr(operand)
        elif isinstance(e, s.UnaryOp):
            self.expr(e.operand)
        elif isinstance(e, s.Call):
            name = e.func.value
            if name in BUILTIN_FUNCTIONS:
                self.add(e.func.span, ("builtin_fn", name), "builtin_fn", name,
                         type_=_CALL_TYPES.get(name))
            for a in e.args:
                self.expr(a)
        elif isinstance(e, s.Index):
            self.expr(e.target)
            self.expr(e.index)
        elif isinstance(e, s.Attr):
            self.expr(e.target)
            owner = self.type_of(e.target)
            self.member(e.name, owner, None)

    def _bare_variant(self, side, other, op: str) -> bool:
        """`stats.status == anomaly`: a bare name compared with an enum is its variant."""
        if op not in ("==", "!=", "in") or not (isinstance(side, s.Ref) and len(side.parts) == 1):
            return False
        n = side.parts[0]
        if self._resolve_head(n.value) is not None:
            return False
        base = t.strip_optional(self.type_of(other))
        if isinstance(base, t.ListT):
            base = t.strip_optional(base.elem)
        if not (isinstance(base, t.EnumT) and n.value in base.variants):
            return False
        self.add(n.span, ("variant", base.name or "", n.value), "variant", n.value, type_=base,
                 owner=base)
        return True

    def _resolve_head(self, name: str) -> str | None:
        if name in self.locals:
            return "local"
        return self.value_kind(name) or (
            "enum" if self.type_kinds.get(name) == "enum" else None)

    def ref(self, e: s.Ref, allow_sop: bool = False) -> None:
        head = e.parts[0]
        name = head.value
        rest = e.parts[1:]
        kind = self._resolve_head(name)
        if kind == "local":
            ty = self.locals[name]
            self.add(head.span, ("local", self._node_name(), name), "local", name, type_=ty)
        elif kind == "sop":
            self.add(head.span, ("value", name), "sop", name)
            for i in range(len(rest)):
                entry = ".".join(p.value for p in rest[: i + 1])
                self.add(rest[i].span, ("sop_entry", name, entry), "sop_entry", entry)
            return
        elif kind == "enum":
            ety = self._declared_type(name)
            self.add(head.span, ("type", name), "enum", name, type_=ety)
            if rest:
                self.add(rest[0].span, ("variant", name, rest[0].value), "variant",
                         rest[0].value, type_=ety, owner=ety)
            return
        elif kind is not None:
            ty = self.value_type(name)
            self.add(head.span, ("value", name), kind, name, type_=ty)
        else:
            self.add(head.span, ("unknown", name), "unknown", name)
            return
        owner = ty if ty is not None else t.UNKNOWN
        for i, part in enumerate(rest):
            owner = self.member(part, owner, name if (kind == "node" and i == 0) else None)
            if owner is None:
                return

    def member(self, part: s.Name, owner: t.Type, node: str | None) -> t.Type | None:
        """Record `.part` of a value of type `owner`; return the part's type."""
        base = t.strip_optional(owner)
        mt = t.member(owner, part.value)
        if node is not None and mt is None and self.p is not None and \
                part.value in self.p.nodes[node].outcomes:
            self.add(part.span, ("outcome", node, part.value), "outcome", part.value)
            return None
        key = self._member_key(base, part.value, node)
        if key is None:
            return mt
        kind = "part" if isinstance(base, t.DeliverableT) else "field"
        self.add(part.span, key, kind, part.value, type_=mt, owner=base)
        return mt

    def _member_key(self, base: t.Type, name: str, node: str | None) -> tuple | None:
        if isinstance(base, t.UnknownT) or base == t.JSON:
            return None
        tname = getattr(base, "name", None)
        if isinstance(tname, str) and name in self.declared_members.get(tname, ()):
            return ("member", tname, name)
        if node is not None and self.p is not None:
            info = self.p.nodes[node]
            body = info.decl.body
            if isinstance(body, s.GateNode) and name not in ("outcome", "reason", "reviewer"):
                return ("member", "@gate:" + node, name)
            if isinstance(body, s.SkillCall) and not info.declared_type:
                return ("member", "@skill:" + body.skill.value, name)
        return ("builtin_member", base.describe(), name)

    # ---- types of expressions (enough to follow member chains) ----------------------------
    def type_of(self, e) -> t.Type:
        if isinstance(e, s.Ref):
            name = e.parts[0].value
            if name in self.locals:
                ty = self.locals[name]
            else:
                ty = self.value_type(name)
                if ty is None:
                    if self.type_kinds.get(name) == "enum" and len(e.parts) == 2:
                        return self._declared_type(name) or t.UNKNOWN
                    return t.UNKNOWN
            for part in e.parts[1:]:
                ty = t.member(ty, part.value)
                if ty is None:
                    return t.UNKNOWN
            return ty
        if isinstance(e, s.Attr):
            return t.member(self.type_of(e.target), e.name.value) or t.UNKNOWN
        if isinstance(e, s.Index):
            base = t.strip_optional(self.type_of(e.target))
            if isinstance(base, t.ListT):
                return t.OptionalT(base.elem) if not t.is_optional(base.elem) else base.elem
            if isinstance(base, t.MapT):
                return t.OptionalT(base.value)
            return t.UNKNOWN
        if isinstance(e, s.Call):
            return _CALL_TYPES.get(e.func.value, t.UNKNOWN)
        if isinstance(e, s.Literal):
            return {"str": t.STR, "int": t.INT, "float": t.FLOAT, "bool": t.BOOL,
                    "duration": t.DURATION, "null": t.NULL}.get(e.kind, t.UNKNOWN)
        if isinstance(e, s.Template):
            return t.STR
        return t.UNKNOWN


def _member_names(decl) -> list[str]:
    if isinstance(decl, s.RecordDecl):
        return [f.name.value for f in decl.fields]
    if isinstance(decl, s.EnumDecl):
        return []
    out = []
    for part in decl.parts:
        if part.kind == "text" and part.name is not None:
            out.append(part.name.value)
        elif part.kind == "memory":
            out.append("memory")
        else:
            out += [f.name.value for f in part.fields]
    return out


def build_index(an: Analysis) -> SymbolIndex:
    return _Indexer(an).run()
