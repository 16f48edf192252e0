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


class _Node:
    """Equality and repr shared by all syntax nodes, ignoring spans.

    Written once here instead of generated per class by `dataclass`: building ~50 classes'
    `__eq__` and `__repr__` costs milliseconds at every start of `flowc check`.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    def __hash__(self):
        return hash((type(self).__name__, *(repr(getattr(self, f)) for f in self._fields)))

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


def _node(cls):
    """Make `cls` a slotted dataclass syntax node (fields in order, `span` last)."""
    out = dataclass(slots=True, eq=False, repr=False)(cls)
    out._fields = tuple(n for n, f in out.__dataclass_fields__.items() if f.compare)
    return out


@_node
class Name(_Node):
    value: str
    span: Span = _span()


# ---- types --------------------------------------------------------------------------------


@_node
class NamedType(_Node):
    """`str`, `Client`, `list<str>`, `map<int>`, `file<csv>`."""

    name: Name
    args: tuple[TypeExpr, ...] = ()
    span: Span = _span()


@_node
class EnumType(_Node):
    """An inline `enum { a, b }`."""

    variants: tuple[Name, ...]
    span: Span = _span()


@_node
class OptionalType(_Node):
    """`T?`: a value that may be missing (null)."""

    inner: TypeExpr
    span: Span = _span()


TypeExpr = Union[NamedType, EnumType, OptionalType]


# ---- expressions --------------------------------------------------------------------------


@_node
class Ref(_Node):
    """A dotted reference such as `stats.total_return` or `reporting.monthly`."""

    parts: tuple[Name, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(p.value for p in self.parts)


@_node
class Attr(_Node):
    """`.name` applied to something that is not a plain reference (a call or an index)."""

    target: Expr
    name: Name
    span: Span = _span()


@_node
class Literal(_Node):
    """A constant. `kind` is one of str, int, float, bool, null, duration."""

    kind: str
    value: object
    span: Span = _span()


@_node
class TemplatePart(_Node):
    """One `{...}` hole of a template: a reference such as `{a.b}`, or any expression."""

    expr: Expr
    span: Span = _span()


@_node
class Template(_Node):
    """A string literal with `{a.b.c}` holes; `pieces` alternate text and holes."""

    pieces: tuple[str | TemplatePart, ...]
    raw: str
    long: bool = False
    span: Span = _span()


@_node
class ListExpr(_Node):
    items: tuple[Expr, ...]
    span: Span = _span()


@_node
class BinOp(_Node):
    """Binary operators: ?? or and == != < <= > >= in + - * / %."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@_node
class UnaryOp(_Node):
    """`not x` and `-x`."""

    op: str
    operand: Expr
    span: Span = _span()


@_node
class Call(_Node):
    func: Name
    args: tuple[Expr, ...]
    span: Span = _span()


@_node
class Index(_Node):
    target: Expr
    index: Expr
    span: Span = _span()


Expr = Union[Ref, Attr, Literal, Template, ListExpr, BinOp, UnaryOp, Call, Index]


@_node
class Arrow(_Node):
    """`left -> right`, as in `timeout: 48h -> reject`."""

    left: Expr
    right: Expr
    span: Span = _span()


@_node
class FieldDef(_Node):
    """`name: type` with an optional `= default` (record fields, deliverable parts, forms)."""

    name: Name
    type: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@_node
class Form(_Node):
    """`{ body: str = draft.body }`: typed, prefilled fields a person may edit."""

    fields: tuple[FieldDef, ...]
    span: Span = _span()


Value = Union[Expr, Arrow, Form]


# ---- declarations -------------------------------------------------------------------------


@_node
class Part(_Node):
    """A deliverable part: `text NAME`, `files {...}`, `fields {...}` or `memory`."""

    kind: str
    name: Name | None = None
    fields: tuple[FieldDef, ...] = ()
    span: Span = _span()


@_node
class Prop(_Node):
    """`key value` inside an `llm`, `agent` or `extract` block."""

    key: Name
    value: Value
    span: Span = _span()


@_node
class Arg(_Node):
    """`name: value` inside parentheses."""

    name: Name
    value: Value
    span: Span = _span()


@_node
class PropNode(_Node):
    """`llm {...}`, `agent {...}` or `extract {...}`."""

    kind: str
    props: tuple[Prop, ...]
    span: Span = _span()


