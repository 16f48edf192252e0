"""Values interpolated into a command line never change its structure (issue 15, item 1).

A hole is quoted for where it stands: bare, inside double quotes, inside single quotes, or
inside `$(...)` (runtime/shellquote.py). The structure of a line is what the sandbox's shell
(runtime/sandbox/shell.py) reads: its pipeline stages, each stage's words and operators, and
the same for every `$(...)` inside (read, not run). For any value, the line with the value
must read exactly as the line with a plain placeholder, with the placeholder replaced by the
value. The same is checked against the host's bash for lines without pipes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from flowc_testkit import plan_of
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.compiler.api import compile_source
from flowc.runtime.sandbox import shell
from flowc.runtime.shellquote import (
    BARE,
    DOUBLE,
    ESCAPED,
    SINGLE,
    UnquotableHole,
    hole_contexts,
    quote_holes,
)

H = {"input": "hole"}  # a hole; which value it takes is given by its position

TEMPLATES = [
    ["echo ", H],
    ['echo "title: ', H, '"'],
    ["echo 'x ", H, " y'"],
    ["echo pre", H, 'post "', H, "\" '", H, "' | grep -F ", H],
    ['echo "$(echo ', H, ' "', H, '")" \'', H, "'"],
    ["summary --query \"$(report --input ", H, " --format md)\" --n 2"],
    ["cat < ", H, " > out/", H, ".txt 2>&1"],
    ['echo "a\\"', H, "\\\"b\" 'it'\\''s ", H, "'"],
    ["echo $(echo \"$(echo '", H, "' ", H, ')")'],
    ['echo --title="Week ', H, '" --x=', H, H],
    ["jq -c '.[", H, "]' | sort -t ", H, " -k 2"],
]

ADVERSARIAL = [
    "", "a b", "liability can't be unlimited", 'say "hi"', "it's \"both\"", "$HOME", "${x}",
    "`id`", "$(echo injected)", "\"$(id)\"", "'$(id)'", "\\", "\\\\", "a\\", "\\'", '\\"',
    "line one\nline two", "\n", "  spaced  ", "a | b; c && d & e", "> injected.txt", "< x",
    ")", "$(", "'", '"', "''", '""', "*", "~", "#comment", "\t", "{x}", "--flag=1",
    "x'y\"z`w$v\\u", "é😀", "2>&1",
]


def _values(template, values):
    holes = iter(values)
    return {k: next(holes) for k, p in enumerate(template) if not isinstance(p, str)}


def _render(template, values) -> str:
    by_index = _values(template, values)
    return quote_holes(template, lambda k, _p: by_index[k])


def structure(line: str):
    """How the sandbox's shell reads `line`: its stages' words (text, is_operator), and the
    structure of every `$(...)` inside it, in order. Substitutions are read, not run."""
    subs: list = []
    real = shell._substitute

    def read_only(inner, _env):
        subs.append(structure(inner))
        return f"SUB{len(subs) - 1}SUB"

    shell._substitute = read_only
    try:
        stages = [shell._words(part, None) for part in shell._split_pipeline(line)]
    finally:
        shell._substitute = real
    return stages, subs


def _replace(obj, mapping: dict[str, str]):
    if isinstance(obj, str):
        for marker, value in mapping.items():
            obj = obj.replace(marker, value)
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_replace(x, mapping) for x in obj)
    return obj


def assert_structure_kept(template, values):
    markers = [f"Zq{k}HOLEZq" for k in range(len(values))]
    expected = _replace(structure(_render(template, markers)), dict(zip(markers, values)))
    assert structure(_render(template, values)) == expected


def _holes(template) -> int:
    return sum(not isinstance(p, str) for p in template)


def test_each_hole_knows_where_it_stands():
    assert hole_contexts(["echo ", H]) == [BARE]
    assert hole_contexts(['echo "title: ', H, '"']) == [DOUBLE]
    assert hole_contexts(["echo 'x ", H, "'"]) == [SINGLE]
    assert hole_contexts(['echo "$(cat ', H, ')" "', H, '"']) == [BARE, DOUBLE]
    assert hole_contexts(["echo '$(", H, "' \"it's ", H, '"']) == [SINGLE, DOUBLE]
    assert hole_contexts(['echo \\"', H, ' "\\"', H, '"']) == [BARE, DOUBLE]
    assert hole_contexts(["echo \\", H]) == [ESCAPED]
    assert hole_contexts(["echo '\\", H, "'"]) == [SINGLE]  # a backslash in '...' is text


@pytest.mark.parametrize("value", ADVERSARIAL)
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: "".join(
    p if isinstance(p, str) else "{}" for p in t))
def test_adversarial_values_keep_the_structure(template, value):
    assert_structure_kept(template, [value] * _holes(template))


def test_the_issues_reviewer_reason_reads_back_whole():
    line = _render(['echo "title: ', H, '"'], ["liability can't be unlimited"])
    assert structure(line) == ([[("echo", False), ("title: liability can't be unlimited",
                                                    False)]], [])
    line = _render(['echo "title: ', H, '"'], ["a b"])
    assert structure(line)[0][0][1] == ("title: a b", False)  # no literal quotes


_text = st.text(alphabet=st.one_of(st.sampled_from(list("'\"\\$`(){}|;&<> \n\t*~#=")),
                                   st.characters(blacklist_categories=("Cs",))), max_size=30)


@settings(max_examples=400, deadline=None)
@given(template=st.sampled_from(TEMPLATES), data=st.data())
def test_random_values_never_change_the_parsed_structure(template, data):
    values = data.draw(st.lists(_text, min_size=_holes(template),
                                max_size=_holes(template)))
    assert_structure_kept(template, values)


# ---- the same lines read by bash --------------------------------------------------------------

BASH_TEMPLATES = [
    ["printf '%s\\0' ", H, " x", H, 'y "', H, "\" 'q", H, "q'"],
    ["printf '%s\\0' \"$(printf '%s' ", H, ")\" '", H, "'\\''", H, "'"],
    ["printf '%s\\0' --title=\"Week ", H, '" "a\\"', H, '\\"b"'],
]


def _bash_words(line: str) -> list[str]:
    """The words bash passes to `printf`, in an empty folder of its own (should quoting ever
    break, a value's `>` or `$(...)` acts there; the values above are harmless on purpose)."""
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run(["bash", "-c", line], capture_output=True, check=True, cwd=folder,
                             env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
        assert not os.listdir(folder), "a value acted as syntax: it created a file"
    return out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]


def _sandbox_words(line: str) -> list[str]:
    stages, subs = structure(line)
    assert len(stages) == 1 and all(not op for _w, op in stages[0])
    words = [w for w, _op in stages[0]][2:]  # after `printf '%s\0'`
    for k, (sub_stages, _) in enumerate(subs):  # `printf '%s' VALUE` prints VALUE
        printed = "".join(w for w, _op in sub_stages[0][2:]).rstrip("\n")
        words = [w.replace(f"SUB{k}SUB", printed) for w in words]
    return words


def _check_against_bash(template, values):
    line = _render(template, values)
    assert _bash_words(line) == _sandbox_words(line)
    markers = [f"Zq{k}HOLEZq" for k in range(len(values))]
    expected = _replace(_sandbox_words(_render(template, markers)), dict(zip(markers, values)))
    if "$(" in template[0]:  # a substitution's output loses its trailing newlines
        expected[0] = expected[0].rstrip("\n")
    assert _bash_words(line) == expected


@pytest.mark.parametrize("template", BASH_TEMPLATES, ids=range(len(BASH_TEMPLATES)))
def test_bash_reads_the_adversarial_values_the_same(template):
    for value in ADVERSARIAL:
        _check_against_bash(template, [value] * _holes(template))


@settings(max_examples=40, deadline=None)
@given(template=st.sampled_from(BASH_TEMPLATES), data=st.data())
def test_bash_reads_random_values_the_same(template, data):
    text = st.text(alphabet=st.one_of(st.sampled_from(list("'\"\\$`(){}|;&<> \n\t*~#=")),
                                      st.characters(blacklist_categories=("Cs",),
                                                    blacklist_characters="\0")), max_size=20)
    values = data.draw(st.lists(text, min_size=_holes(template), max_size=_holes(template)))
    _check_against_bash(template, values)


# ---- the checker and the runtime ----------------------------------------------------------------

def test_a_hole_after_a_backslash_is_refused_by_the_checker():
    text = ('flow q version "1.0.0"\ninput s: str\n'
            "node a = command `echo \\\\{s}`\noutput o: str = a.stdout\n")
    diags = compile_source(text, "q.flow").diagnostics.items
    (d,) = [d for d in diags if d.code == "F0209"]
    assert "backslash before a hole" in d.message and "remove the backslash" in d.help
    pos = d.source.position(d.span.start)
    assert (pos.line, pos.column) == (3, 24)
    text = text.replace("`echo \\\\{s}`", "`echo '\\\\{s}' \"{s}\" {s}`")
    assert not compile_source(text, "q.flow").diagnostics.items  # in '...' it is text


def test_the_runtime_refuses_a_hole_after_a_backslash():
    with pytest.raises(UnquotableHole):
        quote_holes(["echo \\", H], lambda k, p: "x")


QUOTED = '''flow q version "1.0.0"
input s: str
node dq = command `echo "title: {s}"`
node sq = command `echo 'title: {s}'`
node bare = command `echo title: {s}`
node sub = command `echo "$(echo "{s}" | wc -l) line(s)"`
output dq_out: str = dq.stdout
output sq_out: str = sq.stdout
output bare_out: str = bare.stdout
output sub_out: str = sub.stdout
'''


@pytest.fixture
def engine(store, pool):
    from flowc.runtime.engine import Engine

    return Engine(store, sandbox=pool)


@pytest.mark.parametrize("value", ["liability can't be unlimited", 'a "b" $(id) `id` \\ $x'])
def test_a_reviewers_text_reaches_the_command_as_written(engine, value):
    run = engine.start(plan_of(QUOTED), {"s": value})
    assert run.status == "succeeded", run.error
    assert run.outputs["dq_out"] == f"title: {value}\n"
    assert run.outputs["sq_out"] == f"title: {value}\n"
    assert run.outputs["bare_out"] == f"title: {value}\n"
    assert run.outputs["sub_out"] == "1 line(s)\n"


LEGAL = '''flow legal version "1.0.0"
input party: str
node review = await human(
  to: role("legal"),
  title: "Contract with {party}",
  message: "Check the liability clause.",
  edit: { risk_score: int = 3 },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
node summary = command `echo "{party}: risk {review.risk_score}, '{review.outcome}' -- {review.reason}"`
match review {
  edited -> summary
  approved | rejected -> stop
}
output line: str? = summary.stdout
'''


def test_a_reviewers_reason_with_an_apostrophe_reaches_the_summary_command(engine, store):
    run = engine.start(plan_of(LEGAL), {"party": 'ACME "Holdings" $(id)'})
    (task,) = store.list_tasks(run_id=run.id)
    run = engine.decide(task.id, action="edit", by="ana", roles=("legal",),
                        values={"risk_score": 7}, reason="liability can't be unlimited")
    assert run.status == "succeeded", run.error
    assert run.outputs["line"] == ('ACME "Holdings" $(id): risk 7, \'edited\' -- '
                                   "liability can't be unlimited\n")
