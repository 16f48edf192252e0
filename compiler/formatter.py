"""The canonical formatter behind `flowc fmt`: prints a `.flow` file from its syntax tree.

The tree is printed line by line. Every output line remembers the first source line of the
construct it prints; comments (which the tree does not hold) are then put back by their
source line: a comment on a line of its own goes before the first output line that comes
after it, a trailing comment goes at the end of the output line that holds the code its
source line ended with. Formatting never changes meaning: the printed text parses back to
an equal tree (spans aside), and formatting the result again changes nothing.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import cache

from . import syntax as s
from .diagnostics import Diagnostics
from .parser import _parser, parse
from .source import Source, Span, normalize_text

_KEYWORD_START = re.compile(
    r"(?:node|input|output|record|enum|deliverable|import|use|match|mode|on|policy)\b")

__all__ = ["format_source", "comments", "quote", "WIDTH", "FMT_OFF"]

FMT_OFF = re.compile(r"\ufeff?(?:[ \t]*(?://[^\n]*)?\r?\n)*?[ \t]*//[ \t]*fmt:[ \t]*off\b")
"""A line starting `// fmt: off` among a file's leading comments: `flowc fmt` leaves the file
as it is."""

WIDTH = 100
"""Lines longer than this are broken where the layout allows it."""

_STEP = 2  # one level of indentation

# Binding strength of operators, loosest first, and the least strength each operand of a
# binary operator needs to be printed without parentheses (left, right).
_BINARY = {"??": 1, "or": 2, "and": 3, "in": 5, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7}
_BINARY.update(dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), 5))
_OPERANDS = {1: (1, 2), 2: (2, 3), 3: (3, 4), 5: (6, 6), 6: (6, 7), 7: (7, 8)}
_NOT, _NEG, _POSTFIX = 4, 8, 9

_ESCAPE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
           "{": "{{", "}": "}}"}
_GROUPS = {
    s.ImportSop: "imports", s.UseSkill: "imports", s.UseFlow: "imports",
    s.InputDecl: "inputs", s.OutputDecl: "outputs",
    s.ModeDecl: "settings", s.TriggerDecl: "settings", s.PolicyDecl: "settings",
}


def format_source(text: str, path: str = "<input>") -> str | None:
    """The canonical form of `text`, or None when it has syntax errors (never format broken code).
    The canonical form has LF line ends and no byte-order mark. A file whose leading comments
    hold the line `// fmt: off` is its own canonical form (deliberately broken examples)."""
    if FMT_OFF.match(text):
        return text
    text = normalize_text(text)
    source = Source(text, path)
    diagnostics = Diagnostics()
    try:
        result = parse(source, diagnostics)
    except (ValueError, RecursionError):  # e.g. an integer too long to convert
        return None
    if diagnostics.has_errors or result.file.header is None:
        return None
    try:
        return _Printer(source, comments(text)).file(result.file)
    except RecursionError:  # expressions nested deeper than Python's stack allows
        return None


def comments(text: str) -> tuple[s.Comment, ...]:
    """Every `//` comment of a text that parses, found by scanning it for comments and strings.

    The parser's own comment list cannot be used: it merges comments whose text is equal, and
    may hold comments lexed inside a template hole (`"{a // b}"`) at offsets within the hole.
    """
    return tuple(s.Comment(m.group(), Span(m.start(), m.end()))
                 for m in _scanner().finditer(text) if m.group().startswith("//"))


@cache
def _scanner() -> re.Pattern:
    """Comments and the tokens that may contain `//`, with the grammar's own patterns."""
    lark = _parser().lark
    names = ("COMMENT", "LONG_STRING", "STRING", "COMMAND_LINE")
    return re.compile("|".join(lark.get_terminal(n).pattern.to_regexp() for n in names))


def quote(value: str) -> str:
    """A plain string literal whose parsed value is `value` (braces doubled: no holes)."""
    return '"' + "".join(_ESCAPE.get(c, c) for c in value) + '"'


def _precedence(e: s.Expr) -> int:
    if isinstance(e, s.BinOp):
        return _BINARY[e.op]
    if isinstance(e, s.Chain):
        return _BINARY[e.ops[0]]
    if isinstance(e, s.UnaryOp):
        return _NOT if e.op == "not" else _NEG
    return _POSTFIX


