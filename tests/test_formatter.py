"""Tests of `flowc fmt`: the canonical layout of every construct, comments, and round trips.

Every formatted text is checked to parse back to an equal tree, to keep every comment, and
to be a fixed point of the formatter; generated flows check the same properties at random.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flowc.compiler.diagnostics import Diagnostics
from flowc.compiler.formatter import FMT_OFF, format_source
from flowc.compiler.parser import parse
from flowc.compiler.source import Source

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = '''flow client_report version "1.2.0"
  "Monthly portfolio update."

import sop "sops/compliance.md" as compliance
use skill portfolio_stats @ 2.1.0
use skill render_report   @ ^1.3
use skill x @ >=1.2,<2

record Client { id: str, name: str, email: str }

deliverable Stats {
  text summary
  files  { table: file<csv> }
  fields { total_return: float, anomalies: list<str>, status: enum { ok, anomaly } }
}
input client: Client
input holdings: file<csv>
node stats: Stats = skill portfolio_stats(holdings: holdings)
node draft: Draft = agent {
  goal    "Write {client.name}'s monthly update from the figures."
  sops    [reporting.monthly, compliance]
  context [stats]
  max_steps 8
}
node review = await human(
  when:    stats.status == anomaly and not (1 + 2 * 3 > -4),
  to:      role("compliance"),
  edit:    { body: str = draft.body },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
node send = command `send_mail --to {client.email} --body -` <- review.body
  after review.approved
  effect external
  retry 3
node rework = llm { prompt "Revise: {review.reason}" context [draft] } when a ?? b in [1, 2.5]
match review { approved | edited -> send  rejected -> rework, stop }
output report: file<pdf> = draft.report
node c: list<R> = for each c in clients concurrency 10 { flow report(client: c) }
node py: R = code python(x: 1) """print("hi")"""
'''

SAMPLE_FORMATTED = '''flow client_report version "1.2.0"
  "Monthly portfolio update."

import sop "sops/compliance.md" as compliance
use skill portfolio_stats @ 2.1.0
use skill render_report @ ^1.3
use skill x @ >=1.2,<2

record Client { id: str, name: str, email: str }

deliverable Stats {
  text summary
  files { table: file<csv> }
  fields { total_return: float, anomalies: list<str>, status: enum { ok, anomaly } }
}

input client: Client
input holdings: file<csv>

node stats: Stats = skill portfolio_stats(holdings: holdings)

node draft: Draft = agent {
  goal      "Write {client.name}'s monthly update from the figures."
  sops      [reporting.monthly, compliance]
  context   [stats]
  max_steps 8
}

node review = await human(
  when:    stats.status == anomaly and not 1 + 2 * 3 > -4,
  to:      role("compliance"),
  edit:    { body: str = draft.body },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)

node send = command `send_mail --to {client.email} --body -` <- review.body
  after review.approved
  effect external
  retry 3

node rework = llm {
  prompt  "Revise: {review.reason}"
  context [draft]
}
  when a ?? b in [1, 2.5]

match review {
  approved | edited -> send
  rejected -> rework, stop
}

output report: file<pdf> = draft.report

node c: list<R> = for each c in clients concurrency 10 { flow report(client: c) }

node py: R = code python(x: 1) """print("hi")"""
'''


# ---- checking helpers ----------------------------------------------------------------------


def _parse(text: str):
    diagnostics = Diagnostics()
    result = parse(Source(text), diagnostics)
    return result, diagnostics


def _plain(node):
    """A syntax tree as nested tuples, without the fields that equality must ignore (spans)."""
    if isinstance(node, tuple):
        return tuple(_plain(x) for x in node)
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *(_plain(getattr(node, f.name))
                                       for f in dataclasses.fields(node) if f.compare))
    return node


_TOKENS = re.compile(  # comments, then the tokens whose insides are kept verbatim
    r"//[^\n]*"
    r'|"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|`(?:[^`\\]|\\.)*`",
    re.S,
)


def _layout(text: str) -> str:
    """`text` with the insides of strings and command lines blanked out (they are verbatim)."""
    def blank(m: re.Match) -> str:
        tok = m.group(0)
        return tok if tok.startswith("//") else re.sub(r"\s", "_", tok)
    return _TOKENS.sub(blank, text)


def _comment_texts(text: str) -> Counter:
    """The comments of a text that parses (the parser's list merges comments of equal text)."""
    return Counter(m.group().rstrip() for m in _TOKENS.finditer(text)
                   if m.group().startswith("//"))


def check(text: str) -> str:
    """Format `text` and check every promise of the formatter; returns the formatted text."""
    out = format_source(text)
    assert out is not None, "a valid flow was not formatted"
    before, _ = _parse(text)
    after, diagnostics = _parse(out)
    assert not diagnostics.has_errors, f"the formatted text does not parse:\n{out}"
    assert _plain(after.file) == _plain(before.file), f"formatting changed the meaning:\n{out}"
    assert _comment_texts(out) == _comment_texts(text), f"comments lost or duplicated:\n{out}"
    assert format_source(out) == out, f"not idempotent:\n{out}\n---\n{format_source(out)}"
    assert out.endswith("\n") and not out.endswith("\n\n")
    layout = _layout(out)  # a long string may hold blank lines and trailing spaces
    assert "\n\n\n" not in layout
    assert all(line == line.rstrip() for line in layout.split("\n")), "trailing whitespace"
    return out


def fmt(body: str) -> str:
    """The formatted form of `body` under a minimal header, without that header."""
    out = check("flow t\n" + body)
    assert out.startswith("flow t\n\n")
    return out.removeprefix("flow t\n\n")


# ---- header and settings ---------------------------------------------------------------------


def test_header_puts_the_description_on_its_own_line():
    assert check('flow  a version "1.0" "What it does."') == (
        'flow a version "1.0"\n  "What it does."\n'
    )


def test_header_alone():
    assert check("flow a") == "flow a\n"


def test_header_strings_with_braces_and_escapes_keep_their_value():
    out = check('flow a version "1.{x}" "say \\"hi\\" {{not a hole}}"')
    assert out == 'flow a version "1.{{x}}"\n  "say \\"hi\\" {{not a hole}}"\n'


def test_settings_stay_together():
    src = "mode  strict\non schedule \"0 9 * * *\"\non upload file< csv >\npolicy approval :error\n"
    assert fmt(src) == (
        'mode strict\non schedule "0 9 * * *"\non upload file<csv>\npolicy approval: error\n'
    )


def test_blank_line_between_grouped_items_is_kept_when_the_source_had_one():
    assert fmt("input a: int\n\n\n\ninput b: int\ninput c: int\n") == (
        "input a: int\n\ninput b: int\ninput c: int\n"
    )


def test_different_groups_are_separated():
    assert fmt("input a: int\noutput b = a\nmode x\n") == (
        "input a: int\n\noutput b = a\n\nmode x\n"
    )


# ---- imports -----------------------------------------------------------------------------------


def test_imports_and_uses():
    src = ('import sop "sops/a.md" as a\nuse skill  s @ ^1.3 as t\nuse skill u @ >=1.2, <2\n'
           'use flow "f.flow"  as  f\n')
    assert fmt(src) == (
        'import sop "sops/a.md" as a\nuse skill s @ ^1.3 as t\nuse skill u @ >=1.2, <2\n'
        'use flow "f.flow" as f\n'
    )


# ---- types ---------------------------------------------------------------------------------------


def test_record_on_one_line_when_it_fits():
    assert fmt("record R {\n  a: str\n  b: list< int >? = null,\n}\n") == (
        "record R { a: str, b: list<int>? = null }\n"
    )


def test_long_record_gets_one_field_per_line():
    fields = ", ".join(f"field_number_{i}: map<str>" for i in range(6))
    out = fmt(f"record R {{ {fields} }}")
    assert out.splitlines() == ["record R {", *[f"  field_number_{i}: map<str>" for i in range(6)],
                                "}"]


def test_empty_record():
    assert fmt("record R {\n}\n") == "record R {}\n"


def test_enum_one_line_and_multi_line():
    assert fmt("enum E {a b,c,}") == "enum E { a, b, c }\n"
    names = [f"variant_with_a_long_name_{i}" for i in range(5)]
    assert fmt(f"enum E {{ {', '.join(names)} }}").splitlines() == [
        "enum E {", *[f"  {n}" for n in names], "}"]


def test_inline_enum_and_optional_types():
    assert fmt("input x: enum{a,b}?\ninput y: map<list<int>>\n") == (
        "input x: enum { a, b }?\ninput y: map<list<int>>\n"
    )


def test_deliverable_is_always_multi_line():
    src = "deliverable D { text body files {} fields { a: int, b: str } memory }"
    assert fmt(src) == (
        "deliverable D {\n  text body\n  files {}\n  fields { a: int, b: str }\n  memory\n}\n"
    )


def test_deliverable_long_fields_break():
    fields = ", ".join(f"some_long_field_{i}: list<str>" for i in range(5))
    out = fmt(f"deliverable D {{ fields {{ {fields} }} }}")
    assert out.splitlines() == ["deliverable D {", "  fields {",
                                *[f"    some_long_field_{i}: list<str>" for i in range(5)],
                                "  }", "}"]


# ---- inputs and outputs --------------------------------------------------------------------------


def test_inputs_and_outputs():
    assert fmt("input a : int = 3\noutput b : str = a\noutput c = (a)\n") == (
        "input a: int = 3\n\noutput b: str = a\noutput c = a\n"
    )


# ---- nodes -----------------------------------------------------------------------------------------


def test_property_blocks_align_values():
    for kind in ("llm", "agent", "extract"):
        out = fmt(f'node n = {kind} {{ prompt "p" context [a, b] max_steps 3 }}')
        assert out == (f'node n = {kind} {{\n  prompt    "p"\n  context   [a, b]\n'
                       "  max_steps 3\n}\n")


def test_empty_property_block():
    assert fmt("node n = llm { }") == "node n = llm {}\n"


def test_skill_and_flow_calls_on_one_line():
    assert fmt("node n: R = skill s( a : x , b : [1,2] , )") == (
        "node n: R = skill s(a: x, b: [1, 2])\n")
    assert fmt("node n = flow f()") == "node n = flow f()\n"


def test_long_call_gets_one_argument_per_line():
    args = ", ".join(f"argument_{i}: some.reference_{i}" for i in range(4))
    out = fmt(f"node n = skill s({args})")
    assert out.splitlines() == ["node n = skill s(",
                                *[f"  argument_{i}: some.reference_{i}," for i in range(4)], ")"]


def test_code_node_on_one_line():
    assert fmt('node n = code python """x = 1"""') == 'node n = code python """x = 1"""\n'


def test_code_node_is_reindented():
    src = 'node n = code python(a: 1) """\n        def f():\n            return 1\n\n        f()\n"""'
    assert fmt(src) == (
        'node n = code python(a: 1) """\n  def f():\n      return 1\n\n  f()\n"""\n'
    )


def test_code_node_without_final_newline_and_with_quotes():
    src = "node n = code js '''\n  a = 1\n  b = 'x' '''"
    out = fmt(src)
    assert out == "node n = code js '''\n  a = 1\n  b = 'x' '''\n"


def test_command_with_stdin():
    assert fmt("node n = command `sort -u {a.b}`   <-  a . b") == (
        "node n = command `sort -u {a.b}` <- a.b\n")


def test_gate_and_ask_have_one_argument_per_line():
    out = fmt('node g = await human(to: role("x"), actions: [a, b], timeout: 1h -> a)')
    assert out == ('node g = await human(\n  to:      role("x"),\n  actions: [a, b],\n'
                   "  timeout: 1h -> a,\n)\n")
    assert fmt('node q = ask human(question: "Which?")') == (
        'node q = ask human(\n  question: "Which?",\n)\n')
    assert fmt("node q = ask human()") == "node q = ask human()\n"


def test_form_values():
    out = fmt("node g = await human(edit: {a: str = x.a, b: int}, empty: {})")
    assert out == ("node g = await human(\n  edit:  { a: str = x.a, b: int },\n"
                   "  empty: {},\n)\n")


def test_for_each_on_one_line_and_multi_line():
    assert fmt("node n = for each x in xs concurrency 2 {skill s(a: x)}") == (
        "node n = for each x in xs concurrency 2 { skill s(a: x) }\n")
    assert fmt('node n = for each x in xs { llm { prompt "p" } }') == (
        'node n = for each x in xs {\n  llm {\n    prompt "p"\n  }\n}\n')


def test_code_inside_for_each_is_indented_with_the_body():
    out = fmt('node n = for each x in xs { code py """\nprint(1)\n""" }')
    assert out == 'node n = for each x in xs {\n  code py """\n    print(1)\n  """\n}\n'


def test_clauses_one_per_line():
    src = "node n = skill s() when a and b after x.y , z effect external retry 3 hosts [\"h\"]"
    assert fmt(src) == (
        'node n = skill s()\n  when a and b\n  after x.y, z\n  effect external\n  retry 3\n'
        '  hosts ["h"]\n'
    )


def test_option_values_arrow_and_form():
    assert fmt("node n = skill s() timeout 1h->fail edit {a: str}") == (
        "node n = skill s()\n  timeout 1h -> fail\n  edit { a: str }\n")


def test_match_arms_one_per_line():
    assert fmt("match r { a|b -> x, y else -> z }") == (
        "match r {\n  a | b -> x, y\n  else -> z\n}\n")


# ---- strings ---------------------------------------------------------------------------------------


def test_templates_keep_their_source_text():
    assert fmt('output o = "{ a.b } \\\'{{x}}\\t"') == 'output o = "{ a.b } \\\'{{x}}\\t"\n'


def test_plain_strings_are_reescaped():
    assert fmt('output o = "a\\\'b \\\\ \\" {{x}} }"') == (
        'output o = "a\'b \\\\ \\" {{x}} }}"\n')


def test_long_strings_keep_their_source_text():
    src = 'node n = llm {\n    prompt """\n        Hello {a.b}\n          there\n        """\n}'
    assert fmt(src) == (
        'node n = llm {\n  prompt """\n        Hello {a.b}\n          there\n        """\n}\n')
    assert fmt("output o = '''a\\n{{b}}'''") == "output o = '''a\\n{{b}}'''\n"


# ---- expressions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("(a + b) * c", "(a + b) * c"),
    ("a + (b * c)", "a + b * c"),
    ("(a - b) - c", "a - b - c"),
    ("a - (b - c)", "a - (b - c)"),
    ("a / (b * c) % d", "a / (b * c) % d"),
    ("(a ?? b) ?? c", "a ?? b ?? c"),
    ("a ?? (b ?? c)", "a ?? (b ?? c)"),
    ("(a or b) and (c or d)", "(a or b) and (c or d)"),
    ("a or (b and c)", "a or b and c"),
    ("a ?? (b or c)", "a ?? b or c"),
    ("(a ?? b) or c", "(a ?? b) or c"),
    ("not (a and b)", "not (a and b)"),
    ("not (a == b)", "not a == b"),
    ("(not a) == b", "(not a) == b"),
    ("not not a", "not not a"),
    ("(a == b) == c", "(a == b) == c"),
    ("a in (b in c)", "a in (b in c)"),
    ("(a + 1) in [1, 2]", "a + 1 in [1, 2]"),
    ("-(a + b)", "-(a + b)"),
    ("- - a", "--a"),
    ("(-a) * b", "-a * b"),
    ("a * (-b)", "a * -b"),
    ("-(a.b)", "-a.b"),
    ("(a + b).c", "(a + b).c"),
    ("(a + b)[0]", "(a + b)[0]"),
    ("f(a)[0].b", "f(a)[0].b"),
    ("(1).x", "(1).x"),
    ("(1.5).x", "1.5.x"),
    ("(a)", "a"),
    ("f( a , (b) , )", "f(a, b)"),
    ("[ ]", "[]"),
    ("[1,2,]", "[1, 2]"),
    ("0010", "10"),
    ("1.50", "1.5"),
    ("100000000000000000000.0", "1.0e+20"),
    ("1.5E3", "1500.0"),
    ("1.0e-7", "1.0e-07"),
    ("1h30m", "1h30m"),
    ("true and false ?? null", "true and false ?? null"),
])
def test_expressions_get_minimal_parentheses(source, expected):
    assert fmt(f"output o = {source}") == f"output o = {expected}\n"


