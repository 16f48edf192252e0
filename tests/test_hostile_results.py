"""Results are hostile input in the engine (issue 12, item 4).

A result nested 2,000 deep, a name that does not encode, output files `a` and `a/b`, `for each`
items writing the same file name, numbers JSON cannot hold, a sandbox that raises: each becomes
a clear error for that node (the run fails, or retries per its policy), never an internal error;
`flowc run` never leaves a run "running"; `flowc worker` survives any run's failure.

Some cases use the real sandbox; others a sandbox that answers what a compromised or buggy one
could (the engine must hold whatever the sandbox's own checks let through).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from flowc_testkit import ROOT, plan_of

from flowc.runtime.engine import Engine
from flowc.runtime.sandbox.files import write_outputs
from flowc.runtime.sandbox.pool import ExecutionResult
from flowc.runtime.store import SQLiteStore


def _deep(n: int, leaf=1):
    for _ in range(n):
        leaf = [leaf]
    return leaf


# ---- write_outputs -----------------------------------------------------------------------

def test_write_outputs_refuses_what_cannot_be_kept_and_keeps_the_rest(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    (dest / "there").write_text("an earlier file")
    files = [
        ("ok.txt", b"fine"),
        ("lone\udcff.txt", b"x"),           # a lone surrogate: no UTF-8 name exists
        ("a", b"file a"), ("a/b", b"a is a file, not a folder"),
        ("c/d", b"c is a folder"), ("c", b"so c cannot be a file"),
        ("dup.txt", b"1"), ("dup.txt", b"2"),
        ("link/escape.txt", b"through a link out of the destination"),
        ("there/x", b"under an earlier file"),
        ("../up.txt", b"x"), ("/abs.txt", b"x"), ("", b"x"), ("nul\x00.txt", b"x"),
        ("\u00e9" * 200, b"a name of 400 bytes"),
        ("sub/ok2.txt", b"fine too"),
    ]
    written, refused = write_outputs(files, str(dest))
    assert sorted(f.name for f in written) == ["a", "c/d", "dup.txt", "ok.txt", "sub/ok2.txt"]
    assert (dest / "ok.txt").read_bytes() == b"fine" and (dest / "dup.txt").read_bytes() == b"1"
    assert list(outside.iterdir()) == []
    text = "\n".join(refused)
    assert len(refused) == len(files) - 5, refused
    for needle in ("does not encode", "`a` is a file", "`c` is a folder", "twice",
                   "link", "leaves the working directory", "absolute"):
        assert needle in text, (needle, refused)
    json.dumps(refused, ensure_ascii=False).encode("utf-8")  # the messages themselves encode


# ---- a sandbox that answers hostile results -----------------------------------------------

class Forging:
    """A sandbox that answers `reply(call)` (a result, or raises); output files go through
    write_outputs as the pool's do."""

    def __init__(self, reply):
        self.reply = reply
        self.calls = 0

    def run(self, code, *, output_dir=None, **kw):
        self.calls += 1
        r = self.reply(self.calls)
        files, refused = [], []
        if isinstance(r, tuple):  # (value, [(name, bytes), ...])
            value, raw = r
            if output_dir:
                files, refused = write_outputs(raw, output_dir)
            r = ExecutionResult(True, value, files=files, refused_files=refused)
        return r

    def session(self, memory_mb=None):
        return self

    def close(self):
        pass


CODE = '''flow h version "1.0.0"
node a: json = code python() """
result = 1
"""
  retry 1
output o: json = a
'''


def _run_forged(store, tmp_path, reply, text=CODE):
    sandbox = Forging(reply)
    with Engine(store, sandbox=sandbox, workspace=str(tmp_path / "ws")) as engine:
        run = engine.start(plan_of(text), {})
    assert run.status == "failed", run
    (node,) = [r for r in store.node_results(run.id) if r.node_id == "a"]
    assert node.status == "failed"
    assert store.get_run(run.id).status == "failed"
    return node.error, run, sandbox


