"""Text to syntax tree: the Lark LALR parser, with the tree built inline during the parse.

The syntax tree is built by the parser's own callbacks (no intermediate parse tree), the
parser tables are cached on disk, and a syntax error does not stop the parse: it is
reported, and parsing resumes at the next top-level declaration.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import ContextualLexer

from flowc.grammar import grammar_text

from . import syntax as s
from .diagnostics import Diagnostics, Related
from .source import Source, Span

__all__ = ["parse", "parse_fragment", "parse_type_text", "ParseResult", "SYNC_RE", "MAX_NESTING",
           "INVALID_TYPE"]

MAX_NESTING = 64
"""How deeply expressions may nest (brackets, calls, unary operators, operands of operators
of different strengths): every later stage (checker, formatter, plan JSON, evaluator) may
then walk an expression by recursion. A chain of one operator strength (`a + b - c + ...`)
is one level however long (`syntax.Chain`). Deeper nesting is F0006, and the expression is
replaced by a placeholder that the checker takes as unknown."""

INVALID_TYPE = "<invalid>"
"""The name of the placeholder for a type nested too deeply (no name a user can write)."""

# left-associative operators whose runs are built as one flat `Chain`, by binding strength
_CHAIN_LEVEL = {"??": 1, "or": 2, "and": 3, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7}

_TOP_KEYWORDS = (
    "node", "input", "output", "record", "enum", "deliverable", "import", "use", "match",
    "mode", "on", "policy",
)
_SYNC_RE = re.compile(r"^(?:" + "|".join(_TOP_KEYWORDS) + r")\b", re.M)
SYNC_RE = _SYNC_RE
"""Where a top-level declaration may start: error recovery resumes, and files split, here."""

_HUMAN_TERMINALS = {
    "NAME": "a name", "STRING": "a string", "LONG_STRING": 'a """long string"""',
    "INT": "an integer", "FLOAT": "a number", "DURATION": "a duration such as `48h`",
    "COMMAND_LINE": "a command line in backticks", "VERSION_SPEC": "a version or range",
    "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/` or `%`",
    "$END": "the end of the file",
}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


class ParseResult:
    __slots__ = ("comments", "file")

    def __init__(self, file: s.FlowFile, comments: tuple[s.Comment, ...]):
        self.file = file
        self.comments = comments


def _sp(a, b=None) -> Span:
    """The span from the start of `a` to the end of `b` (tokens or syntax nodes)."""
    b = a if b is None else b
    start = a.start_pos if isinstance(a, Token) else a.span.start
    end = b.end_pos if isinstance(b, Token) else b.span.end
    return Span(start, end)


def _name(tok: Token) -> s.Name:
    return s.Name(str(tok), Span(tok.start_pos, tok.end_pos))


def _dedent_long(body: str) -> str:
    """Strip the first newline and the common indentation of a triple-quoted string."""
    if body.startswith("\r\n"):
        body = body[2:]
    elif body.startswith("\n"):
        body = body[1:]
    lines = body.split("\n")
    indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
    cut = min(indents) if indents else 0
    out = "\n".join(ln[cut:] for ln in lines)
    # a closing quote on its own line does not add a trailing newline's worth of indentation
    return out.rstrip(" \t")


class _Builder(Transformer):
    """Callbacks run by the LALR parser on each reduction; they build `syntax` nodes."""

    def __init__(self):
        super().__init__(visit_tokens=False)
        self.source: Source | None = None
        self.diagnostics: Diagnostics | None = None
        # nesting depth of the expression nodes built so far: id -> (depth, already reported,
        # node); the node is held so that its id is not reused while the parse runs
        self.depths: dict[int, tuple[int, bool, object]] = {}
        self.reported_deep: set[int] = set()
        self.offset = 0  # where the text being parsed starts in the file (a template hole)

    def _nested(self, node, *children, base: object = None, type_: bool = False):
        """Record `node`'s nesting depth (one more than its deepest child; a chain extended
        from `base` keeps `base`'s depth). Past MAX_NESTING: F0006, once per expression, and
        a placeholder takes the node's place."""
        depths = self.depths
        depth, reported = 0, False
        for child in children:
            d = depths.get(id(child))
            if d is not None:
                depth, reported = max(depth, d[0]), reported or d[1]
        depth += 1
        if base is not None:
            d = depths.pop(id(base), None)  # the shorter chain is garbage now
            if d is not None:
                depth, reported = max(depth, d[0]), reported or d[1]
        if depth > MAX_NESTING:
            span = Span(node.span.start + self.offset, node.span.end + self.offset)
            if not reported and span.start not in self.reported_deep:
                self.reported_deep.add(span.start)
                self.diagnostics.add(
                    "F0006", self.source, Span(span.start, span.start + 1),
                    f"this {'type' if type_ else 'expression'} is nested more than {MAX_NESTING} "
                    "levels deep",
                    label=f"{MAX_NESTING + 1} levels from here inward",
                    help="give an inner part a name of its own (an input, or a `code` node "
                    "that computes it), or drop nesting that does nothing, such as `- -x`")
            placeholder = s.NamedType(s.Name(INVALID_TYPE, node.span), (), node.span) \
                if type_ else s.Literal("invalid", None, node.span)
            node, depth, reported = placeholder, 0, True
        depths[id(node)] = (depth, reported, node)
        return node

    # ---- strings and templates -------------------------------------------------------------
    def _template(self, tok: Token) -> s.Template | s.Literal:
        raw = str(tok)
        long = raw.startswith('"""') or raw.startswith("'''")
        q = 3 if long else 1
        body = raw[q:-q]
        base = tok.start_pos + q
        pieces: list = []
        buf: list[str] = []
        i, n = 0, len(body)
        while i < n:
            c = body[i]
            if c == "\\" and i + 1 < n:
                nxt = body[i + 1]
                if nxt in _ESCAPES:
                    buf.append(_ESCAPES[nxt])
                else:
                    self.diagnostics.add(
                        "F0005", self.source, Span(base + i, base + i + 2),
                        f"unknown escape `\\{nxt}` in a string",
                        label="not an escape", help="write `\\\\` for a backslash")
                    buf.append(nxt)
                i += 2
            elif c == "{":
                if i + 1 < n and body[i + 1] == "{":
                    buf.append("{")
                    i += 2
                    continue
                close = body.find("}", i)
                if close == -1:
                    self.diagnostics.add(
                        "F0004", self.source, Span(base + i, base + i + 1),
                        "unclosed `{` in a template", label="opened here",
                        help="close the hole with `}`, or write `{{` for a literal brace")
                    buf.append(body[i:])
                    break
                inner = body[i + 1 : close]
                ref = self._template_ref(inner, base + i + 1)
                if ref is None:
                    ref = self._template_expr(inner, base + i + 1)
                if ref is None:
                    self.diagnostics.add(
                        "F0004", self.source, Span(base + i, base + close + 1),
                        f"`{{{inner}}}` is not an expression", label="cannot read this hole",
                        help="a hole holds a reference such as `{client.name}` or an "
                        "expression; write `{{` and `}}` for literal braces")
                    buf.append(body[i : close + 1])
                else:
                    if buf:
                        pieces.append("".join(buf))
                        buf = []
                    pieces.append(s.TemplatePart(ref, Span(base + i, base + close + 1)))
                i = close + 1
            elif c == "}":
                if i + 1 < n and body[i + 1] == "}":
                    i += 2
                else:
                    i += 1
                buf.append("}")
            else:
                j = i + 1
                while j < n and body[j] not in "\\{}":
                    j += 1
                buf.append(body[i:j])
                i = j
        if buf:
            pieces.append("".join(buf))
        span = Span(tok.start_pos, tok.end_pos)
        if long:
            return self._long_template(pieces, raw, span)
        if not any(isinstance(p, s.TemplatePart) for p in pieces):
            return s.Literal("str", "".join(pieces), span)
        return s.Template(tuple(pieces), raw, False, span)

    def _long_template(self, pieces, raw, span):
        # Dedent the text pieces the way the whole string would be dedented.
        marker = "\x00"
        joined = "".join(p if isinstance(p, str) else marker for p in pieces)
        dedented = _dedent_long(joined)
        holes = [p for p in pieces if not isinstance(p, str)]
        out: list = []
        for k, chunk in enumerate(dedented.split(marker)):
            if chunk:
                out.append(chunk)
            if k < len(holes):
                out.append(holes[k])
        if not holes:
            return s.Literal("str", "".join(out), span)
        return s.Template(tuple(out), raw, True, span)

    _REF_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*$")
    _PART_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

    def _template_expr(self, inner: str, base: int):
        """Parse a hole that is more than a dotted name, as an expression."""
        if not inner.strip():
            return None
        comments = _parser().comments
        before = len(comments)
        self.offset += base
        try:
            node = _parser().lark.parse(inner, start="expr")
        except UnexpectedInput:
            return None
        finally:
            self.offset -= base
            had_comment = len(comments) > before
            del comments[before:]
        if had_comment:  # `//` inside a hole is not a comment: the hole is malformed
            return None
        return _shift(node, base)

    def _template_ref(self, inner: str, base: int) -> s.Ref | None:
        if not self._REF_RE.match(inner):
            return None
        names = tuple(
            s.Name(m.group(0), Span(base + m.start(), base + m.end()))
            for m in self._PART_RE.finditer(inner)
        )
        return s.Ref(names, Span(names[0].span.start, names[-1].span.end))

    # ---- expressions -----------------------------------------------------------------------
    def name(self, c):
        n = _name(c[0])
        return s.Ref((n,), n.span)

    def attr(self, c):
        target, tok = c
        n = _name(tok)
        if isinstance(target, s.Ref):
            return s.Ref((*target.parts, n), Span(target.span.start, n.span.end))
        return self._nested(s.Attr(target, n, Span(target.span.start, n.span.end)), target)

    def index(self, c):
        return self._nested(s.Index(c[0], c[1], _sp(c[0], c[2])), c[0], c[1])

    def call(self, c):
        args = tuple(x for x in c[1:-1] if x is not None)
        return self._nested(s.Call(_name(c[0]), args, _sp(c[0], c[-1])), *args)

    def string(self, c):
        return self._template(c[0])

    def int_lit(self, c):
        try:
            value = int(c[0])
        except ValueError:  # more digits than Python converts
            self.diagnostics.add("F0211", self.source, self._in_file(c[0]),
                                 "this number is too long",
                                 label="too many digits")
            value = 0
        return s.Literal("int", value, _sp(c[0]))

    def _in_file(self, tok) -> Span:
        """A token's span in the file, also inside a template hole (parsed on its own)."""
        sp = _sp(tok)
        return Span(sp.start + self.offset, sp.end + self.offset)

    def float_lit(self, c):
        value = float(c[0])
        if not math.isfinite(value):  # JSON, and so a plan, has no infinity
            self.diagnostics.add("F0211", self.source, self._in_file(c[0]),
                                 "this number is too large",
                                 label="past the largest float")
            value = 0.0
        return s.Literal("float", value, _sp(c[0]))

    def duration_lit(self, c):
        from .suggest import MAX_DURATION_SECONDS, parse_duration

        if not parse_duration(str(c[0])) <= MAX_DURATION_SECONDS:
            self.diagnostics.add("F0211", self.source, self._in_file(c[0]),
                                 "this duration is too long", label="more than 300 years")
            return s.Literal("duration", "0s", _sp(c[0]))
        return s.Literal("duration", str(c[0]), _sp(c[0]))

    def true_lit(self, c):
        return s.Literal("bool", True, _sp(c[0]))

    def false_lit(self, c):
        return s.Literal("bool", False, _sp(c[0]))

    def null_lit(self, c):
        return s.Literal("null", None, _sp(c[0]))

    def list_lit(self, c):
        items = tuple(x for x in c[1:-1] if x is not None)
        return self._nested(s.ListExpr(items, _sp(c[0], c[-1])), *items)

    def _bin(self, op, left, right):
        span = Span(left.span.start, right.span.end)
        level = _CHAIN_LEVEL.get(op)
        if level is not None and isinstance(left, s.BinOp | s.Chain) and \
                _CHAIN_LEVEL.get(left.op if isinstance(left, s.BinOp) else left.ops[0]) == level:
            # `a + b` then `- c`: one flat chain, read from the left as `(a + b) - c`
            if isinstance(left, s.BinOp):
                operands, ops = (left.left, left.right), (left.op,)
            else:
                operands, ops = left.operands, left.ops
            return self._nested(s.Chain((*operands, right), (*ops, op), span), right, base=left)
        return self._nested(s.BinOp(op, left, right, span), left, right)

    def coalesce(self, c):
        return self._bin("??", c[0], c[1])

    def or_op(self, c):
        return self._bin("or", c[0], c[1])

    def and_op(self, c):
        return self._bin("and", c[0], c[1])

    def compare(self, c):
        return self._bin(str(c[1]), c[0], c[2])

    def in_op(self, c):
        return self._bin("in", c[0], c[1])

    def binop(self, c):
        return self._bin(str(c[1]), c[0], c[2])

    def not_op(self, c):
        return self._nested(s.UnaryOp("not", c[1], _sp(c[0], c[1])), c[1])

    def neg(self, c):
        return self._nested(s.UnaryOp("-", c[1], _sp(c[0], c[1])), c[1])

    def arrow(self, c):
        return s.Arrow(c[0], c[2], Span(c[0].span.start, c[2].span.end))

    def arrow_list(self, c):
        items = tuple(x for x in c[1:-1] if isinstance(x, s.Arrow))
        return s.ArrowList(items, _sp(c[0], c[-1]))

    def form(self, c):
        fields, rb = c
        start = fields[0].span.start - 1 if fields else rb.start_pos - 1
        return s.Form(fields, Span(start, rb.end_pos))

    # ---- types -------------------------------------------------------------------------------
    def named_type(self, c):
        name = _name(c[0])
        args = tuple(x for x in c[1:] if x is not None and not isinstance(x, Token))
        end = c[-1] if isinstance(c[-1], Token) else name
        return self._nested(s.NamedType(name, args, Span(name.span.start, _sp(end).end)), *args,
                            type_=True)

    def enum_type(self, c):
        return s.EnumType(c[1], _sp(c[0], c[2]))

    def optional_type(self, c):
        return self._nested(s.OptionalType(c[0], _sp(c[0], c[1])), c[0], type_=True)

    def names(self, c):
        return tuple(_name(t) for t in c if t is not None)

    def fields(self, c):
        return tuple(x for x in c if x is not None)

    def field_def(self, c):
        name = _name(c[0])
        end = c[2] if c[2] is not None else c[1]
        return s.FieldDef(name, c[1], c[2], Span(name.span.start, end.span.end))

    # ---- declarations ------------------------------------------------------------------------
    def header(self, c):
        kw, name, _vkw, version, desc = c
        version_lit = self._plain_string(version) if version is not None else None
        desc_lit = self._plain_string(desc) if desc is not None else None
        end = desc or version or name
        return s.Header(_name(name), version_lit, desc_lit, _sp(kw, end))

    def _plain_string(self, tok: Token) -> s.Literal:
        """A string where holes mean nothing (paths, descriptions): holes stay as written."""
        t = self._template(tok)
        if isinstance(t, s.Template):
            text = self.source.text
            value = "".join(p if isinstance(p, str) else text[p.span.start:p.span.end]
                            for p in t.pieces)
            return s.Literal("str", value, t.span)
        return t

    def mode_decl(self, c):
        return s.ModeDecl(_name(c[1]), _sp(c[0], c[1]))

    def trigger_decl(self, c):
        arg = c[2]
        if isinstance(arg, Token):
            arg = self._plain_string(arg)
        return s.TriggerDecl(_name(c[1]), arg, _sp(c[0], arg))

    def policy_decl(self, c):
        return s.PolicyDecl(_name(c[1]), _name(c[2]), _sp(c[0], c[2]))

    def import_sop(self, c):
        return s.ImportSop(self._plain_string(c[1]), _name(c[2]), _sp(c[0], c[2]))

    def use_skill(self, c):
        kw, name, spec, alias = c
        raw = str(spec)  # the token includes the `@` that introduces it
        text = raw[1:].lstrip()
        start = spec.start_pos + len(raw) - len(text)
        spec_lit = s.Literal("str", text, Span(start, spec.end_pos))
        return s.UseSkill(_name(name), spec_lit, _name(alias) if alias else None,
                          _sp(kw, alias or spec))

    def use_flow(self, c):
        return s.UseFlow(self._plain_string(c[1]), _name(c[2]), _sp(c[0], c[2]))

    def record_decl(self, c):
        return s.RecordDecl(_name(c[1]), c[2], _sp(c[0], c[3]))

    def enum_decl(self, c):
        return s.EnumDecl(_name(c[1]), c[2], _sp(c[0], c[3]))

    def deliverable_decl(self, c):
        return s.DeliverableDecl(_name(c[1]), tuple(c[2:-1]), _sp(c[0], c[-1]))

    def text_part(self, c):
        return s.Part("text", _name(c[1]), (), _sp(c[0], c[1]))

    def files_part(self, c):
        return s.Part("files", None, c[1], _sp(c[0], c[2]))

    def fields_part(self, c):
        return s.Part("fields", None, c[1], _sp(c[0], c[2]))

    def memory_part(self, c):
        return s.Part("memory", None, (), _sp(c[0]))

    def input_decl(self, c):
        kw, name, typ, default = c
        return s.InputDecl(_name(name), typ, default, _sp(kw, default or typ))

    def output_decl(self, c):
        kw, name, typ, value = c
        return s.OutputDecl(_name(name), typ, value, _sp(kw, value))

    def node_decl(self, c):
        kw, name, typ, body, *clauses = c
        end = clauses[-1] if clauses else body
        return s.NodeDecl(_name(name), typ, body, tuple(clauses), _sp(kw, end))

    # ---- node kinds --------------------------------------------------------------------------
    def prop_block(self, c):
        return c  # (props..., RBRACE)

    def prop(self, c):
        key = _name(c[0])
        return s.Prop(key, c[1], Span(key.span.start, c[1].span.end))

    def _prop_node(self, kind, c):
        block = c[1]
        return s.PropNode(kind, tuple(block[:-1]), _sp(c[0], block[-1]))

    def llm_node(self, c):
        return self._prop_node("llm", c)

    def agent_node(self, c):
        return self._prop_node("agent", c)

    def extract_node(self, c):
        return self._prop_node("extract", c)

    def args(self, c):
        return tuple(x for x in c if x is not None)

    def arg(self, c):
        name = _name(c[0])
        return s.Arg(name, c[1], Span(name.span.start, c[1].span.end))

    def skill_call(self, c):
        return s.SkillCall(_name(c[1]), c[2], _sp(c[0], c[3]))

    def flow_call(self, c):
        return s.FlowCall(_name(c[1]), c[2], _sp(c[0], c[3]))

    def code_node(self, c):
        kw, lang, args, src = c
        raw = str(src)
        return s.CodeNode(_name(lang), args or (), _dedent_long(raw[3:-3]), _sp(src), _sp(kw, src))

    def command_node(self, c):
        kw, line, stdin = c
        raw = str(line)
        # A command line is a template whose quotes are backticks.
        tok = Token("STRING", '"' + raw[1:-1] + '"', start_pos=line.start_pos,
                    end_pos=line.end_pos)
        tmpl = self._template(tok)
        if isinstance(tmpl, s.Literal):
            tmpl = s.Template((tmpl.value,) if tmpl.value else (), raw, False, tmpl.span)
        else:
            tmpl = s.Template(tmpl.pieces, raw, False, tmpl.span)
        return s.CommandNode(tmpl, stdin, _sp(kw, stdin or line))

    def gate_node(self, c):
        return s.GateNode(c[1], _sp(c[0], c[2]))

    def ask_node(self, c):
        return s.AskNode(c[1], _sp(c[0], c[2]))

    def for_each(self, c):
        kw, var, iterable, conc, body, rb = c
        return s.ForEach(_name(var), iterable, conc, body, _sp(kw, rb))

    # ---- clauses -------------------------------------------------------------------------------
    def when_clause(self, c):
        return s.WhenClause(c[1], _sp(c[0], c[1]))

    def after_clause(self, c):
        return s.AfterClause(tuple(c[1:]), _sp(c[0], c[-1]))

    def dotted(self, c):
        names = tuple(_name(t) for t in c)
        return s.Ref(names, Span(names[0].span.start, names[-1].span.end))

    def effect_clause(self, c):
        return s.EffectClause(_name(c[1]), _sp(c[0], c[1]))

    def option_clause(self, c):
        key = _name(c[0])
        return s.OptionClause(key, c[1], Span(key.span.start, c[1].span.end))

    # ---- match -----------------------------------------------------------------------------
    def match_decl(self, c):
        return s.MatchDecl(c[1], tuple(c[2:-1]), _sp(c[0], c[-1]))

    def arm(self, c):
        i = next(k for k, t in enumerate(c) if t.type == "ARROW")
        pats = tuple(_name(t) for t in c[:i])
        targets = tuple(_name(t) for t in c[i + 1 :])
        return s.MatchArm(pats, targets, Span(pats[0].span.start, targets[-1].span.end))

    def start(self, c):
        header, *items = c
        return header, items

    def items(self, c):
        return None, c


