"""A gate's `message:` and `show:` reach the person (issue 15, item 2): the engine renders
the message when the gate opens, and `flowc run`, `flowc inbox` (text and JSON) and
`flowc show` print it; each shown value is labelled by the expression that produced it."""

from __future__ import annotations

import json
import subprocess
import sys

FLOW = '''flow contract version "1.0.0"
input party: str
input limit: int
input notes: str
node review = await human(
  to: role("legal"),
  title: "Contract with {party}",
  message: """
    The liability cap is {limit} EUR.
    Check clause 7 before approving.
  """,
  show: [limit * 2, notes],
  actions: [approve, reject],
  timeout: 48h -> reject,
)
output decision: str = review.outcome
'''


def _flowc(tmp_path, *args):
    r = subprocess.run([sys.executable, "-m", "flowc", *args, "--store",
                        str(tmp_path / "runs.db")], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_message_and_labelled_values_are_shown(tmp_path):
    flow = tmp_path / "contract.flow"
    flow.write_text(FLOW)
    out = _flowc(tmp_path, "run", str(flow), "--input", "party=ACME", "--input", "limit=500",
                 "--input", "notes=see the annex")
    assert "Contract with ACME" in out
    assert "  | The liability cap is 500 EUR.\n  | Check clause 7 before approving.\n" in out
    task = out.split("waiting for task ")[1].split()[0]
    inbox = _flowc(tmp_path, "inbox")
    assert "Contract with ACME" in inbox
    assert "The liability cap is 500 EUR. Check clause 7 before approving." in inbox
    (row,) = json.loads(_flowc(tmp_path, "inbox", "--json"))
    assert row["message"] == "The liability cap is 500 EUR.\nCheck clause 7 before approving.\n"
    shown = _flowc(tmp_path, "show", task)
    assert "  | The liability cap is 500 EUR.\n" in shown
    assert "  limit * 2: 1000\n" in shown and '  notes: "see the annex"\n' in shown
    assert "shown[" not in shown