# ---- comments -------------------------------------------------------------------------------------


def test_comments_between_items_and_at_the_ends():
    src = ("// top\nflow t // after header\n\n// about a\n\n\ninput a: int\n// about b\n"
           "input b: int // b\n\n// the end\n")
    assert check(src) == (
        "// top\nflow t  // after header\n\n// about a\n\ninput a: int\n// about b\n"
        "input b: int  // b\n\n// the end\n")


def test_comments_inside_a_property_block():
    src = ("node n = agent { // opens\n  // about goal\n  goal \"g\" // goal\n"
           "  max_steps 2\n  // before the brace\n} // closes\n  retry 2 // retry\n")
    assert fmt(src) == (
        "node n = agent {  // opens\n  // about goal\n  goal      \"g\"  // goal\n"
        "  max_steps 2\n  // before the brace\n}  // closes\n  retry 2  // retry\n")


def test_comments_inside_arguments_break_the_call():
    src = "node n = skill s(a: 1, // one\n b: 2)\n"
    assert fmt(src) == "node n = skill s(\n  a: 1,  // one\n  b: 2,\n)\n"


def test_comments_inside_a_record_break_it():
    src = "record R { a: int, // a\n // about b\n b: str }"
    assert fmt(src) == "record R {\n  a: int  // a\n  // about b\n  b: str\n}\n"


