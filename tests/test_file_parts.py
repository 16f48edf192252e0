"""Which file fills a deliverable's `files {}` part (issue 15, item 8, documented in
docs/language.md): the file the node wrote whose name, without its folder and extension, is
the part's name."""

from __future__ import annotations

from flowc_testkit import plan_of

from flowc.runtime.engine import Engine

FLOW = '''flow parts version "1.0.0"
deliverable Pack {
  files { q3: file<pdf>, data: file<csv>, notes: file }
  fields { n: int }
}
node make: Pack = code python() """
import os
os.makedirs("reports", exist_ok=True)
open("reports/q3.pdf", "wb").write(b"%PDF-1.4 q3")
open("data.csv", "w").write("a,b\\n1,2\\n")
open("notes", "w").write("plain")
open("other.txt", "w").write("not a part")
result = {"n": 1}
"""
output q3_name: str = make.q3.name
output data_name: str = make.data.name
output notes_name: str = make.notes.name
'''


def test_a_file_part_is_the_written_file_of_that_stem(store, pool, tmp_path):
    engine = Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"))
    run = engine.start(plan_of(FLOW), {})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"q3_name": "reports/q3.pdf", "data_name": "data.csv",
                           "notes_name": "notes"}
