"""The parser: spans on every node, keywords usable as names, recovery after syntax errors."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from flowc.compiler import syntax as s
from flowc.compiler.diagnostics import Diagnostics
from flowc.compiler.parser import parse
from flowc.compiler.source import Source


def _parse(text: str):
    d = Diagnostics()
    return parse(Source(text, "t.flow"), d), d


def _walk(node):
    if isinstance(node, tuple):
        for x in node:
            yield from _walk(x)
    elif is_dataclass(node):
        yield node
        for f in fields(node):
            yield from _walk(getattr(node, f.name))


FULL = '''flow f version "1.0.0"
  "A flow."
mode chat
on schedule "0 9 * * 1"
policy approval: warning
import sop "sops/" as sops
use skill stats @ ^1.2 as st
use flow "other.flow" as other
record R { a: str, b: int = 2 }
enum E { x, y }
deliverable D {
  text summary
  files { t: file<csv> }
  fields { n: float, e: enum { p, q } }
  memory
}
input text: str
input items: list<R>?
node files: D = agent { goal "Do {text}" context [text] max_steps 3 }
node c = code python(x: 1) """
print(x)
"""
node cmd = command `wc -l {files.t} | head` <- files.summary
  when not (files.n > -1.5 and files.e == p) or text in ["a", "b"]
  after files
  effect external
  timeout 30s
node g = await human(to: role("r"), edit: { body: str = files.summary }, timeout: 1h -> reject)
node each: list<str> = for each i in items ?? [] concurrency 2 { llm { prompt "{i.a}" } }
match g { approved | edited -> cmd  rejected -> stop }
output o: str = files.summary ?? "none"
'''


def test_every_node_has_a_span_inside_the_text():
    result, d = _parse(FULL)
    assert not d.items, [x.message for x in d.items]
    spans = 0
    for node in _walk(result.file.items):
        if hasattr(node, "span"):
            assert 0 <= node.span.start <= node.span.end <= len(FULL), node
            spans += 1
    assert spans > 100


def test_spans_cover_their_construct():
    result, _ = _parse(FULL)
    node = next(i for i in result.file.items if isinstance(i, s.NodeDecl) and i.name.value == "cmd")
    text = FULL[node.span.start:node.span.end]
    assert text.startswith("node cmd = command") and text.endswith("timeout 30s")
    use = next(i for i in result.file.items if isinstance(i, s.UseSkill))
    assert FULL[use.spec.span.start:use.spec.span.end] == "^1.2"
    assert use.spec.value == "^1.2" and use.alias.value == "st"


def test_keywords_are_names_where_a_name_is_expected():
    result, _ = _parse(FULL)
    names = {i.name.value for i in result.file.items if hasattr(i, "name")}
    assert {"text", "files", "each"} <= names
    node = next(i for i in result.file.items if isinstance(i, s.NodeDecl) and i.name.value == "g")
    form = next(a.value for a in node.body.args if a.name.value == "edit")
    assert form.fields[0].default == s.Ref((s.Name("files"), s.Name("summary")))


def test_templates_split_into_text_and_holes():
    result, _ = _parse('flow f\nnode a = llm { prompt "Hi {x.y}, {{literal}} {len(z) + 1}!" }\n')
    tmpl = result.file.items[0].body.props[0].value
    assert isinstance(tmpl, s.Template)
    assert tmpl.pieces[0] == "Hi "
    assert tmpl.pieces[1].expr == s.Ref((s.Name("x"), s.Name("y")))
    assert tmpl.pieces[2] == ", {literal} "
    assert isinstance(tmpl.pieces[3].expr, s.BinOp)


def test_precedence():
    result, _ = _parse("flow f\noutput o = a ?? b or c and not d == e + f * -g\n")
    e = result.file.items[0].value
    assert e.op == "??" and e.right.op == "or" and e.right.right.op == "and"
    assert e.right.right.right.op == "not"
    cmp = e.right.right.right.operand
    assert cmp.op == "==" and cmp.right.op == "+" and cmp.right.right.op == "*"
    assert cmp.right.right.right == s.UnaryOp("-", s.Ref((s.Name("g"),)))


def test_recovery_reports_every_broken_declaration_and_keeps_the_rest():
    text = ('flow f version "1"\n'
            "input a: str\n"
            "node b = llm { prompt \"x\"\n"        # missing }
            "node c = llm { prompt \"{a}\" }\n"
            "node d llm { prompt \"y\" }\n"         # missing =
            "output e: str = c.text\n"
            "input f str\n")                        # missing :
    result, d = _parse(text)
    lines = sorted(x.start.line for x in d.items)
    assert [x.code for x in d.items] == ["F0001", "F0001", "F0001"]
    assert lines == [3, 5, 7]  # the `{` left open on line 3, not the `node` after it
    kept = [i.name.value for i in result.file.items]
    assert "a" in kept and "e" in kept
    assert result.file.header.name.value == "f"


def test_comments_are_collected():
    result, _ = _parse("// head\nflow f // trailing\ninput a: str // more\n")
    assert [c.text for c in result.comments] == ["// head", "// trailing", "// more"]


def test_long_strings_are_dedented():
    result, _ = _parse('flow f\nnode a = llm { prompt """\n    line one\n      indented\n    """ }\n')
    assert result.file.items[0].body.props[0].value.value == "line one\n  indented\n"
