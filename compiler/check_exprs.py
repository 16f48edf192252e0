"""Checker pass 2 for expressions and templates: names, references, operators, calls,
and the IR each of them lowers to."""

from __future__ import annotations

from . import syntax as s
from . import types as t
from .check_base import (
    _BUILTINS,
    _SIGNATURES,
    _comparable,
    _Ctx,
    _join,
    _literal_type,
)
from .source import Span
from .suggest import did_you_mean, parse_duration

__all__ = ["ExpressionChecks"]


class ExpressionChecks:
    """Types expressions and templates against what is wanted, and lowers them to IR."""

    def expect(self, got: t.Type, want: t.Type, span: Span, what: str) -> None:
        if t.assignable(got, want):
            return
        if t.is_optional(got) and t.assignable(t.strip_optional(got), want):
            self.err("F0213", span, f"{what} may be missing here (`{got.describe()}`)",
                     label="may be null", help="give a default with `?? VALUE`")
            return
        self.err("F0204", span, f"{what} should be `{want.describe()}`, found `{got.describe()}`",
                 label=f"this is `{got.describe()}`")

    def expect_bool(self, got: t.Type, span: Span) -> None:
        if got in (t.BOOL, t.UNKNOWN, t.JSON):
            return
        if t.strip_optional(got) == t.BOOL:
            self.err("F0213", span, "the condition may be missing",
                     label="may be null", help="write `(... ?? false)`")
            return
        self.err("F0207", span, f"a condition must be `bool`, found `{got.describe()}`",
                 label="not a condition", help="compare it, e.g. `x == ...` or `len(x) > 0`")

    def expr_value(self, v, ctx: _Ctx, want: t.Type | None):
        if isinstance(v, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", v.span, "a single value is expected here")
            return t.UNKNOWN, None
        return self.expr(v, ctx, want)

    def template(self, v, ctx: _Ctx, what: str):
        if isinstance(v, s.Literal) and v.kind == "str":
            return {"template": [v.value]}
        if isinstance(v, s.Template):
            parts = []
            for piece in v.pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                    continue
                sctx_sop = ctx.allow_sop
                ctx.allow_sop = True
                ty, ir = self.expr(piece.expr, ctx, None)
                ctx.allow_sop = sctx_sop
                if not t.renderable(ty):
                    names = t.member_names(ty)
                    shown = self.src.text[piece.expr.span.start:piece.expr.span.end]
                    self.err("F0205", piece.expr.span,
                             f"`{shown}` is `{ty.describe()}` and has no text form",
                             label="cannot go into text",
                             help=("name one of its parts: " + ", ".join(
                                 f"`{shown}.{n}`" for n in names[:5]))
                             if names else None)
                parts.append(ir)
            return {"template": parts}
        ty, ir = self.expr_value(v, ctx, t.STR)
        if not isinstance(ty, t.UnknownT):
            self.err("F0204", v.span, f"{what} is text: write it as a string",
                     label=f"this is `{ty.describe()}`", help='use "...{value}..."')
        return ir

    def unknown_name(self, n: s.Name, kind: str = "value") -> None:
        pool = {
            "node": self.p.nodes.keys(),
            "skill": self.p.skills.keys(),
            "flow": self.p.flows.keys(),
            "sop": self.p.sops.keys(),
        }.get(kind, self.value_spans.keys())
        word = {"node": "node", "skill": "skill", "flow": "flow",
                "sop": "SOP"}.get(kind, "name")
        help_ = did_you_mean(n.value, pool)
        if help_ is None and kind == "skill":
            help_ = f"import it with `use skill {n.value} @ VERSION`"
        if help_ is None and kind == "flow":
            help_ = f'import it with `use flow "{n.value}.flow" as {n.value}`'
        self.err("F0101", n.span, f"unknown {word} `{n.value}`", label=f"no such {word}",
                 help=help_)

    def expr(self, e, ctx: _Ctx, want: t.Type | None) -> tuple[t.Type, dict | None]:
        if isinstance(e, s.Literal):
            return _literal_type(e, want), {"lit": e.value} if e.kind != "duration" else \
                {"lit": parse_duration(str(e.value)), "duration": e.value}
        if isinstance(e, s.Ref):
            return self.ref(e, ctx, want)
        if isinstance(e, s.Template):
            return t.STR, self.template(e, ctx, "text")
        if isinstance(e, s.ListExpr):
            elem_want = want.elem if isinstance(want, t.ListT) else None
            irs, tys = [], []
            for item in e.items:
                ty, ir = self.expr(item, ctx, elem_want)
                irs.append(ir)
                tys.append(ty)
            elem = _join(tys) if tys else (elem_want or t.UNKNOWN)
            if elem is None:
                self.err("F0204", e.span, "a list's items must share one type",
                         label="mixed types: " + ", ".join(sorted({x.describe() for x in tys})))
                elem = t.UNKNOWN
            return t.ListT(elem), {"list": irs}
        if isinstance(e, s.BinOp):
            return self.binop(e, ctx, want)
        if isinstance(e, s.Chain):
            return self.chain(e, ctx, want)
        if isinstance(e, s.UnaryOp):
            ty, ir = self.expr(e.operand, ctx, t.BOOL if e.op == "not" else None)
            if e.op == "not":
                self.expect_bool(ty, e.operand.span)
                return t.BOOL, {"op": "not", "args": [ir]}
            if ty not in (t.INT, t.FLOAT, t.UNKNOWN, t.JSON):
                self.err("F0206", e.span, f"`-` does not apply to `{ty.describe()}`")
                return t.UNKNOWN, None
            return ty, {"op": "neg", "args": [ir]}
        if isinstance(e, s.Call):
            return self.call(e, ctx)
        if isinstance(e, s.Index):
            ty, ir = self.expr(e.target, ctx, None)
            ity, iir = self.expr(e.index, ctx, None)
            base = t.strip_optional(ty)
            if isinstance(base, t.ListT):
                self.expect(ity, t.INT, e.index.span, "a list index")
                return t.OptionalT(base.elem) if not t.is_optional(base.elem) else base.elem, \
                    {"op": "index", "args": [ir, iir]}
            if isinstance(base, t.MapT):
                self.expect(ity, t.STR, e.index.span, "a map key")
                return t.OptionalT(base.value), {"op": "index", "args": [ir, iir]}
            if not isinstance(base, t.UnknownT) and base != t.JSON:
                self.err("F0206", e.span, f"`[...]` does not apply to `{ty.describe()}`")
            return t.UNKNOWN if base != t.JSON else t.JSON, {"op": "index", "args": [ir, iir]}
        if isinstance(e, s.Attr):
            ty, ir = self.expr(e.target, ctx, None)
            mt = t.member(ty, e.name.value)
            if mt is None:
                self.no_member(ty, e.name, e.target.span)
                return t.UNKNOWN, None
            return mt, {"op": "attr", "args": [ir, e.name.value]}
        return t.UNKNOWN, None  # pragma: no cover - every expression kind is handled above

    def ref(self, e: s.Ref, ctx: _Ctx, want: t.Type | None) -> tuple[t.Type, dict | None]:
        head = e.parts[0]
        name = head.value
        rest = e.parts[1:]
        root_kind = None
        if name in ctx.locals:
            ty = ctx.locals[name]
            ir: dict = {"var": name, "path": []}
        elif name in self.p.inputs:
            ty = self.p.inputs[name].type
            ir = {"input": name, "path": []}
            ctx.add_dep(name)
        elif name in self.p.nodes:
            node = self.p.nodes[name]
            ty = node.type
            ir = {"node": name, "path": []}
            ctx.add_dep(name)
            root_kind = "node"
            self.p.consume(name, rest[0].value if rest else None)
        elif name in self.p.sops:
            if not ctx.allow_sop:
                self.err("F0210", e.span, f"`{name}` is an SOP and has no value here",
                         help="SOPs go in `sops [...]` or in a template hole")
                return t.UNKNOWN, None
            entry = self.sop_ref(e)
            return (t.SOP if entry else t.UNKNOWN), {"sop": entry}
        elif name in self._type_decls and isinstance(self.p.types.get(name), t.EnumT) and rest:
            ety = self.p.types[name]
            v = rest[0]
            if v.value not in ety.variants:
                self.err("F0208", v.span, f"enum `{name}` has no variant `{v.value}`",
                         label="unknown variant", help=did_you_mean(v.value, ety.variants))
                return t.UNKNOWN, None
            return ety, {"lit": v.value}
        else:
            base = t.strip_optional(want) if want is not None else None
            if isinstance(base, t.EnumT) and not rest:
                if name in base.variants:
                    return base, {"lit": name}
                self.err("F0208", head.span, f"`{base.describe()}` has no variant `{name}`",
                         label="unknown variant", help=did_you_mean(name, base.variants)
                         or "variants: " + ", ".join(base.variants))
                return t.UNKNOWN, None
            if name in self.p.skills or name in self.p.flows:
                self.err("F0210", head.span, f"`{name}` is an import, not a value",
                         help=f"call it in a node: `node x = skill {name}(...)`"
                         if name in self.p.skills else f"call it: `flow {name}(...)`")
                return t.UNKNOWN, None
            pool = list(self.value_spans) + list(ctx.locals)
            self.err("F0101", head.span, f"unknown name `{name}`", label="not declared",
                     help=did_you_mean(name, pool))
            return t.UNKNOWN, None
        path = ir["path"]
        for i, part in enumerate(rest):
            mt = t.member(ty, part.value)
            if mt is None:
                # a gate's or extract's outcome written as a value: `review.approved`
                if root_kind == "node" and i == 0 and part.value in self.p.nodes[name].outcomes:
                    self.err("F0210", part.span,
                             f"`{name}.{part.value}` is an outcome, not a value",
                             help=f"use `after {name}.{part.value}`, or compare "
                             f"`{name}.outcome == {part.value}`")
                    return t.UNKNOWN, None
                self.no_member(ty, part, Span(head.span.start, e.parts[i].span.end))
                return t.UNKNOWN, None
            ty = mt
            path.append(part.value)
        return ty, ir

    def no_member(self, ty: t.Type, part: s.Name, owner_span: Span) -> None:
        names = t.member_names(ty)
        related = ()
        base = t.strip_optional(ty)
        tname = getattr(base, "name", None)
        if isinstance(tname, str) and tname in self.p.type_spans:
            related = self.declared_here(self.p.type_spans[tname])
        owner = self.src.text[owner_span.start:owner_span.end]
        if isinstance(base, t.DeliverableT):
            kind = f"deliverable `{base.describe()}`"
        elif isinstance(base, t.RecordT):
            kind = f"`{base.describe()}`"
        else:
            kind = f"`{ty.describe()}`"
        self.err("F0203", part.span, f"`{owner}` has no field `{part.value}`",
                 label=f"not a field of {kind}", related=related,
                 help=did_you_mean(part.value, names) or
                 ("fields: " + ", ".join(f"`{n}`" for n in names) if names else
                  f"{kind} has no fields"))

    def binop(self, e: s.BinOp, ctx: _Ctx, want) -> tuple[t.Type, dict | None]:
        lt, lir = self._left_operand(e.op, e.left, e.right, ctx, want)
        ty, rir = self._apply(e.op, lt, e.right, e.span, ctx, want)
        return ty, {"op": e.op, "args": [lir, rir]}

    def chain(self, e: s.Chain, ctx: _Ctx, want) -> tuple[t.Type, dict | None]:
        """`a + b - c ...`: typed from the left, one operator at a time, as `(a + b) - c`;
        its IR is one flat `fold` (`{"op": "fold", "args": [a, "+", b, "-", c]}`)."""
        first = e.operands[0]
        ty, ir = self._left_operand(e.ops[0], first, e.operands[1], ctx, want)
        args = [ir]
        for op, right in zip(e.ops, e.operands[1:], strict=True):
            span = Span(first.span.start, right.span.end)
            ty, rir = self._apply(op, ty, right, span, ctx, want)
            args += [op, rir]
        return ty, {"op": "fold", "args": args}

    def _left_operand(self, op, left, right, ctx, want) -> tuple[t.Type, dict | None]:
        if op == "??":
            ctx.optional += 1
            out = self.expr(left, ctx, want)
            ctx.optional -= 1
            return out
        if op in ("and", "or"):
            lt, lir = self.expr(left, ctx, t.BOOL)
            self.expect_bool(lt, left.span)
            return lt, lir
        # operands that are bare names may be enum variants of the other side
        return self._operand(left, right, ctx)

    def _apply(self, op, lt, right, span: Span, ctx: _Ctx, want) -> tuple[t.Type, dict | None]:
        """The type of `left op right` with the left side already typed (`lt`), and the
        right side's IR."""
        if op == "??":
            ctx.optional += 1
            rt, rir = self.expr(right, ctx, t.strip_optional(lt) if want is None else want)
            ctx.optional -= 1
            if not (t.assignable(rt, t.strip_optional(lt)) or t.assignable(
                    t.strip_optional(lt), t.strip_optional(rt)) or isinstance(lt, t.NullT)):
                self.err("F0204", right.span, f"the default is `{rt.describe()}` but the value "
                         f"is `{t.strip_optional(lt).describe()}`")
            return rt, rir
        if op in ("and", "or"):
            rt, rir = self.expr(right, ctx, t.BOOL)
            self.expect_bool(rt, right.span)
            return t.BOOL, rir
        if op == "in" and isinstance(right, s.ListExpr) and isinstance(
                t.strip_optional(lt), t.EnumT):
            rt, rir = self.expr(right, ctx, t.ListT(t.strip_optional(lt)))
        else:
            rt, rir = self._operand(right, None, ctx, lt)
        return self._result(op, lt, rt, right.span, span), rir

    def _result(self, op, lt, rt, right_span: Span, span: Span) -> t.Type:
        """The type of `lt op rt` for a comparison, `in` or arithmetic, reported at `span`."""
        if op in ("==", "!="):
            if not (_comparable(lt, rt)):
                self.err("F0206", span, f"`{lt.describe()}` and `{rt.describe()}` are never "
                         "equal", label="different types")
            return t.BOOL
        if op == "in":
            base = t.strip_optional(rt)
            if isinstance(base, t.ListT):
                if not _comparable(lt, base.elem):
                    self.err("F0206", span, f"`{lt.describe()}` is never in "
                             f"`{rt.describe()}`")
            elif base == t.STR:
                if t.strip_optional(lt) not in (t.STR, t.UNKNOWN):
                    self.err("F0206", span, f"`in` a string needs a string, not "
                             f"`{lt.describe()}`")
            elif isinstance(base, t.MapT):
                pass
            elif not isinstance(base, t.UnknownT) and base != t.JSON:
                self.err("F0206", right_span, f"`in` needs a list, map or string, not "
                         f"`{rt.describe()}`")
            return t.BOOL
        numeric = (t.INT, t.FLOAT)
        lb, rb = lt, rt
        if any(isinstance(x, t.UnknownT) or x == t.JSON for x in (lb, rb)):
            return (t.BOOL if op in ("<", "<=", ">", ">=") else t.UNKNOWN)
        if op in ("<", "<=", ">", ">="):
            ok = (lb in numeric and rb in numeric) or (lb == rb and lb in (t.STR, t.DATE,
                                                                            t.DURATION))
            if not ok:
                self.err("F0206", span, f"`{op}` cannot compare `{lt.describe()}` with "
                         f"`{rt.describe()}`", label="not comparable",
                         help="give both sides a default with `??`"
                         if t.is_optional(lt) or t.is_optional(rt) else
                         f"`{op}` compares two numbers, two `str`, two `date` or two "
                         "`duration`s: write both sides as the same kind")
            return t.BOOL
        if op == "+" and lb == rb == t.STR:
            return t.STR
        if op == "+" and isinstance(lb, t.ListT) and lb == rb:
            return lb
        if lb in numeric and rb in numeric:
            if op == "/":
                return t.FLOAT
            return (t.FLOAT if t.FLOAT in (lb, rb) else t.INT)
        self.err("F0206", span, f"`{op}` does not apply to `{lt.describe()}` and "
                 f"`{rt.describe()}`", label="no such operation",
                 help="give the missing value a default with `??`"
                 if t.is_optional(lt) or t.is_optional(rt) else None)
        return t.UNKNOWN

    def _operand(self, e, other, ctx, other_type=None):
        if isinstance(e, s.Ref) and len(e.parts) == 1 and self._is_free(e.parts[0].value, ctx):
            if other_type is None:
                # type the other side first, then this bare name as one of its variants
                saved = len(self.d.items), dict(ctx.deps)
                ot, _ = self.expr(other, _Ctx(ctx.locals), None)
                del self.d.items[saved[0]:]
                if isinstance(t.strip_optional(ot), t.UnknownT) or ot == t.JSON:
                    return t.UNKNOWN, {"lit": e.parts[0].value}
                return self.expr(e, ctx, ot)
            if isinstance(t.strip_optional(other_type), t.UnknownT) or other_type == t.JSON:
                return t.UNKNOWN, {"lit": e.parts[0].value}
            return self.expr(e, ctx, other_type)
        return self.expr(e, ctx, other_type if other_type is not None and isinstance(
            t.strip_optional(other_type), t.EnumT) else None)

    def _is_free(self, name: str, ctx: _Ctx) -> bool:
        return name not in ctx.locals and name not in self.value_spans and \
            name not in self._type_decls

    def call(self, e: s.Call, ctx: _Ctx) -> tuple[t.Type, dict | None]:
        fn = e.func.value
        if fn not in _BUILTINS:
            self.err("F0101", e.func.span, f"unknown function `{fn}`", label="no such function",
                     help=did_you_mean(fn, _BUILTINS) or "functions: " + ", ".join(_BUILTINS))
            for a in e.args:
                self.expr(a, ctx, None)
            return t.UNKNOWN, None
        if len(e.args) != _BUILTINS[fn]:
            self.err("F0214", e.span, f"`{fn}` takes {_BUILTINS[fn]} argument(s), "
                     f"got {len(e.args)}", label="wrong number of arguments",
                     help=f"write `{_SIGNATURES.get(fn, fn + '(...)')}`")
            return t.UNKNOWN, None
        args = [self.expr(a, ctx, None) for a in e.args]
        ir = {"call": fn, "args": [a[1] for a in args]}
        a0 = args[0][0]
        if fn in ("role", "user"):
            self.expect(a0, t.STR, e.args[0].span, f"`{fn}(...)`")
            return t.PRINCIPAL, ir
        if fn == "len":
            base = t.strip_optional(a0)
            if not (isinstance(base, t.ListT | t.MapT | t.UnknownT) or base in (t.STR, t.JSON)):
                self.err("F0206", e.args[0].span, f"`len` needs a list, map or string, not "
                         f"`{a0.describe()}`")
            return t.INT, ir
        if fn == "join":
            self.expect(a0, t.ListT(t.STR), e.args[0].span, "`join`'s list")
            self.expect(args[1][0], t.STR, e.args[1].span, "`join`'s separator")
            return t.STR, ir
        self.expect(a0, t.STR, e.args[0].span, f"`{fn}(...)`")
        return t.STR, ir


