"""The syntax tree of a `.flow` file: frozen dataclasses, each with the span it came from.

Spans do not take part in equality, so two trees that say the same thing compare equal
whatever their layout (the formatter's meaning-preservation test relies on this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .source import Span

__all__ = [
    "Name", "TypeExpr", "NamedType", "EnumType", "OptionalType",
    "Expr", "Ref", "Attr", "Literal", "TemplatePart", "Template", "ListExpr", "BinOp",
    "UnaryOp", "Call", "Index", "Arrow", "Form", "Value",
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


@dataclass(slots=True)
class Name:
    value: str
    span: Span = _span()


# ---- types --------------------------------------------------------------------------------


@dataclass(slots=True)
class NamedType:
    """`str`, `Client`, `list<str>`, `map<int>`, `file<csv>`."""

    name: Name
    args: tuple[TypeExpr, ...] = ()
    span: Span = _span()


@dataclass(slots=True)
class EnumType:
    """An inline `enum { a, b }`."""

    variants: tuple[Name, ...]
    span: Span = _span()


@dataclass(slots=True)
class OptionalType:
    """`T?`: a value that may be missing (null)."""

    inner: TypeExpr
    span: Span = _span()


TypeExpr = Union[NamedType, EnumType, OptionalType]


# ---- expressions --------------------------------------------------------------------------


@dataclass(slots=True)
class Ref:
    """A dotted reference such as `stats.total_return` or `reporting.monthly`."""

    parts: tuple[Name, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(p.value for p in self.parts)


@dataclass(slots=True)
class Attr:
    """`.name` applied to something that is not a plain reference (a call or an index)."""

    target: Expr
    name: Name
    span: Span = _span()


@dataclass(slots=True)
class Literal:
    """A constant. `kind` is one of str, int, float, bool, null, duration."""

    kind: str
    value: object
    span: Span = _span()


@dataclass(slots=True)
class TemplatePart:
    """One `{...}` hole of a template: a reference such as `{a.b}`, or any expression."""

    expr: Expr
    span: Span = _span()


@dataclass(slots=True)
class Template:
    """A string literal with `{a.b.c}` holes; `pieces` alternate text and holes."""

    pieces: tuple[str | TemplatePart, ...]
    raw: str
    long: bool = False
    span: Span = _span()


@dataclass(slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(slots=True)
class BinOp:
    """Binary operators: ?? or and == != < <= > >= in + - * / %."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(slots=True)
class UnaryOp:
    """`not x` and `-x`."""

    op: str
    operand: Expr
    span: Span = _span()


@dataclass(slots=True)
class Call:
    func: Name
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(slots=True)
class Index:
    target: Expr
    index: Expr
    span: Span = _span()


Expr = Union[Ref, Attr, Literal, Template, ListExpr, BinOp, UnaryOp, Call, Index]


@dataclass(slots=True)
class Arrow:
    """`left -> right`, as in `timeout: 48h -> reject`."""

    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(slots=True)
class FieldDef:
    """`name: type` with an optional `= default` (record fields, deliverable parts, forms)."""

    name: Name
    type: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@dataclass(slots=True)
class Form:
    """`{ body: str = draft.body }`: typed, prefilled fields a person may edit."""

    fields: tuple[FieldDef, ...]
    span: Span = _span()


Value = Union[Expr, Arrow, Form]


# ---- declarations -------------------------------------------------------------------------


@dataclass(slots=True)
class Part:
    """A deliverable part: `text NAME`, `files {...}`, `fields {...}` or `memory`."""

    kind: str
    name: Name | None = None
    fields: tuple[FieldDef, ...] = ()
    span: Span = _span()


@dataclass(slots=True)
class Prop:
    """`key value` inside an `llm`, `agent` or `extract` block."""

    key: Name
    value: Value
    span: Span = _span()


@dataclass(slots=True)
class Arg:
    """`name: value` inside parentheses."""

    name: Name
    value: Value
    span: Span = _span()


@dataclass(slots=True)
class PropNode:
    """`llm {...}`, `agent {...}` or `extract {...}`."""

    kind: str
    props: tuple[Prop, ...]
    span: Span = _span()


@dataclass(slots=True)
class SkillCall:
    skill: Name
    args: tuple[Arg, ...]
    span: Span = _span()


@dataclass(slots=True)
class FlowCall:
    flow: Name
    args: tuple[Arg, ...]
    span: Span = _span()