def test_comments_inside_an_expression_are_kept():
    src = "output o = [1, // one\n 2, // two\n // own\n 3]\ninput i: int\n"
    out = fmt(src)
    assert out == "output o = [1, 2, 3]  // one\n\n// two\n// own\ninput i: int\n"


def test_comments_in_gate_match_and_deliverable():
    src = ("node g = await human( // g\n  to: x, // to\n  // own\n)\n"
           "match g { // m\n  a -> b // arm\n  // last\n}\n"
           "deliverable D { text t // t\n fields { a: int // a\n } }\n")
    out = fmt(src)
    assert out == (
        "node g = await human(  // g\n  to: x,  // to\n  // own\n)\n\n"
        "match g {  // m\n  a -> b  // arm\n  // last\n}\n\n"
        "deliverable D {\n  text t  // t\n  fields {\n    a: int  // a\n  }\n}\n")


def test_comments_with_equal_text_are_all_kept():
    assert fmt("input a: int // x\ninput b: int // x\n// x\ninput c: int\n") == (
        "input a: int  // x\ninput b: int  // x\n// x\ninput c: int\n")


def test_comment_like_text_in_a_template_hole_is_not_a_comment():
    # `//` inside a hole makes the hole malformed (F0004): nothing is formatted
    assert format_source('flow f\noutput o = "x {a // b}"\n') is None
    assert fmt('output o = "x {{a // b}}"\n') == 'output o = "x {{a // b}}"\n'