_SPLITS = {"??": ("?", "?"), ">=": (">", "="), "<-": ("<", "-"), "->": ("-", ">")}


class _SharedScannerLexer(ContextualLexer):
    """Lark's contextual lexer, with one scanner shared by every parser state.

    The stock contextual lexer compiles a separate regular expression for each parser state
    the first time that state is met: about 20 ms per process, a tenth of a `flowc check`.
    This one scans with the single all-terminals scanner and then fixes the few tokens whose
    type depends on the context: keywords used as names (`draft.text`), and `-`, `<`, `>`
    (binary operator or not). The result is the same token stream.
    """

    _accepts: dict[int, frozenset[str]]
    _retype: dict[tuple[str, str], str]

    def prepare(self) -> None:
        self._accepts = {
            state: frozenset(t.name for t in lexer.terminals)
            for state, lexer in self.lexers.items()
        }
        by_text: dict[str, list[str]] = {}
        for t in self.root_lexer.terminals:
            if t.pattern.type == "str":
                by_text.setdefault(t.pattern.value, []).append(t.name)
        by_text.setdefault("-", []).append("ADD_OP")
        by_text.setdefault("<", []).append("COMP_OP")
        by_text.setdefault(">", []).append("COMP_OP")
        self._by_text = {k: tuple(dict.fromkeys(v)) for k, v in by_text.items()}

    def lex(self, lexer_state, parser_state):
        root = self.root_lexer
        accepts = self._accepts
        try:
            while True:
                tok = root.next_token(lexer_state, parser_state)
                acc = accepts[parser_state.position]
                if tok.type not in acc:
                    parts = _SPLITS.get(str(tok))
                    if parts is not None:
                        # `int??` is `int?` then `?`; `list<int>=3` is `>` then `=`
                        yield from self._split(tok, parts, accepts, parser_state)
                        continue
                    tok = self._fix(tok, acc)
                yield tok
        except EOFError:
            pass
        except UnexpectedCharacters as e:
            # say what this parser state expects, not what any state could take
            e.allowed = set(accepts[parser_state.position]) - {"WS", "COMMENT"}
            raise

    def _split(self, tok: Token, parts, accepts, parser_state):
        pos = tok.start_pos
        for part in parts:
            piece = Token("?", part, pos, tok.line, tok.column + (pos - tok.start_pos),
                          tok.line, tok.column + (pos - tok.start_pos) + len(part),
                          pos + len(part))
            yield self._fix(piece, accepts[parser_state.position])
            pos += len(part)

    def _fix(self, tok: Token, acc: frozenset[str]) -> Token:
        value = str(tok)
        if "NAME" in acc and value.isidentifier():
            return Token.new_borrow_pos("NAME", value, tok)
        for alt in self._by_text.get(value, ()):
            if alt in acc:
                return Token.new_borrow_pos(alt, value, tok)
        return tok