def _float_text(value: float) -> str | None:
    """`repr` of a float, made to match the FLOAT token (which needs a `.`); None if not finite."""
    if not math.isfinite(value):
        return None
    mantissa, e, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


@dataclass
class _Line:
    """One output line; `text` may hold newlines only inside verbatim long strings."""

    indent: int
    text: str
    first: int  # the source line where the construct printed on this line starts
    closing: bool = False  # a closing bracket: comments before it are indented one level more
    trailing: s.Comment | None = None
    before: list[s.Comment] = field(default_factory=list)


@dataclass
class _Item:
    """Where a top-level item's lines start in the output, and what decides blank lines."""

    start: int
    group: str | None
    single: bool
    first: int
    last: int


class _Printer:
    def __init__(self, source: Source, comments: tuple[s.Comment, ...]):
        self.source = source
        self.comments = comments
        self.comment_starts = [c.span.start for c in comments]

    # ---- helpers -------------------------------------------------------------------------
    def line_of(self, offset: int) -> int:
        return self.source.position(offset).line

    def end_line(self, span: Span) -> int:
        return self.line_of(max(span.end - 1, span.start))

    def has_comments(self, span: Span) -> bool:
        i = bisect_left(self.comment_starts, span.start)
        return i < len(self.comment_starts) and self.comment_starts[i] < span.end

    def fits(self, indent: int, text: str) -> bool:
        return "\n" not in text and indent + len(text) <= WIDTH

    def compact(self, indent: int, text: str, span: Span) -> bool:
        """Whether a bracketed construct may stay on one line."""
        return self.fits(indent, text) and not self.has_comments(span)

    # ---- expressions -----------------------------------------------------------------------
    def expr(self, e: s.Expr, need: int = 0) -> str:
        text = self._expr(e)
        return f"({text})" if _precedence(e) < need else text

    def _expr(self, e: s.Expr) -> str:
        if isinstance(e, s.BinOp):
            left, right = _OPERANDS[_BINARY[e.op]]
            return f"{self.expr(e.left, left)} {e.op} {self.expr(e.right, right)}"
        if isinstance(e, s.Chain):
            left, right = _OPERANDS[_BINARY[e.ops[0]]]
            out = [self.expr(e.operands[0], left)]
            for op, operand in zip(e.ops, e.operands[1:], strict=True):
                out += [op, self.expr(operand, right)]
            return " ".join(out)
        if isinstance(e, s.UnaryOp):
            if e.op == "not":
                return "not " + self.expr(e.operand, _NOT)
            return "-" + self.expr(e.operand, _NEG)
        if isinstance(e, s.Ref):
            return e.dotted
        if isinstance(e, s.Attr):
            target = self.expr(e.target, _POSTFIX)
            if isinstance(e.target, s.Literal) and e.target.kind == "int":
                target = f"({target})"  # `1.a` would not lex
            return f"{target}.{e.name.value}"
        if isinstance(e, s.Index):
            return f"{self.expr(e.target, _POSTFIX)}[{self.expr(e.index)}]"
        if isinstance(e, s.Call):
            return f"{e.func.value}({self.exprs(e.args)})"
        if isinstance(e, s.ListExpr):
            return f"[{self.exprs(e.items)}]"
        if isinstance(e, s.Template):
            return e.raw
        return self.literal(e)

    def exprs(self, items: tuple[s.Expr, ...]) -> str:
        return ", ".join(self.expr(x) for x in items)

    def literal(self, lit: s.Literal) -> str:
        if lit.kind == "str":
            return self.string(lit)
        if lit.kind == "bool":
            return "true" if lit.value else "false"
        if lit.kind == "null":
            return "null"
        if lit.kind == "float":
            return _float_text(lit.value) or self.source_text(lit.span)
        return str(lit.value)

    def string(self, lit: s.Literal) -> str:
        """A long string keeps its source text; a plain one is written from its value."""
        if self.source.text.startswith(('"""', "'''"), lit.span.start) and (
            lit.span.end - lit.span.start >= 6
        ):
            return self.source_text(lit.span)
        return quote(str(lit.value))

    def source_text(self, span: Span) -> str:
        return self.source.text[span.start : span.end]

    def value(self, v: s.Value) -> str:
        if isinstance(v, s.Arrow):
            return f"{self.expr(v.left)} -> {self.expr(v.right)}"
        if isinstance(v, s.ArrowList):
            return "[" + ", ".join(self.value(a) for a in v.items) + "]"
        if isinstance(v, s.Form):
            return self.form(v.fields)
        return self.expr(v)

    def form(self, fields: tuple[s.FieldDef, ...]) -> str:
        if not fields:
            return "{}"
        return "{ " + ", ".join(self.field(f) for f in fields) + " }"

    def field(self, f: s.FieldDef) -> str:
        text = f"{f.name.value}: {self.type(f.type)}"
        return text if f.default is None else f"{text} = {self.expr(f.default)}"

    def type(self, t: s.TypeExpr) -> str:
        if isinstance(t, s.OptionalType):
            inner = self.type(t.inner)
            return inner + (" ?" if inner.endswith("?") else "?")  # `??` is one token
        if isinstance(t, s.EnumType):
            return "enum { " + ", ".join(n.value for n in t.variants) + " }"
        if not t.args:
            return t.name.value
        return f"{t.name.value}<{', '.join(self.type(a) for a in t.args)}>"

    # ---- bracketed lists -------------------------------------------------------------------
    def braced(self, head: str, entries: list[tuple[str, int]], span: Span,
               indent: int) -> list[_Line]:
        """`head { a, b }` on one line if it fits, else one entry per line without commas."""
        first = self.line_of(span.start)
        one = f"{head} {{ {', '.join(t for t, _ in entries)} }}" if entries else f"{head} {{}}"
        if self.compact(indent, one, span):
            return [_Line(indent, one, first)]
        lines = [_Line(indent, head + " {", first)]
        # an entry named like a declaration keyword (`node: str`) parses only after a comma:
        # on its own line it would read as the next declaration
        lines += [_Line(indent + _STEP, t + ("," if k + 1 < len(entries) and _KEYWORD_START.match(
            entries[k + 1][0]) else ""), line) for k, (t, line) in enumerate(entries)]
        lines.append(_Line(indent, "}", self.end_line(span), closing=True))
        return lines

    def call(self, head: str, args: tuple[s.Arg, ...], span: Span, indent: int,
             first: int, close: int) -> list[_Line]:
        """`head(a: x, b: y)` on one line if it fits, else one argument per line."""
        texts = [f"{a.name.value}: {self.value(a.value)}" for a in args]
        one = f"{head}({', '.join(texts)})"
        if self.compact(indent, one, span):
            return [_Line(indent, one, first)]
        return self.arg_lines(head, args, texts, indent, first, close)

    def arg_lines(self, head: str, args: tuple[s.Arg, ...], texts: list[str], indent: int,
                  first: int, close: int) -> list[_Line]:
        lines = [_Line(indent, head + "(", first)]
        lines += [_Line(indent + _STEP, t + ",", self.line_of(a.span.start))
                  for a, t in zip(args, texts)]
        lines.append(_Line(indent, ")", close, closing=True))
        return lines

    def human(self, head: str, args: tuple[s.Arg, ...], span: Span, indent: int,
              first: int) -> list[_Line]:
        """`await human(...)` / `ask human(...)`: one argument per line, values aligned."""
        if not args and not self.has_comments(span):
            return [_Line(indent, head + "()", first)]
        width = max((len(a.name.value) for a in args), default=0) + 2
        texts = [f"{a.name.value}:".ljust(width) + self.value(a.value) for a in args]
        return self.arg_lines(head, args, texts, indent, first, self.end_line(span))

    # ---- nodes -----------------------------------------------------------------------------
    def node_expr(self, e: s.NodeExpr, indent: int, head: str, first: int) -> list[_Line]:
        if isinstance(e, s.PropNode):
            return self.prop_node(e, indent, head + e.kind, first)
        if isinstance(e, s.SkillCall | s.FlowCall):
            kind, name = ("skill", e.skill) if isinstance(e, s.SkillCall) else ("flow", e.flow)
            return self.call(f"{head}{kind} {name.value}", e.args, e.span, indent, first,
                             self.end_line(e.span))
        if isinstance(e, s.CodeNode):
            return self.code_node(e, indent, head, first)
        if isinstance(e, s.CommandNode):
            text = f"{head}command {e.line.raw}"
            stdin = "" if e.stdin is None else f" <- {self.expr(e.stdin)}"
            return [_Line(indent, text + stdin, first)]
        if isinstance(e, s.GateNode):
            return self.human(head + "await human", e.args, e.span, indent, first)
        if isinstance(e, s.AskNode):
            return self.human(head + "ask human", e.args, e.span, indent, first)
        return self.for_each(e, indent, head, first)

    def prop_node(self, e: s.PropNode, indent: int, head: str, first: int) -> list[_Line]:
        if not e.props and not self.has_comments(e.span):
            return [_Line(indent, head + " {}", first)]
        width = max((len(p.key.value) for p in e.props), default=0) + 1
        lines = [_Line(indent, head + " {", first)]
        lines += [_Line(indent + _STEP, p.key.value.ljust(width) + self.value(p.value),
                        self.line_of(p.span.start)) for p in e.props]
        lines.append(_Line(indent, "}", self.end_line(e.span), closing=True))
        return lines

    def code_node(self, e: s.CodeNode, indent: int, head: str, first: int) -> list[_Line]:
        head = f"{head}code {e.language.value}"
        close = self.line_of(e.source_span.start)
        if e.args:
            lines = self.call(head, e.args, e.span, indent, first, close)
        else:
            lines = [_Line(indent, head, first)]
        lines[-1].text += " " + self.code_string(e, indent)
        return lines

    def code_string(self, e: s.CodeNode, indent: int) -> str:
        """The code as a long string whose lines sit one level deeper than the node line.

        The parser strips the first newline and the common indentation, and drops the spaces
        before the closing quotes, so the printed string dedents back to `e.source` exactly.
        """
        q = self.source.text[e.source_span.start : e.source_span.start + 3]
        lines = e.source.split("\n")
        last = lines.pop()
        pad = " " if last.endswith((q[0], "\\")) else ""
        if not lines:
            return f"{q}{last}{pad}{q}"
        prefix = " " * (indent + _STEP) if any(ln.strip() for ln in [*lines, last]) else ""
        body = [prefix + ln if ln else ln for ln in lines]
        end = prefix + last + pad + q if last else " " * indent + q
        return q + "\n" + "\n".join([*body, end])

    def for_each(self, e: s.ForEach, indent: int, head: str, first: int) -> list[_Line]:
        text = f"{head}for each {e.var.value} in {self.expr(e.iterable)}"
        if e.concurrency is not None:
            text += f" concurrency {self.expr(e.concurrency)}"
        body = self.node_expr(e.body, indent + _STEP, "", self.line_of(e.body.span.start))
        if len(body) == 1:
            one = f"{text} {{ {body[0].text} }}"
            if self.compact(indent, one, e.span):
                return [_Line(indent, one, first)]
        return [_Line(indent, text + " {", first), *body,
                _Line(indent, "}", self.end_line(e.span), closing=True)]

    def clause(self, c: s.Clause) -> str:
        if isinstance(c, s.WhenClause):
            return "when " + self.expr(c.condition)
        if isinstance(c, s.AfterClause):
            return "after " + ", ".join(r.dotted for r in c.refs)
        if isinstance(c, s.EffectClause):
            return "effect " + c.kind.value
        return f"{c.key.value} {self.value(c.value)}"

    # ---- top-level items -------------------------------------------------------------------
    def item(self, it: s.Item | s.Header) -> list[_Line]:
        method = getattr(self, "item_" + type(it).__name__)
        result = method(it)
        if isinstance(result, str):
            return [_Line(0, result, self.line_of(it.span.start))]
        return result

    def item_Header(self, h: s.Header) -> list[_Line]:
        text = f"flow {h.name.value}"
        if h.version is not None:
            text += f" version {self.string(h.version)}"
        lines = [_Line(0, text, self.line_of(h.span.start))]
        if h.description is not None:
            desc = self.string(h.description)
            lines.append(_Line(_STEP, desc, self.line_of(h.description.span.start)))
        return lines

    def item_ModeDecl(self, d: s.ModeDecl) -> str:
        return f"mode {d.mode.value}"

    def item_TriggerDecl(self, d: s.TriggerDecl) -> str:
        arg = self.string(d.arg) if isinstance(d.arg, s.Literal) else self.type(d.arg)
        return f"on {d.kind.value} {arg}"

    def item_PolicyDecl(self, d: s.PolicyDecl) -> str:
        return f"policy {d.name.value}: {d.level.value}"

    def item_ImportSop(self, d: s.ImportSop) -> str:
        return f"import sop {self.string(d.path)} as {d.alias.value}"

    def item_UseSkill(self, d: s.UseSkill) -> str:
        text = f"use skill {d.skill.value} @ {d.spec.value}"
        return text if d.alias is None else f"{text} as {d.alias.value}"

    def item_UseFlow(self, d: s.UseFlow) -> str:
        return f"use flow {self.string(d.path)} as {d.alias.value}"

    def item_RecordDecl(self, d: s.RecordDecl) -> list[_Line]:
        entries = [(self.field(f), self.line_of(f.span.start)) for f in d.fields]
        return self.braced(f"record {d.name.value}", entries, d.span, 0)

    def item_EnumDecl(self, d: s.EnumDecl) -> list[_Line]:
        entries = [(n.value, self.line_of(n.span.start)) for n in d.variants]
        return self.braced(f"enum {d.name.value}", entries, d.span, 0)

    def item_DeliverableDecl(self, d: s.DeliverableDecl) -> list[_Line]:
        lines = [_Line(0, f"deliverable {d.name.value} {{", self.line_of(d.span.start))]
        for part in d.parts:
            lines += self.part(part)
        lines.append(_Line(0, "}", self.end_line(d.span), closing=True))
        return lines

    def part(self, p: s.Part) -> list[_Line]:
        if p.kind in ("files", "fields"):
            entries = [(self.field(f), self.line_of(f.span.start)) for f in p.fields]
            return self.braced(p.kind, entries, p.span, _STEP)
        text = p.kind if p.name is None else f"{p.kind} {p.name.value}"
        return [_Line(_STEP, text, self.line_of(p.span.start))]

    def item_InputDecl(self, d: s.InputDecl) -> str:
        text = f"input {d.name.value}: {self.type(d.type)}"
        return text if d.default is None else f"{text} = {self.expr(d.default)}"

    def item_OutputDecl(self, d: s.OutputDecl) -> str:
        typ = "" if d.type is None else f": {self.type(d.type)}"
        return f"output {d.name.value}{typ} = {self.expr(d.value)}"

    def item_NodeDecl(self, d: s.NodeDecl) -> list[_Line]:
        typ = "" if d.type is None else f": {self.type(d.type)}"
        head = f"node {d.name.value}{typ} = "
        lines = self.node_expr(d.body, 0, head, self.line_of(d.span.start))
        lines += [_Line(_STEP, self.clause(c), self.line_of(c.span.start)) for c in d.clauses]
        return lines

    def item_MatchDecl(self, d: s.MatchDecl) -> list[_Line]:
        lines = [_Line(0, f"match {self.expr(d.subject)} {{", self.line_of(d.span.start))]
        for arm in d.arms:
            pats = " | ".join(p.value for p in arm.patterns)
            targets = ", ".join(t.value for t in arm.targets)
            lines.append(_Line(_STEP, f"{pats} -> {targets}", self.line_of(arm.span.start)))
        lines.append(_Line(0, "}", self.end_line(d.span), closing=True))
        return lines

    # ---- the whole file --------------------------------------------------------------------
    def file(self, f: s.FlowFile) -> str:
        lines: list[_Line] = []
        items: list[_Item] = []
        for it in (f.header, *f.items):
            printed = self.item(it)
            single = len(printed) == 1 and "\n" not in printed[0].text
            items.append(_Item(len(lines), _GROUPS.get(type(it)), single,
                               self.line_of(it.span.start), self.end_line(it.span)))
            lines += printed
        tail = _Placer(self.source, lines).place(self.comments)
        return _Renderer(self.source, lines, items, tail).render()


