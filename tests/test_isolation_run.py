"""`isolation "run"`: one interpreter for a run's code, command and skill nodes that ask for it
(issue 12, item 8). Variables persist across those nodes of one run, never across runs, never
into a strict node; the session is closed when the run pauses or ends, or the engine closes.
Real SQLite store, real sandbox."""

from __future__ import annotations

import pytest
from flowc_testkit import ROOT, plan_of

from flowc.runtime.engine import Engine

SHARED = '''flow s version "1.0.0"
input seed: int
node a: int = code python(seed: seed) """
shared = seed + 40
result = 1
"""
  isolation "run"
node b: int = code python(a: a) """
result = shared + a
"""
  isolation "run"
node strict: bool = code python(a: a) """
result = "shared" in globals()
"""
node main_wins: int = code python(b: b) """
def main(b):
    return b * 10
"""
  isolation "run"
node shell = command `echo {b}`
  isolation "run"
output b_saw: int = b
output strict_saw: bool = strict
output main_result: int = main_wins
output echoed: str = shell.stdout
'''

FRESH = '''flow f version "1.0.0"
node look: bool = code python() """
result = "shared" in globals()
"""
  isolation "run"
output saw: bool = look
'''


@pytest.fixture
def engine(store, pool, tmp_path):
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT)) as e:
        yield e


def test_variables_persist_across_the_run_nodes_of_one_run_only(engine):
    run = engine.start(plan_of(SHARED), {"seed": 1})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"b_saw": 42, "strict_saw": False, "main_result": 420,
                           "echoed": "42\n"}
    assert engine._sessions == {}  # closed when the run ended
    again = engine.start(plan_of(FRESH), {})  # another run: a new interpreter
    assert again.status == "succeeded" and again.outputs == {"saw": False}
    second = engine.start(plan_of(SHARED), {"seed": 100})
    assert second.outputs["b_saw"] == 141


def test_two_runs_side_by_side_never_share(engine):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as ex:
        runs = list(ex.map(lambda s: engine.start(plan_of(SHARED), {"seed": s}), (1, 1000)))
    assert [r.outputs["b_saw"] for r in runs] == [42, 1041]


PAUSE = '''flow p version "1.0.0"
node a: int = code python() """
kept = 5
result = 1
"""
  isolation "run"
node review = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
  after a
node b: bool = code python(a: a) """
result = "kept" in globals()
"""
  isolation "run"
  after review
output saw: bool = b
'''


def test_the_session_is_closed_when_the_run_pauses(engine, store):
    run = engine.start(plan_of(PAUSE), {})
    assert run.status == "paused" and engine._sessions == {}
    (task,) = store.list_tasks(run_id=run.id)
    run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "succeeded" and run.outputs == {"saw": False}


def test_a_failing_run_node_ends_the_session_and_the_run(engine):
    text = SHARED.replace("result = shared + a", "raise ValueError('no')")
    run = engine.start(plan_of(text), {"seed": 1})
    assert run.status == "failed" and "ValueError" in run.error
    assert engine._sessions == {}


def test_engine_close_closes_open_sessions(store, pool, tmp_path):
    engine = Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"))
    session = engine._session("some-run", 256)
    assert engine._sessions == {"some-run": session}
    engine.close()
    assert engine._sessions == {} and session.proc is None


FILES = '''flow w version "1.0.0"
deliverable One {
  files { out: file }
}
node a: One = code python() """
open("out.txt", "w").write("from a")
result = {}
"""
  isolation "run"
node b: One = code python(t: a.out) """
open("mine.txt", "w").write("from b")
open("out", "w").write(open(t["path"]).read() + " via b")
result = {}
"""
  isolation "run"
node c: str = code python(t: b.out) """
result = open(t["path"]).read()
"""
output text: str = c
'''


def test_a_run_nodes_files_are_only_those_it_wrote(engine, store):
    run = engine.start(plan_of(FILES), {})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "from a via b"}
    made = sorted((f.node_id, f.name) for f in store.run_files(run.id))
    assert made == [("a", "out.txt"), ("b", "mine.txt"), ("b", "out")]