def test_comment_like_text_inside_strings_is_not_a_comment():
    out = fmt('output o = "http://x" // real\n')
    assert out == 'output o = "http://x"  // real\n'


# ---- whole files -------------------------------------------------------------------------------------


def test_sample_with_every_construct():
    assert check(SAMPLE) == SAMPLE_FORMATTED


def _example_files() -> list[Path]:
    return sorted((ROOT / "examples").rglob("*.flow")) + sorted((ROOT / "tests").rglob("*.flow"))


def test_examples_round_trip():
    checked = 0
    for path in _example_files():
        text = path.read_text(encoding="utf-8")
        if FMT_OFF.match(text):  # left as it is, parsed or not
            assert format_source(text) == text, path
            continue
        _, diagnostics = _parse(text)
        if diagnostics.has_errors:
            assert format_source(text) is None, path
            continue
        check(text)
        checked += 1
    assert checked or not _example_files()


@pytest.mark.parametrize("text", [
    "", "   \n", "// only a comment\n", "node a = llm {}\n", "flow", "flow t\nnode n = \n",
    "flow t\noutput o = a == b == c\n", 'flow t\noutput o = "{"\n', 'flow t\noutput o = "\\q"\n',
    "flow t\noutput o = " + "9" * 5000 + "\n",
])
def test_broken_text_is_not_formatted(text):
    assert format_source(text) is None