class _Placer:
    """Attaches each comment to an output line, by the source line it was on."""

    def __init__(self, source: Source, lines: list[_Line]):
        self.source = source
        self.lines = lines
        self.firsts: list[int] = []
        top = 0
        for ln in lines:  # made non-decreasing so that it can be searched
            top = max(top, ln.first)
            self.firsts.append(top)

    def place(self, comments: tuple[s.Comment, ...]) -> list[s.Comment]:
        """Fill in `before` and `trailing`; returns the comments left for the end of the file."""
        tail: list[s.Comment] = []
        for c in comments:
            pos = self.source.position(c.span.start)
            code_before = self.source.line_text(pos.line)[: pos.column - 1].strip()
            if code_before:
                self.trail(c, pos.line, tail)
            else:
                self.put_before(c, bisect_left(self.firsts, pos.line), tail)
        for ln in self.lines:
            ln.before.sort(key=lambda c: c.span.start)
        return tail

    def trail(self, c: s.Comment, line: int, tail: list[s.Comment]) -> None:
        i = max(bisect_left(self.firsts, line + 1) - 1, 0)
        if self.lines[i].trailing is None:
            self.lines[i].trailing = c
        else:  # two comments cannot share a line: the later one goes on a line of its own
            self.put_before(c, i + 1, tail)

    def put_before(self, c: s.Comment, i: int, tail: list[s.Comment]) -> None:
        if i < len(self.lines):
            self.lines[i].before.append(c)
        else:
            tail.append(c)


