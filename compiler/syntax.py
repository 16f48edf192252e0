"""The syntax tree of a `.flow` file: small value classes, each with the span it came from.

Spans do not take part in equality, so two trees that say the same thing compare equal
whatever their layout (the formatter's meaning-preservation test relies on this).
"""

from __future__ import annotations

from dataclasses import field
from typing import Union

from .records import Record, record
from .source import Span

__all__ = [
    "Name", "TypeExpr", "NamedType", "EnumType", "OptionalType",
    "Expr", "Ref", "Attr", "Literal", "TemplatePart", "Template", "ListExpr", "BinOp",
    "Chain", "UnaryOp", "Call", "Index", "Arrow", "ArrowList", "Form", "Value",
    "FieldDef", "Part", "Prop", "Arg",
    "PropNode", "SkillCall", "FlowCall", "CodeNode", "CommandNode", "GateNode", "AskNode",
    "ForEach", "NodeExpr",
    "WhenClause", "AfterClause", "EffectClause", "OptionClause", "Clause",
    "Header", "ModeDecl", "TriggerDecl", "PolicyDecl", "ImportSop", "UseSkill", "UseFlow",
    "RecordDecl", "EnumDecl", "DeliverableDecl", "InputDecl", "OutputDecl", "NodeDecl",
    "MatchArm", "MatchDecl", "Item", "Comment", "FlowFile", "NO_SPAN",
]

NO_SPAN = Span(0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)  # type: ignore[return-value]


@record
class Name(Record):
    value: str
    span: Span = _span()


# ---- types --------------------------------------------------------------------------------


@record
class NamedType(Record):
    """`str`, `Client`, `list<str>`, `map<int>`, `file<csv>`."""

    name: Name
    args: tuple[TypeExpr, ...] = ()
    span: Span = _span()


@record
class EnumType(Record):
    """An inline `enum { a, b }`."""

    variants: tuple[Name, ...]
    span: Span = _span()


@record
class OptionalType(Record):
    """`T?`: a value that may be missing (null)."""

    inner: TypeExpr
    span: Span = _span()


TypeExpr = Union[NamedType, EnumType, OptionalType]


# ---- expressions --------------------------------------------------------------------------


