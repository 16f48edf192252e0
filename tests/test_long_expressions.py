"""Long and deep expressions never reach Python's recursion limit (issue 15, item 5).

A chain of one operator strength (`a + b - c ...`, `x and y and ...`, `a ?? b ?? ...`) is
one flat node and one flat IR `fold`, however long: it checks, compiles, loads back from
JSON, formats and evaluates. Real nesting (brackets, calls, unary operators, types) deeper
than MAX_NESTING is F0006 at its file, line and column, with no follow-on errors; every
stage after the parser relies on that bound.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.compiler.api import compile_source
from flowc.compiler.diagnostics import Diagnostics
from flowc.compiler.formatter import format_source
from flowc.compiler.parser import MAX_NESTING, parse
from flowc.compiler.plan import Plan
from flowc.compiler.source import Source
from flowc.runtime.expressions import Scope, evaluate

HEAD = 'flow e version "1.0.0"\ninput x: int\ninput maybe: int?\n'


def _outputs(plan: Plan, **inputs) -> dict:
    scope = Scope(inputs, {})
    return {o.name: evaluate(o.value, scope) for o in plan.outputs}


def _compile(text: str) -> Plan:
    result = compile_source(text, "e.flow")
    assert result.plan is not None, [(d.code, d.message) for d in result.diagnostics.items]
    return result.plan


LONG = HEAD + (
    "output total: int = " + " + ".join(f"x * {i} - {i}" for i in range(400)) + "\n"
    "output flat: int = " + " + ".join(["x"] * 5000) + "\n"
    "output product: int = " + " * ".join(["1"] * 300) + " * x\n"
    "output both: bool = " + " and ".join(["x > 0 or x < 0"] * 300) + "\n"
    "output first: int = " + " ?? ".join(["maybe"] * 300) + " ?? x\n"
    "output text: str = " + " + ".join(['"a"'] * 400) + "\n"
)


def test_long_chains_check_compile_load_and_evaluate():
    plan = _compile(LONG)
    loaded = Plan.model_validate_json(plan.to_json())  # the plan's JSON is not deep either
    assert loaded.hash == plan.hash
    out = _outputs(loaded, x=3, maybe=None)
    assert out["total"] == sum(3 * i - i for i in range(400))
    assert out["flat"] == 15000
    assert out["product"] == 3
    assert out["both"] is True
    assert out["first"] == 3
    assert out["text"] == "a" * 400
    assert _outputs(loaded, x=3, maybe=7)["first"] == 7


def test_the_issues_flat_sum_of_400_terms_checks_clean_from_the_cli(tmp_path):
    flow = tmp_path / "sum.flow"
    flow.write_text(HEAD + "output o: int = " + " + ".join(["x"] * 400) + "\n")
    r = subprocess.run([sys.executable, "-m", "flowc", "check", str(flow)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_type_error_in_a_chain_points_at_the_chain_so_far():
    text = HEAD + 'output o: int = x + 1 + "a" + 2\n'
    (d,) = compile_source(text, "e.flow").diagnostics.items
    assert d.code == "F0206" and "`+` does not apply to `int` and `str`" in d.message
    assert text[d.span.start:d.span.end] == 'x + 1 + "a"'


def test_the_formatter_prints_long_chains_and_keeps_their_meaning():
    out = format_source(LONG, "e.flow")
    assert out is not None
    assert format_source(out, "e.flow") == out
    assert parse(Source(out, "e.flow"), Diagnostics()).file == \
        parse(Source(LONG, "e.flow"), Diagnostics()).file
    # parentheses that change the reading are kept; those that do not are dropped
    text = HEAD + "output o: int = (x - 1) - 2 - (3 - x) * 2 - -(x + 1)\n"
    assert "output o: int = x - 1 - 2 - (3 - x) * 2 - -(x + 1)\n" in format_source(text)


DEEP = {
    "unary minus": ("output o: int = ", "-" * 1000 + "x", ""),
    "not": ("output o: bool = ", "not " * 1000 + "true", ""),
    "brackets": ("output o: list<int> = ", "[" * 1000 + "x" + "]" * 1000, ""),
    "calls": ('output o: str = ', "lower(" * 1000 + '"A"' + ")" * 1000, ""),
    "indexes": ("output o: int? = ", "[x][" * 500 + "0" + "]" * 500, ""),
    "right-nested sum": ("output o: int = ", "x + (" * 500 + "x" + ")" * 500, ""),
    "mixed strengths": ("output o: int = ", "x * (x + " * 500 + "x" + ")" * 500, ""),
    "a template hole": ('output o: str = "value: {', "-" * 1000 + "x", '}"'),
    "a list type": ("input deep: ", "list<" * 1000 + "int" + ">" * 1000, "\noutput o = x"),
    "an optional type": ("input deep: ", "int" + "?" * 1000, "\noutput o = x"),
}


@pytest.mark.parametrize("case", DEEP, ids=list(DEEP))
def test_deep_nesting_is_one_f0006_at_its_line_and_column(case):
    before, deep, after = DEEP[case]
    text = HEAD + before + deep + after + "\n"
    diags = compile_source(text, "e.flow").diagnostics.items
    assert [d.code for d in diags] == ["F0006"], [(d.code, d.message) for d in diags]
    (d,) = diags
    pos = d.source.position(d.span.start)
    assert pos.line == 4
    assert len(HEAD + before) - len(HEAD) < pos.column <= len(HEAD + before + deep) - len(HEAD)
    assert f"more than {MAX_NESTING} levels deep" in d.message and d.help


def test_deep_nesting_from_the_cli_is_exit_1_with_a_located_json_diagnostic(tmp_path):
    flow = tmp_path / "deep.flow"
    flow.write_text(HEAD + "output o: int = " + "-" * 1000 + "x\n")
    r = subprocess.run([sys.executable, "-m", "flowc", "check", "--format", "json", str(flow)],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    (d,) = json.loads(r.stdout)
    assert (d["code"], d["line"]) == ("F0006", 4) and d["column"] > 16 and d["path"]
    r = subprocess.run([sys.executable, "-m", "flowc", "fmt", str(flow)], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "not formatted" in r.stderr and "Traceback" not in r.stderr


def test_nesting_up_to_the_bound_is_accepted_end_to_end():
    depth = MAX_NESTING - 1  # the list literals, and the output's `-`
    text = HEAD + (f"output o: {'list<' * depth}int{'>' * depth} = "
                   + "[" * depth + "-x" + "]" * depth + "\n"
                   + "output n: int = " + "-" * MAX_NESTING + "x\n")
    plan = Plan.model_validate_json(_compile(text).to_json())
    out = _outputs(plan, x=3, maybe=None)
    value = out["o"]
    for _ in range(depth):
        (value,) = value
    assert value == -3 and out["n"] == 3
    assert format_source(text, "e.flow") is not None


# random arithmetic: flowc reads it as Python does (left to right within a strength)

def _arith(depth: int):
    leaf = st.integers(-5, 20).map(lambda n: f"({n})" if n < 0 else str(n)) | st.just("x")
    if depth == 0:
        return leaf

    def join(parts):
        terms, ops = parts
        out = terms[0]
        for op, term in zip(ops, terms[1:]):
            out += f" {op} {term}"
        return out

    sub = _arith(depth - 1)
    chain = st.integers(2, 6).flatmap(lambda n: st.tuples(
        st.lists(sub, min_size=n, max_size=n),
        st.lists(st.sampled_from(["+", "-", "*"]), min_size=n - 1, max_size=n - 1))).map(join)
    return leaf | sub.map(lambda e: f"({e})") | sub.map(lambda e: f"-({e})") | chain


@settings(max_examples=150, deadline=None)
@given(expr=_arith(3), x=st.integers(-50, 50))
def test_random_arithmetic_evaluates_as_python_does(expr, x):
    plan = _compile(HEAD + f"output o: int = {expr}\n")
    assert _outputs(plan, x=x, maybe=None)["o"] == eval(expr, {"x": x})
    formatted = format_source(HEAD + f"output o: int = {expr}\n", "e.flow")
    assert _outputs(_compile(formatted), x=x, maybe=None)["o"] == eval(expr, {"x": x})