class _Parser:
    """The Lark parser with the builder attached, built once per process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.builder = _Builder()
        self.comments: list[Token] = []
        text = grammar_text()
        self.lark = Lark(
            text,
            parser="lalr",
            lexer="contextual",
            maybe_placeholders=True,
            start=["start", "items", "type", "expr"],
            transformer=self.builder,
            lexer_callbacks={"COMMENT": self.comments.append},
            cache=_cache_path(text),
        )
        lexer = self.lark.parser.lexer
        if type(lexer) is ContextualLexer:  # see _SharedScannerLexer
            lexer.__class__ = _SharedScannerLexer
            lexer.prepare()

    def parse(self, text: str, start: str):
        return self.lark.parse(text, start=start)


def _cache_path(grammar: str) -> str:
    import lark

    from .cache import cache_dir

    key = hashlib.sha256((grammar + lark.__version__ + "1").encode()).hexdigest()[:16]
    return str(cache_dir() / f"grammar-{key}.lark")


_PARSER: _Parser | None = None


def _parser() -> _Parser:
    global _PARSER
    if _PARSER is None:
        _PARSER = _Parser()
    return _PARSER


def parse(source: Source, diagnostics: Diagnostics) -> ParseResult:
    """Parse `source`; syntax errors go to `diagnostics` and parsing resumes after each one."""
    return _parse_text(source, diagnostics, header=True)[0]


def parse_fragment(source: Source, diagnostics: Diagnostics, *,
                   header: bool) -> tuple[ParseResult, bool]:
    """Parse a piece of a file that starts at a top-level declaration (or, with `header`, at
    the file's start), with the same error recovery as `parse`.

    Also returns whether the parse ended cleanly: the last stretch of declarations parsed to
    the end of the text without an error. The language server parses a file as such pieces
    and reuses the ones that did not change; a piece that ends cleanly leaves the parser
    between declarations, exactly where parsing the whole file would be at that point.
    """
    return _parse_text(source, diagnostics, header=header)


def _parse_text(source: Source, diagnostics: Diagnostics, *,
                header: bool) -> tuple[ParseResult, bool]:
    p = _parser()
    text = source.text
    with p.lock:
        p.builder.source = source
        p.builder.diagnostics = diagnostics
        p.builder.depths.clear()
        p.builder.reported_deep.clear()
        p.comments.clear()
        head, items = None, []
        pos, first, errors = 0, header, 0
        clean = False
        while True:
            chunk = text if pos == 0 else _blank(text, pos)
            try:
                h, its = p.parse(chunk, "start" if first else "items")
                if first:
                    head = h
                items.extend(its)
                clean = True
                break
            except UnexpectedInput as e:
                errors += 1
                err_at = _report_syntax_error(e, source, diagnostics, p)
                # keep the declarations before the one that failed
                item_start = _last_sync_before(text, err_at, pos)
                if item_start is not None and item_start > pos:
                    end_text = _blank(text[:item_start], pos) if pos else text[:item_start]
                    try:
                        h, its = p.parse(end_text, "start" if first else "items")
                        if first:
                            head = h
                        items.extend(its)
                    except UnexpectedInput:
                        pass
                nxt = _next_sync_after(text, err_at)
                if nxt is None or errors >= 50:
                    break
                pos, first = nxt, False
        comments = tuple(
            s.Comment(str(t), Span(t.start_pos, t.end_pos))
            for t in sorted({t.start_pos: t for t in p.comments}.values(),
                            key=lambda t: t.start_pos)
        )
        p.builder.source = p.builder.diagnostics = None
        p.builder.depths.clear()
    end = Span(0, len(text))
    return ParseResult(s.FlowFile(head, tuple(items), comments, end), comments), clean


def _shift(node, delta: int):
    """Move every span in a subtree by `delta` characters (for text parsed out of a string)."""
    if isinstance(node, tuple):
        return tuple(_shift(x, delta) for x in node)
    if not hasattr(node, "__dataclass_fields__"):
        return node
    for name in node.__dataclass_fields__:
        value = getattr(node, name)
        if isinstance(value, Span):
            setattr(node, name, Span(value.start + delta, value.end + delta))
        elif isinstance(value, tuple) or hasattr(value, "__dataclass_fields__"):
            setattr(node, name, _shift(value, delta))
    return node


def _blank(text: str, upto: int) -> str:
    """`text` with everything before `upto` turned into spaces (newlines kept)."""
    head = re.sub(r"[^\n]", " ", text[:upto])
    return head + text[upto:]


def _last_sync_before(text: str, at: int, floor: int) -> int | None:
    best = None
    for m in _SYNC_RE.finditer(text, floor, at + 1):
        if m.start() <= at:
            best = m.start()
    return best


def _next_sync_after(text: str, at: int) -> int | None:
    line_end = text.find("\n", at)
    if line_end == -1:
        return None
    m = _SYNC_RE.search(text, line_end + 1)
    return m.start() if m else None


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    text = str(tok)
    if len(text) > 30:
        text = text[:27] + "..."
    if tok.type == "NAME":
        return f"name `{text}`"
    return f"`{text}`"


def _describe_expected(expected, p: _Parser) -> list[str]:
    terms = {t.name: t for t in p.lark.terminals}
    out = set()
    for name in expected:
        if name in _HUMAN_TERMINALS:
            out.add(_HUMAN_TERMINALS[name])
            continue
        t = terms.get(name)
        if t is not None and t.pattern.type == "str":
            out.add(f"`{t.pattern.value}`")
        else:
            out.add(name.lower())
    return sorted(out)


def _report_syntax_error(e: UnexpectedInput, source: Source, diags: Diagnostics, p) -> int:
    text = source.text
    if isinstance(e, UnexpectedCharacters):
        at = e.pos_in_stream
        ch = text[at] if at < len(text) else ""
        if ch in "\"'`":
            diags.add("F0001", source, Span(at, at + 1), "unterminated string",
                      label="this quote is never closed", help=f"close it with {ch}")
        else:
            help_ = _expected_help(e.allowed, p)
            if ch == ";":
                help_ = "declarations need no `;`: remove it"
            diags.add("F0002", source, Span(at, at + 1), f"unexpected character {_char(ch)}",
                      label="not part of the language here", help=help_)
        return at
    if isinstance(e, UnexpectedEOF) or (
        isinstance(e, UnexpectedToken) and e.token.type == "$END"
    ):
        at = len(text.rstrip())
        expected = getattr(e, "expected", None) or getattr(e, "accepts", None) or []
        if not text.strip():
            diags.add("F0003", source, Span(0, 0), "the file is empty",
                      help='a flow file starts with `flow NAME version "1.0.0"`')
            return len(text)
        opened = _unclosed(text, _last_sync_before(text, at, 0) or 0, len(text))
        if opened is not None:
            ch = text[opened]
            diags.add("F0003", source, Span(opened, opened + 1),
                      f"the file ends before this `{ch}` is closed", label="opened here",
                      related=(Related(source, Span(max(at - 1, 0), at), "the file ends here"),),
                      help=f"close it with `{_CLOSER[ch]}`")
            return len(text)
        diags.add("F0003", source, Span(max(at - 1, 0), at), "the file ends too early",
                  label="something is still open here", help=_expected_help(expected, p))
        return len(text)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    at = tok.start_pos
    expected = e.accepts or e.expected
    opened = _unclosed_before_declaration(text, at)
    if opened is not None:
        line_start = text.rfind("\n", 0, at) + 1
        ch, decl = text[opened], _SYNC_RE.match(text, line_start)
        diags.add("F0001", source, Span(opened, opened + 1), f"`{ch}` is never closed",
                  label="opened here",
                  related=(Related(source, Span(line_start, decl.end()),
                                   "the next declaration starts inside it"),),
                  help=f"close it with `{_CLOSER[ch]}` before the next declaration "
                  f"(`{decl.group()}`)")
        return at
    message = f"unexpected {_describe_token(tok)}"
    hint = _specific_hint(tok, expected)
    diags.add("F0001", source, Span(at, tok.end_pos or at + 1), message,
              label="not expected here", help=hint or _expected_help(expected, p))
    return at


def _char(ch: str) -> str:
    """A character as a message names it: `$`, or U+0000 (NULL) when it cannot be seen."""
    import unicodedata

    if ch and (ch.isprintable() and not ch.isspace()) and unicodedata.category(ch) != "Cf":
        return f"`{ch}`"
    name = unicodedata.name(ch, "") or {"\x00": "NULL", "\x1b": "ESCAPE", "\x7f": "DELETE"}.get(
        ch, "a control character")
    return f"U+{ord(ch):04X} ({name})" if ch else "at the end"


_CLOSER = {"(": ")", "[": "]", "{": "}"}
_BRACKETS = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\''
                       r'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`|//[^\n]*|[()\[\]{}]')


def _unclosed(text: str, start: int, end: int) -> int | None:
    """The offset of the innermost bracket opened in text[start:end] and not closed there
    (strings, command lines and comments skipped), or None."""
    stack: list[int] = []
    for m in _BRACKETS.finditer(text, start, end):
        c = m.group()
        if c in _CLOSER:
            stack.append(m.start())
        elif c in ")]}":
            if stack and _CLOSER[text[stack[-1]]] == c:
                stack.pop()
    return stack[-1] if stack else None


def _unclosed_before_declaration(text: str, at: int) -> int | None:
    """When a syntax error stands on a line that starts a top-level declaration, the bracket
    the declaration before it left open (the real mistake), or None."""
    line_start = text.rfind("\n", 0, at) + 1
    if not _SYNC_RE.match(text, line_start):
        return None
    before = _last_sync_before(text, max(line_start - 1, 0), 0)
    if before is None or before >= line_start:
        return None
    return _unclosed(text, before, line_start)


def _specific_hint(tok: Token, expected) -> str | None:
    exp = set(expected)
    if exp == {"FLOW"}:
        return 'a flow file starts with `flow NAME version "1.0.0"`'
    if "RBRACE" in exp and tok.type in ("NODE", "INPUT", "OUTPUT", "RECORD", "DELIVERABLE"):
        return "a `}` is missing before this declaration"
    if exp == {"EQUAL"} or ("EQUAL" in exp and "COLON" in exp):
        return "a node is declared as `node name: Type = ...`"
    if "RPAR" in exp and tok.type == "NAME" and "COMMA" in exp:
        return "separate arguments with `,`"
    if tok.type == "NAME" and str(tok) in ("def", "let", "var", "func", "step", "task"):
        return "declare a step as `node name = llm { ... }` (or another node kind)"
    return None


def _expected_help(expected, p) -> str | None:
    names = _describe_expected(expected, p)
    if not names:
        return None
    if len(names) > 8:
        names = [*names[:8], "..."]
    return "expected " + ", ".join(names)


# ---- types from text (used for SKILL.md declarations) ----------------------------------------


def parse_type_text(text: str, source: Source, diagnostics: Diagnostics):
    """Parse a type written as text (e.g. `list<str>` in a SKILL.md); None on error."""
    p = _parser()
    with p.lock:
        p.builder.source = source
        p.builder.diagnostics = diagnostics
        p.builder.depths.clear()
        p.builder.reported_deep.clear()
        try:
            return p.parse(text, "type")
        except UnexpectedInput:
            return None
        finally:
            p.builder.source = p.builder.diagnostics = None