@record
class Ref(Record):
    """A dotted reference such as `stats.total_return` or `reporting.monthly`."""

    parts: tuple[Name, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(p.value for p in self.parts)


@record
class Attr(Record):
    """`.name` applied to something that is not a plain reference (a call or an index)."""

    target: Expr
    name: Name
    span: Span = _span()


@record
class Literal(Record):
    """A constant. `kind` is one of str, int, float, bool, null, duration."""

    kind: str
    value: object
    span: Span = _span()


@record
class TemplatePart(Record):
    """One `{...}` hole of a template: a reference such as `{a.b}`, or any expression."""

    expr: Expr
    span: Span = _span()


@record
class Template(Record):
    """A string literal with `{a.b.c}` holes; `pieces` alternate text and holes."""

    pieces: tuple[str | TemplatePart, ...]
    raw: str
    long: bool = False
    span: Span = _span()


@record
class ListExpr(Record):
    items: tuple[Expr, ...]
    span: Span = _span()


@record
class BinOp(Record):
    """Binary operators: ?? or and == != < <= > >= in + - * / %."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@record
class Chain(Record):
    """Three or more operands joined by left-associative operators of one binding strength:
    `a + b - c`, `x and y and z`, `a ?? b ?? c`, read from the left (`(a + b) - c`).
    `ops[i]` joins `operands[i]` and `operands[i + 1]`. A long chain is one flat node, so
    a sum of a thousand terms is not a thousand levels deep."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]
    span: Span = _span()


@record
class UnaryOp(Record):
    """`not x` and `-x`."""

    op: str
    operand: Expr
    span: Span = _span()


@record
class Call(Record):
    func: Name
    args: tuple[Expr, ...]
    span: Span = _span()


@record
class Index(Record):
    target: Expr
    index: Expr
    span: Span = _span()


Expr = Union[Ref, Attr, Literal, Template, ListExpr, BinOp, Chain, UnaryOp, Call, Index]


@record
class Arrow(Record):
    """`left -> right`, as in `timeout: 48h -> reject`."""

    left: Expr
    right: Expr
    span: Span = _span()


@record
class ArrowList(Record):
    """`[left -> right, ...]`, as in `escalate: [8h -> role("lead"), 24h -> user("cfo")]`."""

    items: tuple[Arrow, ...]
    span: Span = _span()


@record
class FieldDef(Record):
    """`name: type` with an optional `= default` (record fields, deliverable parts, forms)."""

    name: Name
    type: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@record
class Form(Record):
    """`{ body: str = draft.body }`: typed, prefilled fields a person may edit."""

    fields: tuple[FieldDef, ...]
    span: Span = _span()


Value = Union[Expr, Arrow, ArrowList, Form]


# ---- declarations -------------------------------------------------------------------------


@record
class Part(Record):
    """A deliverable part: `text NAME`, `files {...}`, `fields {...}` or `memory`."""

    kind: str
    name: Name | None = None
    fields: tuple[FieldDef, ...] = ()
    span: Span = _span()


@record
class Prop(Record):
    """`key value` inside an `llm`, `agent` or `extract` block."""

    key: Name
    value: Value
    span: Span = _span()


@record
class Arg(Record):
    """`name: value` inside parentheses."""

    name: Name
    value: Value
    span: Span = _span()


@record
class PropNode(Record):
    """`llm {...}`, `agent {...}` or `extract {...}`."""

    kind: str
    props: tuple[Prop, ...]
    span: Span = _span()


@record
class SkillCall(Record):
    skill: Name
    args: tuple[Arg, ...]
    span: Span = _span()


@record
class FlowCall(Record):
    flow: Name
    args: tuple[Arg, ...]
    span: Span = _span()


@record
class CodeNode(Record):
    language: Name
    args: tuple[Arg, ...]
    source: str
    source_span: Span = _span()  # where the code string stands (not part of equality)
    span: Span = _span()


@record
class CommandNode(Record):
    """A command line in backticks; `line` is a template; `stdin` feeds standard input."""

    line: Template
    stdin: Expr | None = None
    span: Span = _span()


@record
class GateNode(Record):
    """`await human(...)`."""

    args: tuple[Arg, ...]
    span: Span = _span()


@record
class AskNode(Record):
    """`ask human(...)`: request one missing value from a person."""

    args: tuple[Arg, ...]
    span: Span = _span()


@record
class ForEach(Record):
    var: Name
    iterable: Expr
    concurrency: Expr | None
    body: NodeExpr
    span: Span = _span()


NodeExpr = Union[PropNode, SkillCall, FlowCall, CodeNode, CommandNode, GateNode, AskNode, ForEach]


@record
class WhenClause(Record):
    condition: Expr
    span: Span = _span()


@record
class AfterClause(Record):
    refs: tuple[Ref, ...]
    span: Span = _span()


@record
class EffectClause(Record):
    kind: Name
    span: Span = _span()


@record
class OptionClause(Record):
    """`timeout 30s`, `retry 2`, `hosts ["api.example.com"]`, ..."""

    key: Name
    value: Value
    span: Span = _span()


Clause = Union[WhenClause, AfterClause, EffectClause, OptionClause]


@record
class Header(Record):
    name: Name
    version: Literal | None = None
    description: Literal | None = None
    span: Span = _span()


@record
class ModeDecl(Record):
    mode: Name
    span: Span = _span()


@record
class TriggerDecl(Record):
    """`on schedule "0 9 1 * *"` or `on upload file<csv>`."""

    kind: Name
    arg: Literal | TypeExpr
    span: Span = _span()


@record
class PolicyDecl(Record):
    """`policy approval: error`."""

    name: Name
    level: Name
    span: Span = _span()


@record
class ImportSop(Record):
    path: Literal
    alias: Name
    span: Span = _span()


@record
class UseSkill(Record):
    skill: Name
    spec: Literal
    alias: Name | None = None
    span: Span = _span()

    @property
    def local_name(self) -> Name:
        return self.alias or self.skill


@record
class UseFlow(Record):
    path: Literal
    alias: Name
    span: Span = _span()


@record
class RecordDecl(Record):
    name: Name
    fields: tuple[FieldDef, ...]
    span: Span = _span()


@record
class EnumDecl(Record):
    name: Name
    variants: tuple[Name, ...]
    span: Span = _span()


@record
class DeliverableDecl(Record):
    name: Name
    parts: tuple[Part, ...]
    span: Span = _span()


@record
class InputDecl(Record):
    name: Name
    type: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@record
class OutputDecl(Record):
    name: Name
    type: TypeExpr | None
    value: Expr
    span: Span = _span()


@record
class NodeDecl(Record):
    name: Name
    type: TypeExpr | None
    body: NodeExpr
    clauses: tuple[Clause, ...] = ()
    span: Span = _span()


@record
class MatchArm(Record):
    """`approved | edited -> send, notify`; a pattern `else` matches the rest."""

    patterns: tuple[Name, ...]
    targets: tuple[Name, ...]
    span: Span = _span()


@record
class MatchDecl(Record):
    subject: Expr
    arms: tuple[MatchArm, ...]
    span: Span = _span()


Item = Union[
    ModeDecl, TriggerDecl, PolicyDecl, ImportSop, UseSkill, UseFlow, RecordDecl, EnumDecl,
    DeliverableDecl, InputDecl, OutputDecl, NodeDecl, MatchDecl,
]


@record
class Comment(Record):
    """A `// ...` comment, kept for the formatter."""

    text: str
    span: Span = _span()


@record
class FlowFile(Record):
    header: Header | None
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = _span()