@_node
class SkillCall(_Node):
    skill: Name
    args: tuple[Arg, ...]
    span: Span = _span()


@_node
class FlowCall(_Node):
    flow: Name
    args: tuple[Arg, ...]
    span: Span = _span()


@_node
class CodeNode(_Node):
    language: Name
    args: tuple[Arg, ...]
    source: str
    source_span: Span = _span()  # where the code string stands (not part of equality)
    span: Span = _span()


@_node
class CommandNode(_Node):
    """A command line in backticks; `line` is a template; `stdin` feeds standard input."""

    line: Template
    stdin: Expr | None = None
    span: Span = _span()


@_node
class GateNode(_Node):
    """`await human(...)`."""

    args: tuple[Arg, ...]
    span: Span = _span()


@_node
class AskNode(_Node):
    """`ask human(...)`: request one missing value from a person."""

    args: tuple[Arg, ...]
    span: Span = _span()


@_node
class ForEach(_Node):
    var: Name
    iterable: Expr
    concurrency: Expr | None
    body: NodeExpr
    span: Span = _span()


NodeExpr = Union[PropNode, SkillCall, FlowCall, CodeNode, CommandNode, GateNode, AskNode, ForEach]


@_node
class WhenClause(_Node):
    condition: Expr
    span: Span = _span()


@_node
class AfterClause(_Node):
    refs: tuple[Ref, ...]
    span: Span = _span()


@_node
class EffectClause(_Node):
    kind: Name
    span: Span = _span()


@_node
class OptionClause(_Node):
    """`timeout 30s`, `retry 2`, `hosts ["api.example.com"]`, ..."""

    key: Name
    value: Value
    span: Span = _span()


Clause = Union[WhenClause, AfterClause, EffectClause, OptionClause]


@_node
class Header(_Node):
    name: Name
    version: Literal | None = None
    description: Literal | None = None
    span: Span = _span()


@_node
class ModeDecl(_Node):
    mode: Name
    span: Span = _span()


@_node
class TriggerDecl(_Node):
    """`on schedule "0 9 1 * *"` or `on upload file<csv>`."""

    kind: Name
    arg: Literal | TypeExpr
    span: Span = _span()


@_node
class PolicyDecl(_Node):
    """`policy approval: error`."""

    name: Name
    level: Name
    span: Span = _span()


@_node
class ImportSop(_Node):
    path: Literal
    alias: Name
    span: Span = _span()


@_node
class UseSkill(_Node):
    skill: Name
    spec: Literal
    alias: Name | None = None
    span: Span = _span()

    @property
    def local_name(self) -> Name:
        return self.alias or self.skill


@_node
class UseFlow(_Node):
    path: Literal
    alias: Name
    span: Span = _span()


@_node
class RecordDecl(_Node):
    name: Name
    fields: tuple[FieldDef, ...]
    span: Span = _span()


@_node
class EnumDecl(_Node):
    name: Name
    variants: tuple[Name, ...]
    span: Span = _span()


@_node
class DeliverableDecl(_Node):
    name: Name
    parts: tuple[Part, ...]
    span: Span = _span()


@_node
class InputDecl(_Node):
    name: Name
    type: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@_node
class OutputDecl(_Node):
    name: Name
    type: TypeExpr | None
    value: Expr
    span: Span = _span()


@_node
class NodeDecl(_Node):
    name: Name
    type: TypeExpr | None
    body: NodeExpr
    clauses: tuple[Clause, ...] = ()
    span: Span = _span()


@_node
class MatchArm(_Node):
    """`approved | edited -> send, notify`; a pattern `else` matches the rest."""

    patterns: tuple[Name, ...]
    targets: tuple[Name, ...]
    span: Span = _span()


@_node
class MatchDecl(_Node):
    subject: Expr
    arms: tuple[MatchArm, ...]
    span: Span = _span()


Item = Union[
    ModeDecl, TriggerDecl, PolicyDecl, ImportSop, UseSkill, UseFlow, RecordDecl, EnumDecl,
    DeliverableDecl, InputDecl, OutputDecl, NodeDecl, MatchDecl,
]


@_node
class Comment(_Node):
    """A `// ...` comment, kept for the formatter."""

    text: str
    span: Span = _span()


@_node
class FlowFile(_Node):
    header: Header | None
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = _span()
