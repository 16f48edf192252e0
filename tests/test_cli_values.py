"""Values typed on the command line (issue 15, items 3 and 6).

`--input`, `--edit` and `--answer` read a value by its declared type; one that does not fit
is one line naming the option, the input or field, the expected type and an example, with
exit 2 (nothing attempted), never Python's own words. A refusal by the state of things (a
decision not yours to make, already made) is exit 1. `@PATH` takes a value from a file: the
text of a `str`, the JSON of a record. `run --help` documents all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

FLOW = '''flow legal version "1.0.0"
record Order { id: str, amount: float }
input contract: str
input order: Order
input risk: int
input note: str? = null
node review = await human(
  to: role("legal"),
  edit: { risk_score: int = risk, status: enum { ok, hold } = ok },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
node copies: int = ask human(to: role("legal"), question: "How many copies?",
                             timeout: 1h -> fail)
  after review.approved
output contract_text: str = contract
output amount: float = order.amount
output score: int = review.risk_score
'''


@pytest.fixture
def cli(tmp_path):
    (tmp_path / "legal.flow").write_text(FLOW)
    (tmp_path / "contract.txt").write_text("Liability can't be unlimited.\nSigned: ACME\n")
    (tmp_path / "order.json").write_text('{"id": "A-17", "amount": 80.5}')

    def run(*args):
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("FLOWC_DEBUG", None)
        return subprocess.run([sys.executable, "-m", "flowc", *args, "--store", "runs.db"],
                              capture_output=True, text=True, cwd=tmp_path, env=env)
    return run


def _one_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


GOOD = ["--input", "contract=@contract.txt", "--input", "order=@order.json", "--input", "risk=3"]


def test_at_path_reads_a_text_and_a_record(cli):
    r = cli("run", "legal.flow", *GOOD)
    assert r.returncode == 0 and "paused" in r.stdout, r.stderr
    (row,) = json.loads(cli("runs", "--json").stdout)
    r = cli("audit", row["id"], "--format", "json")
    started = json.loads(r.stdout)[0]["payload"]
    assert started["inputs"]["contract"] == "Liability can't be unlimited.\nSigned: ACME\n"
    assert started["inputs"]["order"] == {"id": "A-17", "amount": 80.5}


def test_double_at_is_a_text_that_starts_with_at(cli):
    r = cli("run", "legal.flow", "--input", "contract=@@legal-team", "--input",
            "order=@order.json", "--input", "risk=3")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(cli("runs", "--json").stdout)
    started = json.loads(cli("audit", row["id"], "--format", "json").stdout)[0]["payload"]
    assert started["inputs"]["contract"] == "@legal-team"


@pytest.mark.parametrize(("args", "expected"), [
    (["--input", "contract=x", "--input", "order=@order.json", "--input", "risk=abc"],
     "--input: input `risk` is a whole number, not `abc` (for example: --input risk=42)"),
    (["--input", "contract=x", "--input", "order={id: 1}", "--input", "risk=1"],
     "--input: input `order` is a record written as JSON, and `{id: 1}` is not JSON"),
    (["--input", "contract=x", "--input", 'order={"id": "A"}', "--input", "risk=1"],
     "--input: `order.amount` is missing (for example: --input order="),
    (["--input", "contract=@missing.txt", "--input", "order=@order.json", "--input", "risk=1"],
     "input `contract` takes the value from `missing.txt`, which cannot be read"),
    (["--input", "contract=x", "--input", "order=@order.json", "--input", "risk=nan"],
     "input `risk` is a whole number, not `nan`"),
    (["--input", "contract=x"], "missing --input order='{\"id\": \"text\", \"amount\": 12.5}', "
     "--input risk=42"),
    (["--input", "contract=x", "--input", "risc=1"],
     "the flow has no input `risc` (did you mean `risk`? its inputs:"),
])
def test_a_bad_input_names_what_where_and_how(cli, args, expected):
    r = cli("run", "legal.flow", *args)
    assert r.returncode == 2
    line = _one_line(r)
    assert expected in line, line
    assert "invalid literal" not in line and "Expecting value" not in line
    assert not json.loads(cli("runs", "--json").stdout)  # nothing was started


def test_edit_and_answer_errors_and_refusals_have_consistent_codes(cli):
    out = cli("run", "legal.flow", *GOOD).stdout
    task = out.split("waiting for task ")[1].split()[0]
    for args, code, expected in [
        (["--edit", "risk_score=abc"], 2,
         "--edit: field `risk_score` is a whole number, not `abc` "
         "(for example: --edit risk_score=42)"),
        (["--edit", "status=maybe"], 2,
         "--edit: field `status` is one of ok, hold, not `maybe` (for example: --edit status=ok)"),
        (["--edit", "risk_scor=1"], 2, "no field `risk_scor` (did you mean `risk_score`?"),
        (["--approve"], 1, "may not decide"),
    ]:
        r = cli("resume", task, *args, "--as", "eve")
        assert r.returncode == code and expected in _one_line(r), (args, r.stderr)
    assert cli("people", "ana", "legal").returncode == 0
    r = cli("resume", task, "--approve", "--as", "ana")
    assert r.returncode == 0, r.stderr
    ask = r.stdout.split("waiting for task ")[1].split()[0]
    r = cli("resume", ask, "--answer", "many", "--as", "ana")
    assert r.returncode == 2
    assert "--answer: the answer is a whole number, not `many` (for example: --answer 42)" in \
        _one_line(r)
    r = cli("resume", task, "--reject", "--as", "ana")
    assert r.returncode == 1 and "already decided" in _one_line(r)


def test_run_help_documents_values_and_exit_codes(cli):
    r = cli("run", "--help")
    assert r.returncode == 0
    for text in ("--input NAME=VALUE", "@PATH", "JSON", "null", "@@", "exit codes"):
        assert text in r.stdout
    assert "@PATH" in cli("resume", "--help").stdout
