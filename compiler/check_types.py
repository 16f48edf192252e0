"""Checker pass 1: resolves type expressions and declared types, and infers every node's
output type (its shape) from its kind, its skill or its annotation."""

from __future__ import annotations

from . import syntax as s
from . import types as t
from .check_base import (
    COMMAND_RESULT,
    EXTRACT_OUTCOMES,
    GATE_OUTCOMES,
    REPLY,
    _Ctx,
    _kind_of,
)
from .parser import INVALID_TYPE
from .program import (
    NodeInfo,
)
from .source import Span
from .suggest import did_you_mean

__all__ = ["TypeShapes"]


class TypeShapes:
    """Resolves types and infers node shapes, before any expression is checked."""

    def named_type(self, name: str) -> t.Type | None:
        if name in self.p.types:
            return self.p.types[name]
        decl = self._type_decls.get(name)
        if decl is None:
            return None
        if name in self._resolving:
            self.err("F0110", decl.name.span, f"type `{name}` contains itself",
                     label="recursive type", help="use a list of ids, or `json`, to break the loop")
            return t.UNKNOWN
        self._resolving.add(name)
        try:
            if isinstance(decl, s.EnumDecl):
                ty = t.EnumT(name, self._variants(decl.variants))
            elif isinstance(decl, s.RecordDecl):
                fields_, defaults, values = self._fields(decl.fields)
                ty = t.RecordT(name, fields_, frozenset(defaults), values)
            else:
                ty = self._deliverable(decl)
        finally:
            self._resolving.discard(name)
        self.p.types[name] = ty
        return ty

    def _variants(self, names: tuple[s.Name, ...]) -> tuple[str, ...]:
        seen: dict[str, Span] = {}
        for n in names:
            if n.value in seen:
                self.err("F0102", n.span, f"enum variant `{n.value}` is listed twice",
                         related=self.declared_here(seen[n.value], "first listed here"))
            seen[n.value] = n.span
        return tuple(seen)

    def _fields(self, defs: tuple[s.FieldDef, ...]):
        out: list[tuple[str, t.Type]] = []
        defaults: list[str] = []
        values: list[tuple[str, object]] = []
        seen: dict[str, Span] = {}
        for fd in defs:
            if fd.name.value in seen:
                self.err("F0102", fd.name.span, f"field `{fd.name.value}` is declared twice",
                         related=self.declared_here(seen[fd.name.value], "first declared here"))
                continue
            seen[fd.name.value] = fd.name.span
            ty = self.resolve_type(fd.type)
            if fd.default is not None:
                defaults.append(fd.name.value)
                ctx = _Ctx()
                vty, ir = self.expr(fd.default, ctx, ty)
                self.expect(vty, ty, fd.default.span, "the default")
                if isinstance(ir, dict) and set(ir) == {"lit"}:
                    values.append((fd.name.value, ir["lit"]))
            out.append((fd.name.value, ty))
        return tuple(out), defaults, tuple(values)

    def _deliverable(self, decl: s.DeliverableDecl) -> t.DeliverableT:
        parts: list[t.PartT] = []
        seen: dict[str, Span] = {}

        def add(name: str, kind: str, ty: t.Type, span: Span):
            if name in seen:
                self.err("F0102", span, f"part `{name}` is declared twice in `{decl.name.value}`",
                         related=self.declared_here(seen[name], "first declared here"))
                return
            seen[name] = span
            parts.append(t.PartT(name, kind, ty))

        for part in decl.parts:
            if part.kind == "text":
                add(part.name.value, "text", t.STR, part.name.span)
            elif part.kind == "memory":
                add("memory", "memory", t.MEMORY, part.span)
            else:
                for fd in part.fields:
                    ty = self.resolve_type(fd.type)
                    if part.kind == "files":
                        inner = ty.elem if isinstance(ty, t.ListT) else ty
                        if not isinstance(inner, t.FileT | t.UnknownT):
                            self.err("F0204", fd.type.span,
                                     f"`files` holds files, not `{ty.describe()}`",
                                     help=f"move `{fd.name.value}` to `fields`, or make it `file<...>`")
                    if fd.default is not None:
                        self.err("F0211", fd.default.span, "deliverable parts take no default",
                                 label="remove this default")
                    add(fd.name.value, "file" if part.kind == "files" else "field", ty,
                        fd.name.span)
        return t.DeliverableT(decl.name.value, tuple(parts))

    def resolve_type(self, te, builtins_only: bool = False, quiet: bool = False) -> t.Type:
        if isinstance(te, s.OptionalType):
            inner = self.resolve_type(te.inner, builtins_only, quiet)
            return inner if isinstance(inner, t.OptionalT) else t.OptionalT(inner)
        if isinstance(te, s.EnumType):
            return t.EnumT(None, self._variants(te.variants) if not quiet else
                           tuple(dict.fromkeys(v.value for v in te.variants)))
        name = te.name.value
        if name == INVALID_TYPE:  # nested too deeply: F0006 said so
            return t.UNKNOWN
        arity = {"list": 1, "map": 1, "file": (0, 1)}
        if name in ("list", "map"):
            if len(te.args) != 1:
                if not quiet:
                    self.err("F0110", te.span, f"`{name}` takes one type argument",
                             help=f"write `{name}<str>`")
                return t.UNKNOWN
            inner = self.resolve_type(te.args[0], builtins_only, quiet)
            return t.ListT(inner) if name == "list" else t.MapT(inner)
        if name == "file":
            if len(te.args) > 1 or (te.args and (not isinstance(te.args[0], s.NamedType)
                                                 or te.args[0].args)):
                if not quiet:
                    self.err("F0110", te.span, "`file` takes one kind, such as `file<csv>`")
                return t.FileT(None)
            return t.FileT(te.args[0].name.value if te.args else None)
        if te.args:
            if not quiet:
                self.err("F0110", te.span, f"`{name}` takes no type arguments")
            return t.UNKNOWN
        if name in t.PRIMITIVES:
            return t.PRIMITIVES[name]
        if name in ("memory",):
            return t.MEMORY
        if not builtins_only:
            ty = self.named_type(name)
            if ty is not None:
                return ty
        if not quiet:
            cands = list(t.PRIMITIVES) + list(arity) + list(self._type_decls)
            self.err("F0110", te.name.span, f"unknown type `{name}`", label="not a type",
                     help=did_you_mean(name, cands))
        return t.UNKNOWN

    # ---- pass 1: node shapes -------------------------------------------------------------------
    def node_shape(self, decl: s.NodeDecl, index: int) -> NodeInfo:
        body = decl.body
        kind = _kind_of(body)
        declared = self.resolve_type(decl.type) if decl.type is not None else None
        info = NodeInfo(decl.name.value, decl, kind, t.UNKNOWN, index,
                        declared_type=declared is not None)
        info.type, info.outcomes = self.body_shape(body, declared, decl)
        return info

    def body_shape(self, body, declared, decl) -> tuple[t.Type, tuple[str, ...]]:
        if isinstance(body, s.PropNode):
            if body.kind == "extract":
                return self._extract_type(declared, decl), EXTRACT_OUTCOMES
            return (declared or REPLY), ()
        if isinstance(body, s.SkillCall):
            use = self.p.skills.get(body.skill.value)
            out = use.output if use is not None else t.UNKNOWN
            if declared is not None and use is not None and use.version is not None:
                if not t.assignable(out, declared):
                    self.err("F0204", decl.type.span,
                             f"skill `{body.skill.value}` delivers `{out.describe()}`, "
                             f"which does not fit `{declared.describe()}`",
                             label="declared type",
                             notes=(self._deliverable_note(out),))
                return declared, ()
            return out, ()
        if isinstance(body, s.FlowCall):
            use = self.p.flows.get(body.flow.value)
            out: t.Type = t.UNKNOWN
            if use is not None and use.program is not None:
                prog = use.program
                out = t.RecordT(prog.name, tuple((o.name, o.type) for o in prog.outputs.values()))
                if declared is not None and not t.assignable(out, declared):
                    self.err("F0204", decl.type.span,
                             f"flow `{body.flow.value}` returns `{out.describe()}`, which does "
                             f"not fit `{declared.describe()}`", label="declared type",
                             notes=("its outputs: " + ", ".join(
                                 f"{k}: {v.describe()}" for k, v in out.fields),))
            return declared or out, ()
        if isinstance(body, s.CodeNode | s.AskNode):
            if declared is None:
                what = "code" if isinstance(body, s.CodeNode) else "ask human"
                self.err("F0212", decl.name.span,
                         f"`{what}` node `{decl.name.value}` needs a declared type",
                         label="what does it produce?",
                         help=f"write `node {decl.name.value}: TYPE = ...`")
                return t.UNKNOWN, ()
            return declared, ()
        if isinstance(body, s.CommandNode):
            return declared or COMMAND_RESULT, ()
        if isinstance(body, s.GateNode):
            return self._gate_shape(body, decl)
        if isinstance(body, s.ForEach):
            inner_declared = None
            if declared is not None:
                if isinstance(declared, t.ListT):
                    inner_declared = declared.elem
                elif not isinstance(declared, t.UnknownT):
                    self.err("F0204", decl.type.span,
                             f"`for each` produces a list, not `{declared.describe()}`",
                             help=f"declare it as `list<{declared.describe()}>`")
            inner, _ = self.body_shape(body.body, inner_declared, decl)
            return t.ListT(inner), ()
        return t.UNKNOWN, ()

    def _deliverable_note(self, ty: t.Type) -> str:
        if isinstance(ty, t.DeliverableT):
            return "it delivers: " + ", ".join(f"{p.name}: {p.type.describe()}" for p in ty.parts)
        return f"it delivers {ty.describe()}"

    def _extract_type(self, declared, decl) -> t.Type:
        if declared is None:
            self.err("F0212", decl.name.span,
                     f"`extract` node `{decl.name.value}` needs a declared type",
                     label="which fields should it extract?",
                     help=f"write `node {decl.name.value}: RECORD = extract {{ ... }}`")
            return t.UNKNOWN
        base = t.strip_optional(declared)
        if isinstance(base, t.RecordT):
            fields_ = [(k, v if (k in base.defaults or t.is_optional(v)) else t.OptionalT(v))
                       for k, v in base.fields]
        elif isinstance(base, t.DeliverableT):
            fields_ = [(p.name, t.OptionalT(p.type) if p.kind == "field" else p.type)
                       for p in base.parts]
        elif isinstance(base, t.UnknownT):
            return t.UNKNOWN
        else:
            self.err("F0204", decl.type.span,
                     f"`extract` fills a record or deliverable, not `{declared.describe()}`")
            return t.UNKNOWN
        names = {k for k, _ in fields_}
        if "text" not in names:
            fields_.append(("text", t.STR))
        if "extracted" not in names:
            fields_.append(("extracted", t.BOOL))
        if isinstance(base, t.RecordT):
            return t.RecordT(base.describe(), tuple(fields_), base.defaults, base.default_values)
        return t.RecordT(base.describe(), tuple(fields_), frozenset())

    def _gate_shape(self, body: s.GateNode, decl) -> tuple[t.Type, tuple[str, ...]]:
        args = {a.name.value: a for a in body.args}
        fields_: list[tuple[str, t.Type]] = []
        edit = args.get("edit")
        if edit is not None and isinstance(edit.value, s.Form):
            for fd in edit.value.fields:
                if fd.name.value in ("outcome", "reason", "reviewer"):
                    self.err("F0102", fd.name.span,
                             f"`{fd.name.value}` is a gate's own field and cannot be edited",
                             help="rename the form field")
                    continue
                fields_.append((fd.name.value, self.resolve_type(fd.type)))
        actions = self._gate_actions(args)
        outcomes = tuple(GATE_OUTCOMES[a] for a in ("approve", "edit", "reject") if a in actions)
        timeout = args.get("timeout")
        if timeout is not None and isinstance(timeout.value, s.Arrow):
            r = timeout.value.right
            if isinstance(r, s.Ref) and len(r.parts) == 1 and r.parts[0].value in GATE_OUTCOMES:
                oc = GATE_OUTCOMES[r.parts[0].value]
                if oc not in outcomes and oc != "edited":
                    outcomes = (*outcomes, oc)
        outcomes = tuple(o for o in ("approved", "edited", "rejected") if o in outcomes)
        fields_ += [("outcome", t.EnumT(None, outcomes or ("approved",))),
                    ("reason", t.STR), ("reviewer", t.STR)]
        if decl.type is not None:
            self.err("F0211", decl.type.span, "a gate's type comes from its `edit:` form",
                     label="remove this type")
        return t.RecordT("Decision", tuple(fields_)), outcomes

    def _gate_actions(self, args) -> list[str]:
        a = args.get("actions")
        if a is None or not isinstance(a.value, s.ListExpr):
            return ["approve", "edit", "reject"] if "edit" in args else ["approve", "reject"]
        out = []
        for item in a.value.items:
            if isinstance(item, s.Ref) and len(item.parts) == 1:
                out.append(item.parts[0].value)
        return out