@pytest.mark.parametrize("expr", ["(" * 3000 + "a" + ")" * 3000, "- " * 3000 + "a",
                                  "[" * 3000 + "]" * 3000])
def test_deep_nesting_does_not_crash(expr):
    out = format_source(f"flow t\noutput o = {expr}\n")
    if out is not None:
        check(out)


# ---- generated flows -----------------------------------------------------------------------------

KEYWORDS = frozenset(
    "flow version mode on policy import use record enum deliverable text files fields memory "
    "input output node llm agent extract skill code command await ask for when after effect "
    "match else not true false null each in concurrency human sop as or and".split()
)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).filter(lambda n: n not in KEYWORDS)


def _sep(parts: list[list[str]], sep: str = ",") -> list[str]:
    out: list[str] = []
    for k, part in enumerate(parts):
        if k:
            out.append(sep)
        out += part
    return out


@st.composite
def separated(draw, item, min_size=0, max_size=3, trailing=True, optional=False):
    """Items with commas between them (some optional), maybe a trailing comma."""
    parts = draw(st.lists(item, min_size=min_size, max_size=max_size))
    out: list[str] = []
    for k, part in enumerate(parts):
        if k and (not optional or draw(st.booleans())):
            out.append(",")
        out += part
    if parts and trailing and draw(st.booleans()):
        out.append(",")
    return out


_STR_PIECES = ["a", "b c", "\\n", "\\t", '\\"', "\\\\", "\\'", "{{", "}}", "x}", "'", "é",
               "//", "#", "\\r"]


def _hole(names: list[str]) -> str:
    return "{" + ".".join(names) + "}"


HOLES = st.lists(NAMES, min_size=1, max_size=2).map(_hole)
STRINGS = st.lists(st.one_of(st.sampled_from(_STR_PIECES), HOLES), max_size=5).map(
    lambda ps: '"' + "".join(ps) + '"')
PLAIN_STRINGS = st.lists(st.sampled_from(_STR_PIECES), max_size=4).map(
    lambda ps: '"' + "".join(ps) + '"')