@pytest.mark.parametrize("value, words", [
    (_deep(2000), "nested more than"),
    ({"k": _deep(500)}, "nested more than"),
    ("lone \udcff surrogate", "does not encode"),
    ({"key \ud800": 1}, "does not encode"),
    ([1.0, math.nan], "not a finite number"),
    ({"x": math.inf}, "not a finite number"),
    (10 ** 5000, "too large"),
    ({1, 2}, "not a JSON value"),
], ids=["deep-list", "deep-dict", "surrogate", "surrogate-key", "nan", "inf", "huge-int",
        "set"])
def test_a_hostile_value_fails_its_node_with_a_clear_message(store, tmp_path, value, words):
    error, run, sandbox = _run_forged(store, tmp_path, lambda n: ExecutionResult(True, value))
    assert words in error, error
    assert sandbox.calls == 2  # `retry 1`: tried again, as the node's policy says
    assert "node `a` failed" in run.error


def test_hostile_names_of_output_files_fail_the_node(store, tmp_path):
    error, *_ = _run_forged(store, tmp_path, lambda n: ({}, [("bad\udcff.txt", b"x")]))
    assert "could not be kept" in error and "does not encode" in error
    error, *_ = _run_forged(store, tmp_path, lambda n: ({}, [("a", b"1"), ("a/b", b"2")]))
    assert "could not be kept" in error and "`a` is a file" in error


def test_an_error_message_that_does_not_encode_is_stored_readably(store, tmp_path):
    error, *_ = _run_forged(store, tmp_path, lambda n: ExecutionResult(
        False, error_kind="exception", error="bad \udcff name " + "x" * 100_000))
    assert "bad \\udcff name" in error and len(error) < 20_000


def test_a_sandbox_that_raises_fails_the_node_and_its_retries_apply(store, tmp_path):
    def reply(n):
        if n == 1:
            raise RuntimeError("the sandbox broke \udcff")
        return ExecutionResult(True, 7)

    sandbox = Forging(reply)
    with Engine(store, sandbox=sandbox, workspace=str(tmp_path / "ws")) as engine:
        run = engine.start(plan_of(CODE), {})
    assert run.status == "succeeded" and run.outputs == {"o": 7} and sandbox.calls == 2
    error, *_ = _run_forged(store, tmp_path, lambda n: (_ for _ in ()).throw(
        RecursionError("maximum recursion depth exceeded")))
    assert "RecursionError" in error


# ---- the real sandbox ---------------------------------------------------------------------

@pytest.fixture
def engine(store, pool, tmp_path):
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT)) as e:
        yield e


def test_a_deep_result_from_real_code_and_a_deep_json_stdout_fail_their_nodes(engine, store):
    text = '''flow d version "1.0.0"
node a: json = code python() """
x = 1
for _ in range(2000):
    x = [x]
result = x
"""
node b: json = command `echo {deep}`
input deep: str
output o: json = a
output p: json = b
'''
    run = engine.start(plan_of(text), {"deep": "[" * 3000 + "]" * 3000})
    assert run.status == "failed"
    results = {r.node_id: r for r in store.node_results(run.id)}
    assert results["a"].status == "failed" and "nested" in results["a"].error
    assert results["b"].status == "failed" and "nested" in results["b"].error, results["b"].error


EACH = '''flow e version "1.0.0"
deliverable Out {
  files { out: file }
  fields { n: int }
}
node a: list<Out> = for each i in [1, 2, 3] concurrency 3 {
  code python(i: i) """
import os
open("out.txt", "w").write(f"item {i}")
if i == 1:
    open("x", "w").write("a file named x")
else:
    os.makedirs("x", exist_ok=True)
    open("x/y", "w").write("x is a folder here")
result = {"n": i}
"""
}
node read: list<str> = for each o in a {
  code python(t: o.out) """
result = open(t["path"]).read()
"""
}
output texts: list<str> = read
'''


def test_for_each_items_write_their_files_into_their_own_folders(engine, store, tmp_path):
    run = engine.start(plan_of(EACH), {})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"texts": ["item 1", "item 2", "item 3"]}
    ws = tmp_path / "ws" / run.id / "a"
    assert [(ws / str(i) / "out.txt").read_text() for i in range(3)] == \
        ["item 1", "item 2", "item 3"]
    assert (ws / "0" / "x").is_file() and (ws / "1" / "x" / "y").is_file()
    made = sorted((f.item, f.name) for f in store.run_files(run.id) if f.node_id == "a")
    assert made == [(0, "out.txt"), (0, "x"), (1, "out.txt"), (1, "x/y"), (2, "out.txt"),
                    (2, "x/y")]