class _Renderer:
    """Writes the placed lines out, with the blank lines between top-level items."""

    def __init__(self, source: Source, lines: list[_Line], items: list[_Item],
                 tail: list[s.Comment]):
        self.source = source
        self.lines = lines
        self.items = {it.start: (k, it) for k, it in enumerate(items)}
        self.item_list = items
        self.tail = tail
        self.out: list[str] = []

    def render(self) -> str:
        for i, ln in enumerate(self.lines):
            self.before(i, ln)
            text = " " * ln.indent + ln.text
            if ln.trailing is not None:
                text += "  " + _comment_text(ln.trailing)
            self.out.append(text)
        self.end()
        return "\n".join(self.out) + "\n"

    def before(self, i: int, ln: _Line) -> None:
        """The comments and blank lines that go before line `i`."""
        start = self.items.get(i)
        if start is None:
            indent = ln.indent + (_STEP if ln.closing else 0)
            self.out += [" " * indent + _comment_text(c) for c in ln.before]
            return
        k, item = start
        anchor = ln.before[0] if ln.before else None
        if k > 0 and self.separated(self.item_list[k - 1], item, anchor):
            self.out.append("")
        self.comment_block(ln.before, item.first, 0)

    def separated(self, prev: _Item, item: _Item, anchor: s.Comment | None) -> bool:
        """One blank line between items, except inside a group of one-line items."""
        if not (prev.single and item.single and prev.group and prev.group == item.group):
            return True
        nxt = item.first if anchor is None else self.line(anchor)
        return self.blank_between(prev.last, nxt)

    def comment_block(self, comments: list[s.Comment], upto: int, indent: int) -> None:
        """Own-line comments, keeping a blank line the source had after each of them."""
        for j, c in enumerate(comments):
            self.out.append(" " * indent + _comment_text(c))
            nxt = self.line(comments[j + 1]) if j + 1 < len(comments) else upto
            if self.blank_between(self.line(c), nxt):
                self.out.append("")

    def end(self) -> None:
        if not self.tail:
            return
        if self.blank_between(self.item_list[-1].last, self.line(self.tail[0])):
            self.out.append("")
        self.comment_block(self.tail, self.source.line_count + 1, 0)
        while self.out and self.out[-1] == "":
            self.out.pop()

    def line(self, c: s.Comment) -> int:
        return self.source.position(c.span.start).line

    def blank_between(self, a: int, b: int) -> bool:
        return any(not self.source.line_text(k).strip() for k in range(a + 1, b))


def _comment_text(c: s.Comment) -> str:
    return c.text.rstrip()