@st.composite
def long_strings(draw):
    q = draw(st.sampled_from(['"""', "'''"]))
    pieces = st.one_of(st.sampled_from(["word", "{{", "}}", "\\n", "\\\\", '"', "'", "a b"]),
                       HOLES)
    lines = draw(st.lists(st.tuples(st.integers(0, 6), st.lists(pieces, max_size=3)),
                          max_size=4))
    body = "\n".join(" " * ind + "".join(ps) if ps else "" for ind, ps in lines)
    if draw(st.booleans()):
        body = "\n" + body
    if body.endswith(("\\", q[0])):
        body += "."
    close = "\n" + " " * draw(st.integers(0, 4)) if draw(st.booleans()) else ""
    return q + body + close + q


@st.composite
def code_strings(draw):
    q = draw(st.sampled_from(['"""', "'''"]))
    text = st.sampled_from(["x = 1", "def f(a):", "return {'a': 1}", "# c", "// no comment",
                            "\\d+", "s = \"t\"", "tab\there", "{", "}"])
    lines = draw(st.lists(st.tuples(st.integers(0, 8), st.one_of(text, st.just(""))),
                          max_size=5))
    body = "\n".join(" " * ind + t if t else "" for ind, t in lines)
    if draw(st.booleans()):
        body = "\n" + body
    close = "\n" + " " * draw(st.integers(0, 4)) if draw(st.booleans()) else ""
    if not close and body.endswith(("\\", q[0])):
        close = " "
    return q + body + close + q


FLOATS = st.builds(lambda a, b, e: f"{a}.{b}{e}", st.integers(0, 10**6), st.integers(0, 999),
                   st.sampled_from(["", "", "e5", "E-3", "e+12", "e400"]))
DURATIONS = st.sampled_from(["48h", "30s", "2m", "1h30m", "500ms", "1w", "3d"])


def _leaf():
    return st.one_of(
        st.lists(NAMES, min_size=1, max_size=3).map(lambda ns: _sep([[n] for n in ns], ".")),
        st.integers(0, 10**9).map(lambda n: [str(n)]),
        FLOATS.map(lambda f: [f]),
        DURATIONS.map(lambda d: [d]),
        st.sampled_from(["true", "false", "null"]).map(lambda w: [w]),
        STRINGS.map(lambda s_: [s_]),
        long_strings().map(lambda s_: [s_]),
    ).map(lambda toks: (toks, "atom"))


@st.composite
def _wrap(draw, child):
    """The tokens of a child expression, in parentheses where needed (or at random)."""
    toks, kind = draw(child)
    if kind in ("not", "cmp") or (kind == "op" and draw(st.booleans())):
        return ["(", *toks, ")"]
    if kind == "atom" and draw(st.integers(0, 9)) == 0:
        return ["(", *toks, ")"]
    return toks


_OPS = ["??", "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"]


def _extend(child):
    binary = st.tuples(_wrap(child), st.sampled_from(_OPS), _wrap(child)).map(
        lambda t: ([*t[0], t[1], *t[2]],
                   "cmp" if t[1] in ("==", "!=", "<", "<=", ">", ">=", "in") else "op"))
    plain = child.map(lambda c: c[0])
    return st.one_of(
        binary,
        _wrap(child).map(lambda t: (["not", *t], "not")),
        _wrap(child).map(lambda t: (["-", *t], "op")),
        st.tuples(_wrap(child), NAMES).map(lambda t: ([*t[0], ".", t[1]], "op")),
        st.tuples(_wrap(child), plain).map(lambda t: ([*t[0], "[", *t[1], "]"], "op")),
        st.tuples(NAMES, separated(plain)).map(lambda t: ([t[0], "(", *t[1], ")"], "atom")),
        separated(plain).map(lambda t: (["[", *t, "]"], "atom")),
    )


EXPRS = st.recursive(_leaf(), _extend, max_leaves=8).map(lambda c: c[0])


def _names_list(min_size=1):
    return separated(NAMES.map(lambda n: [n]), min_size=min_size, optional=True)


TYPES = st.recursive(
    st.one_of(NAMES, st.sampled_from(["str", "int", "float"])).map(lambda n: [n]),
    lambda t: st.one_of(
        st.tuples(NAMES, st.lists(t, min_size=1, max_size=2)).map(
            lambda x: [x[0], "<", *_sep(x[1]), ">"]),
        t.map(lambda x: [*x, "?"]),
        _names_list().map(lambda ns: ["enum", "{", *ns, "}"]),
    ),
    max_leaves=4,
)


def _opt(strategy, prefix: list[str] | None = None):
    return st.one_of(st.just([]), strategy.map(lambda x: [*(prefix or []), *x]))