# ---- flowc run and flowc worker -----------------------------------------------------------

def _flowc(*args, cwd):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_STORE", None)
    env.pop("FLOWC_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_flowc_run_fails_the_run_it_cannot_finish_and_never_leaves_it_running(
        tmp_path, monkeypatch, capsys):
    flow = tmp_path / "f.flow"
    flow.write_text('flow f version "1.0.0"\ninput x: int\noutput y: int = x\n')
    from flowc import cli
    from flowc.runtime import engine as engine_mod

    def boom(self, *a, **k):
        raise RuntimeError("an unexpected bug")

    monkeypatch.setattr(engine_mod.Engine, "_finish_run", boom)
    db = tmp_path / "runs.db"
    code = cli.main(["run", str(flow), "--input", "x=1", "--store", str(db)])
    out = capsys.readouterr()
    assert code == 1, out
    assert "internal error" not in out.err
    with SQLiteStore(str(db)) as store:
        (run,) = store.list_runs()
        assert run.status == "failed" and "an unexpected bug" in run.error
        assert store.audit_events(run.id)[-1].kind == "run.failed"
        assert store.verify_audit(run.id).ok


def test_flowc_worker_survives_a_run_that_breaks_and_goes_on_with_the_others(tmp_path):
    db = tmp_path / "runs.db"
    good = plan_of('flow g version "1.0.0"\noutput y: int = 2\n')
    with SQLiteStore(str(db)) as store:
        store.put_plan("broken", "{this is not a plan")
        bad = store.create_run("broken", "broken", {}, status="running")
        store.put_plan(good.hash, good.to_json())
        ok = store.create_run("g", good.hash, {}, status="running")
    r = _flowc("worker", "--once", "--store", db, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"resumed run {ok.id}" in r.stdout
    assert len([line for line in r.stderr.splitlines() if bad.id in line]) == 1, r.stderr
    with SQLiteStore(str(db)) as store:
        assert store.get_run(ok.id).status == "succeeded"
        failed = store.get_run(bad.id)
        assert failed.status == "failed" and failed.error
    r = _flowc("worker", "--once", "--store", db, cwd=tmp_path)  # nothing left to take over
    assert r.returncode == 0 and bad.id not in r.stderr


def test_a_timeout_that_advances_a_broken_run_does_not_stop_the_others(store, monkeypatch):
    gate = plan_of('''flow g version "1.0.0"
node review = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
output o: str = review.outcome
''')

    class Clock:
        now = 1_000_000.0

        def __call__(self):
            return self.now

    clock = Clock()
    engine = Engine(store, clock=clock)
    first = engine.start(gate, {})
    second = engine.start(gate, {})
    calls = []
    real = Engine._advance

    def flaky(self, run_id):
        calls.append(run_id)
        if run_id == first.id:
            raise ValueError("a broken run")
        return real(self, run_id)

    monkeypatch.setattr(Engine, "_advance", flaky)
    clock.now += 2 * 3600
    fired = engine.fire_due()
    assert len(fired.timed_out) == 2
    assert store.get_run(first.id).status == "failed"
    assert "a broken run" in store.get_run(first.id).error
    assert store.get_run(second.id).status == "succeeded"


def test_the_cli_reports_a_deep_result_as_a_failed_node(tmp_path):
    flow = tmp_path / "d.flow"
    flow.write_text('flow d version "1.0.0"\ninput deep: str\n'
                    'node b: json = command `echo {deep}`\noutput p: json = b\n')
    r = _flowc("run", flow, "--input", "deep=" + "[" * 3000 + "]" * 3000, "--store",
               tmp_path / "runs.db", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "internal error" not in r.stderr and "nested" in r.stdout
    with SQLiteStore(str(tmp_path / "runs.db")) as store:
        (run,) = store.list_runs()
        assert run.status == "failed"