@dataclass(slots=True)
class CodeNode:
    language: Name
    args: tuple[Arg, ...]
    source: str
    source_span: Span = _span()
    span: Span = _span()


@dataclass(slots=True)
class CommandNode:
    """A command line in backticks; `line` is a template; `stdin` feeds standard input."""

    line: Template
    stdin: Expr | None = None
    span: Span = _span()


@dataclass(slots=True)
class GateNode:
    """`await human(...)`."""

    args: tuple[Arg, ...]
    span: Span = _span()


@dataclass(slots=True)
class AskNode:
    """`ask human(...)`: request one missing value from a person."""

    args: tuple[Arg, ...]
    span: Span = _span()


@dataclass(slots=True)
class ForEach:
    var: Name
    iterable: Expr
    concurrency: Expr | None
    body: NodeExpr
    span: Span = _span()


NodeExpr = Union[PropNode, SkillCall, FlowCall, CodeNode, CommandNode, GateNode, AskNode, ForEach]


@dataclass(slots=True)
class WhenClause:
    condition: Expr
    span: Span = _span()


@dataclass(slots=True)
class AfterClause:
    refs: tuple[Ref, ...]
    span: Span = _span()


@dataclass(slots=True)
class EffectClause:
    kind: Name
    span: Span = _span()


@dataclass(slots=True)
class OptionClause:
    """`timeout 30s`, `retry 2`, `hosts ["api.example.com"]`, ..."""

    key: Name
    value: Value
    span: Span = _span()


Clause = Union[WhenClause, AfterClause, EffectClause, OptionClause]


@dataclass(slots=True)
class Header:
    name: Name
    version: Literal | None = None
    description: Literal | None = None
    span: Span = _span()


@dataclass(slots=True)
class ModeDecl:
    mode: Name
    span: Span = _span()


@dataclass(slots=True)
class TriggerDecl:
    """`on schedule "0 9 1 * *"` or `on upload file<csv>`."""

    kind: Name
    arg: Literal | TypeExpr
    span: Span = _span()


@dataclass(slots=True)
class PolicyDecl:
    """`policy approval: error`."""

    name: Name
    level: Name
    span: Span = _span()


@dataclass(slots=True)
class ImportSop:
    path: Literal
    alias: Name
    span: Span = _span()


@dataclass(slots=True)
class UseSkill:
    skill: Name
    spec: Literal
    alias: Name | None = None
    span: Span = _span()

    @property
    def local_name(self) -> Name:
        return self.alias or self.skill


@dataclass(slots=True)
class UseFlow:
    path: Literal
    alias: Name
    span: Span = _span()


@dataclass(slots=True)
class RecordDecl:
    name: Name
    fields: tuple[FieldDef, ...]
    span: Span = _span()


@dataclass(slots=True)
class EnumDecl:
    name: Name
    variants: tuple[Name, ...]
    span: Span = _span()


@dataclass(slots=True)
class DeliverableDecl:
    name: Name
    parts: tuple[Part, ...]
    span: Span = _span()


@dataclass(slots=True)
class InputDecl:
    name: Name
    type: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@dataclass(slots=True)
class OutputDecl:
    name: Name
    type: TypeExpr | None
    value: Expr
    span: Span = _span()


@dataclass(slots=True)
class NodeDecl:
    name: Name
    type: TypeExpr | None
    body: NodeExpr
    clauses: tuple[Clause, ...] = ()
    span: Span = _span()


@dataclass(slots=True)
class MatchArm:
    """`approved | edited -> send, notify`; a pattern `else` matches the rest."""

    patterns: tuple[Name, ...]
    targets: tuple[Name, ...]
    span: Span = _span()


@dataclass(slots=True)
class MatchDecl:
    subject: Expr
    arms: tuple[MatchArm, ...]
    span: Span = _span()


Item = Union[
    ModeDecl, TriggerDecl, PolicyDecl, ImportSop, UseSkill, UseFlow, RecordDecl, EnumDecl,
    DeliverableDecl, InputDecl, OutputDecl, NodeDecl, MatchDecl,
]


@dataclass(slots=True)
class Comment:
    """A `// ...` comment, kept for the formatter."""

    text: str
    span: Span = _span()


@dataclass(slots=True)
class FlowFile:
    header: Header | None
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = _span()