FIELD = st.tuples(NAMES, TYPES, _opt(EXPRS, ["="])).map(lambda t: [t[0], ":", *t[1], *t[2]])
FIELDS = separated(FIELD, optional=True)
VALUES = st.one_of(
    EXPRS, EXPRS,
    st.tuples(EXPRS, EXPRS).map(lambda t: [*t[0], "->", *t[1]]),
    FIELDS.map(lambda f: ["{", *f, "}"]),
)
ARGS = separated(st.tuples(NAMES, VALUES).map(lambda t: [t[0], ":", *t[1]]))
COMMANDS = st.lists(st.sampled_from(["ls", " -la", " {a.b}", " | wc", ' "q"', " \\`", " {{x}}",
                                     " http://h", "\n  next"]), max_size=4).map(
    lambda ps: "`" + "".join(ps) + "`")


def _node_exprs(node):
    props = st.lists(st.tuples(NAMES, VALUES).map(lambda t: [t[0], *t[1]]), max_size=3)
    return st.one_of(
        st.tuples(st.sampled_from(["llm", "agent", "extract"]), props).map(
            lambda t: [t[0], "{", *_flat(t[1]), "}"]),
        st.tuples(st.sampled_from(["skill", "flow"]), NAMES, ARGS).map(
            lambda t: [t[0], t[1], "(", *t[2], ")"]),
        st.tuples(NAMES, _opt(ARGS.map(lambda a: ["(", *a, ")"])), code_strings()).map(
            lambda t: ["code", t[0], *t[1], t[2]]),
        st.tuples(COMMANDS, _opt(EXPRS, ["<-"])).map(lambda t: ["command", t[0], *t[1]]),
        st.tuples(st.sampled_from([["await", "human"], ["ask", "human"]]), ARGS).map(
            lambda t: [*t[0], "(", *t[1], ")"]),
        st.tuples(NAMES, EXPRS, _opt(EXPRS, ["concurrency"]), node).map(
            lambda t: ["for", "each", t[0], "in", *t[1], *t[2], "{", *t[3], "}"]),
    )


def _flat(parts: list[list[str]]) -> list[str]:
    return [tok for part in parts for tok in part]


NODE_EXPRS = st.deferred(lambda: _node_exprs(NODE_EXPRS))
DOTTED = st.lists(NAMES, min_size=1, max_size=3).map(lambda ns: _sep([[n] for n in ns], "."))
CLAUSES = st.one_of(
    EXPRS.map(lambda e: ["when", *e]),
    st.lists(DOTTED, min_size=1, max_size=3).map(lambda ds: ["after", *_sep(ds)]),
    NAMES.map(lambda n: ["effect", n]),
    st.tuples(NAMES, VALUES).map(lambda t: [t[0], *t[1]]),
)
PARTS = st.one_of(
    NAMES.map(lambda n: ["text", n]),
    st.tuples(st.sampled_from(["files", "fields"]), FIELDS).map(lambda t: [t[0], "{", *t[1], "}"]),
    st.just(["memory"]),
)
ARMS = st.tuples(
    st.lists(st.one_of(NAMES, st.just("else")), min_size=1, max_size=3),
    st.lists(NAMES, min_size=1, max_size=3),
).map(lambda t: [*_sep([[p] for p in t[0]], "|"), "->", *_sep([[n] for n in t[1]])])
SPECS = st.tuples(st.sampled_from(["", " ", "\n  "]),
                  st.sampled_from(["2.1.0", "^1.3", ">=1.2,<2", "*", "~1.2", "== 1.0", "1.0.0-rc.1",
                                   ">= 1.2 , < 2"])).map(lambda t: "@" + t[0] + t[1])
ITEMS = st.one_of(
    NAMES.map(lambda n: ["mode", n]),
    st.tuples(NAMES, st.one_of(PLAIN_STRINGS.map(lambda s_: [s_]), TYPES)).map(
        lambda t: ["on", t[0], *t[1]]),
    st.tuples(NAMES, NAMES).map(lambda t: ["policy", t[0], ":", t[1]]),
    st.tuples(STRINGS, NAMES).map(lambda t: ["import", "sop", t[0], "as", t[1]]),
    st.tuples(NAMES, SPECS, _opt(NAMES.map(lambda n: [n]), ["as"])).map(
        lambda t: ["use", "skill", t[0], t[1], *t[2]]),
    st.tuples(STRINGS, NAMES).map(lambda t: ["use", "flow", t[0], "as", t[1]]),
    st.tuples(NAMES, FIELDS).map(lambda t: ["record", t[0], "{", *t[1], "}"]),
    st.tuples(NAMES, _names_list()).map(lambda t: ["enum", t[0], "{", *t[1], "}"]),
    st.tuples(NAMES, st.lists(PARTS, max_size=4)).map(
        lambda t: ["deliverable", t[0], "{", *_flat(t[1]), "}"]),
    st.tuples(NAMES, TYPES, _opt(EXPRS, ["="])).map(lambda t: ["input", t[0], ":", *t[1], *t[2]]),
    st.tuples(NAMES, _opt(TYPES, [":"]), EXPRS).map(
        lambda t: ["output", t[0], *t[1], "=", *t[2]]),
    st.tuples(NAMES, _opt(TYPES, [":"]), NODE_EXPRS, st.lists(CLAUSES, max_size=3)).map(
        lambda t: ["node", t[0], *t[1], "=", *t[2], *_flat(t[3])]),
    st.tuples(EXPRS, st.lists(ARMS, min_size=1, max_size=3)).map(
        lambda t: ["match", *t[0], "{", *_flat(t[1]), "}"]),
)
HEADERS = st.tuples(NAMES, _opt(STRINGS.map(lambda s_: [s_]), ["version"]),
                    _opt(STRINGS.map(lambda s_: [s_]))).map(
    lambda t: ["flow", t[0], *t[1], *t[2]])
SEPARATORS = st.one_of(
    st.just(" "),
    st.sampled_from(["\n", "  ", "\n\n", "\n    ", "\t", " // note\n", "\n// own line\n",
                     "\n\n// block\n\n", "  //trailing  \n  ", "\n  // indented\n"]),
)


@st.composite
def flows(draw) -> str:
    tokens = draw(HEADERS) + _flat(draw(st.lists(ITEMS, max_size=6)))
    seps = draw(st.lists(SEPARATORS, min_size=len(tokens), max_size=len(tokens)))
    lead = draw(st.sampled_from(["", "// first\n", "\n\n"]))
    return lead + "".join(tok + sep for tok, sep in zip(tokens, seps))


def _parses(text: str) -> bool:
    return not _parse(text)[1].has_errors


_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_SETTINGS
@given(flows())
def test_generated_flows_format_to_a_fixed_point_with_the_same_meaning(text):
    assume(_parses(text))
    check(text)


@_SETTINGS
@given(flows(), st.data())
def test_damaged_flows_never_crash_the_formatter(text, data):
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    damaged = text[:at] + data.draw(st.sampled_from(["", "{", ")", '"', "//", "node"])) + (
        text[at + cut:])
    out = format_source(damaged)
    if out is not None:
        check(damaged)


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["flow", "t", "node", "n", "=", "llm", "{", "}", "(", ")", '"x"',
                              "//c\n", "\n", ":", ",", "a", "1", "-", "?", "<", ">", "`x`",
                              '"""', "[", "]", "->", "match", "input", "int"]),
             max_size=40).map(" ".join),
))
def test_arbitrary_text_never_crashes_the_formatter(text):
    out = format_source(text)
    assert out is None or isinstance(out, str)


# ---- `flowc fmt --diff` and `// fmt: off` (issue 15) ------------------------------------------

def _fmt(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "flowc", "fmt", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def test_fmt_diff_prints_the_change_and_writes_nothing(tmp_path):
    messy = 'flow x version "1.0.0"\ninput  a:int\noutput o:int=a\n'
    (tmp_path / "x.flow").write_text(messy)
    r = _fmt("--diff", "x.flow", cwd=tmp_path)
    assert r.returncode == 1
    assert "\n-input  a:int\n" in r.stdout and "\n+input a: int\n" in r.stdout
    assert r.stdout.startswith("--- x.flow")
    assert "would reformat x.flow" in r.stderr  # stdout is only the patch
    assert (tmp_path / "x.flow").read_text() == messy
    (tmp_path / "x.flow").write_text(format_source(messy))
    r = _fmt("--diff", "x.flow", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == ""


def test_fmt_off_leaves_a_file_alone_even_when_it_does_not_parse(tmp_path):
    broken = "// Broken on purpose.\n// fmt: off\nflow x version \"1.0.0\"\ninput  a:int\nnode {\n"
    (tmp_path / "b.flow").write_text(broken)
    r = _fmt("--check", "b.flow", cwd=tmp_path)
    assert r.returncode == 0 and "1 left as they are (`// fmt: off`)" in r.stdout, r.stderr
    assert format_source(broken) == broken
    # only among the leading comments
    late = 'flow x version "1.0.0"\n// fmt: off\ninput  a:int\n'
    assert format_source(late) != late
