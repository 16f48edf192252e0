"""Adversarial tests of the orchestration turn (runtime/turn.py) and of runs advanced side by
side in one process (Engine.resume_interrupted, runs started from threads, decisions and
cancels from other threads). Real SQLite stores, real threads, the real FakeModelServer.
Every wait is a hang bound, never a timing claim. Written by an outside reviewer; tests marked
`# BROKE:` failed on a real bug when written and pass since its fix."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from flowc_testkit import ROOT, plan_of
from test_turn import CHILD, HANG, RACE, SLOW, _join, _until  # the shared pieces

from flowc.compiler.api import compile_source
from flowc.config import ProjectConfig
from flowc.runtime.engine import Engine, cancel_run
from flowc.runtime.models.fakeserver import FakeModelServer, error_reply
from flowc.runtime.models.router import Models
from flowc.runtime.store import SQLiteStore, StoreBusy
from flowc.runtime.store.sqlitestore import open_store
from flowc.runtime.turn import TURN


def _blocking_handler():
    """(arrived, go, handler): each model call counts on `arrived` and waits for `go`."""
    arrived, go = threading.Semaphore(0), threading.Event()

    def handler(protocol, body):
        arrived.release()
        go.wait(HANG)
        return None

    return arrived, go, handler


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _turn_free() -> None:
    assert TURN._owner is None and not TURN._waiters, (TURN._owner, list(TURN._waiters))


def _engine(store, server, monkeypatch) -> Engine:
    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    cfg = server.model_config("default", "openai", api_key_env="FLOWC_TEST_KEY", max_retries=0)
    return Engine(store, models=Models(ProjectConfig(None, {"default": cfg})))



PARENT = '''flow parent version "1.0.0"
use flow "child.flow" as child
node a = flow child(x: 1)
node b = flow child(x: 2)
node many = for each k in [10, 20, 30, 40] concurrency 4 {
  flow child(x: k)
}
output ys: list<int> = [a.z, b.z]
output n = many
'''


def _parent_plan(tmp_path):
    (tmp_path / "child.flow").write_text(CHILD)
    result = compile_source(PARENT, str(tmp_path / "parent.flow"), base_dir=tmp_path)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    return result.plan


# ---- 1. a decision from another thread while the run's own pass waits on a model ----------



def test_a_gate_decided_while_its_run_waits_on_a_model_runs_nothing_twice(store, monkeypatch):
    # BROKE (fixed: one thread of an engine in a pass of a run at a time; a second waits, or
    # leaves a note for one more pass, the path this test takes: the decision's wait ends
    # first): Engine.decide -> advance of a run this engine is advancing in another thread
    # took the lease again (same owner: store/runs.py:185-187 accepts it) and
    # counts as a "nested" advance (engine.py:511-512): two passes of one run at once. The
    # decider's pass runs the in-flight node `m` again (a 2nd model call) and ends the run;
    # the first pass then commits `m` over it and, from its stale results (g "waiting"), sets
    # the succeeded run back to "paused" (engine.py:643-646; the fence lets it: "ended").
    slow_calls: list[int] = []
    arrived, go = threading.Event(), threading.Event()

    def handler(protocol, body):
        if "SLOWPROMPT" in json.dumps(body):
            slow_calls.append(1)
            if len(slow_calls) == 1:
                arrived.set()
                go.wait(HANG)
        return None

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        out: dict = {}
        a = threading.Thread(target=lambda: out.__setitem__("a", engine.start(plan_of(RACE), {})))
        a.start()
        assert arrived.wait(HANG), "the slow call never came"
        task = store.list_tasks(status="pending")[0]
        run_id = task.run_id
        b = threading.Thread(target=lambda: out.__setitem__("b", engine.decide(
            task.id, action="approve", by="ann", roles=("lead",))))
        b.start()
        _until(lambda: not b.is_alive() or len(slow_calls) > 1, "the decision")
        go.set()
        _join(a, b)
    run = store.get_run(run_id)
    seen = (len(slow_calls), run.status, [e.kind for e in store.audit_events(run_id)].count("run.succeeded"))
    assert seen == (1, "succeeded", 1), f"(calls of `m`, status, run.succeeded events): {seen}"
    assert store.verify_audit(run_id).ok
    _turn_free()


# ---- 2. an interrupt while taking the turn back after slow work ----------------------------

@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_an_interrupt_while_taking_the_turn_back_stays_an_interrupt(store, monkeypatch):
    # Regression: at 553ff4b a KeyboardInterrupt while queued in given_up's `finally`
    # (runtime/turn.py: acquire(depth)) left the queue, then the enclosing held_here released
    # a turn this thread no longer held: RuntimeError("the turn is not held by this thread")
    # replaced the interrupt. Fixed in bd4e52f (held_here releases only what it holds).
    called, holding, main_done = threading.Event(), threading.Event(), threading.Event()
    problems: list[str] = []

    def handler(protocol, body):
        called.set()
        holding.wait(HANG)  # answer once another thread holds the turn
        return None

    def other() -> None:  # takes the turn while the main thread's model call is in flight
        assert called.wait(HANG)
        with TURN.held_here():
            holding.set()
            try:
                _until(lambda: TURN._waiters, "the main thread to queue for the turn")
            except AssertionError as e:  # (this thread reports; the test asserts)
                problems.append(str(e))
            signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)
            main_done.wait(HANG)

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        before = signal.signal(signal.SIGALRM, _interrupt)
        t = threading.Thread(target=other)
        t.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                engine.start(plan_of(SLOW), {"topic": "x"})
        finally:
            main_done.set()
            signal.signal(signal.SIGALRM, before)
            _join(t)
        assert not problems, problems
        _turn_free()
        (run,) = store.list_runs()
        assert run.lease_owner is None  # given back: nothing lost, it is taken over
        assert engine.advance(run.id).status == "succeeded"
    assert store.verify_audit(run.id).ok


# ---- 3. a cancel from another thread while the worker pool advances the run ----------------

def test_a_run_cancelled_while_the_worker_pool_advances_it(store, monkeypatch):
    arrived, go, handler = _blocking_handler()

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        ids = [engine.start(plan_of(SLOW), {"topic": str(k)}, advance=False).id
               for k in range(3)]
        done: list = []
        w = threading.Thread(target=lambda: done.append(engine.resume_interrupted(threads=8)))
        w.start()
        for _ in range(3):
            assert arrived.acquire(timeout=HANG)
        cancel_run(store, ids[0], "tester")
        go.set()
        _join(w)
    assert done == [ids]
    runs = [store.get_run(i) for i in ids]
    assert [r.status for r in runs] == ["cancelled", "succeeded", "succeeded"]
    assert [r.lease_owner for r in runs] == [None] * 3
    assert not any(n.node_id == "brief" for n in store.node_results(ids[0]))
    assert all(store.verify_audit(i).ok for i in ids)
    _turn_free()


def test_a_parent_cancelled_while_its_sub_flows_run_side_by_side(store, tmp_path, monkeypatch):
    (tmp_path / "kid.flow").write_text('''flow kid version "1.0.0"
input x: str
node m = llm {
  prompt "KID {x}"
  model  "default"
}
output t = m.text
''')
    text = '''flow top version "1.0.0"
use flow "kid.flow" as kid
node a = flow kid(x: "a")
node b = flow kid(x: "b")
output o = [a.t, b.t]
'''
    plan = compile_source(text, str(tmp_path / "top.flow"), base_dir=tmp_path).plan
    arrived, go, handler = _blocking_handler()

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        out: list = []
        t = threading.Thread(target=lambda: out.append(engine.start(plan, {})))
        t.start()
        for _ in range(2):
            assert arrived.acquire(timeout=HANG)
        (top,) = [r for r in store.list_runs() if r.parent_run_id is None]
        cancel_run(store, top.id, "tester")
        go.set()
        _join(t)
    kids = store.sub_runs(top.id)
    assert out[0].status == "cancelled" and [k.status for k in kids] == ["cancelled"] * 2
    assert not [n for k in kids for n in store.node_results(k.id) if n.node_id == "m"]
    assert all(store.verify_audit(r).ok for r in [top.id, *(k.id for k in kids)])
    assert all(store.get_run(r.id).lease_owner is None for r in [top, *kids])
    _turn_free()


# ---- 4. the worker's edges: limit 0, more threads than runs, runs that fail ---------------

def test_resume_with_limit_zero_more_threads_than_runs_and_failing_runs(store, monkeypatch):
    def handler(protocol, body):
        return error_reply(400, "refused") if "FAIL" in json.dumps(body) else None

    with FakeModelServer(api_key="sk-test", handler=handler) as server:
        engine = _engine(store, server, monkeypatch)
        topics = ["FAIL", "ok1", "FAIL", "ok2"]
        ids = [engine.start(plan_of(SLOW), {"topic": k}, advance=False).id for k in topics]
        assert engine.resume_interrupted(limit=0, threads=16) == []
        assert [store.get_run(i).status for i in ids] == ["queued"] * 4
        assert engine.resume_interrupted(limit=10, threads=64) == ids
        assert engine.resume_interrupted(limit=10, threads=64) == []
    runs = [store.get_run(i) for i in ids]
    assert [r.status for r in runs] == ["failed", "succeeded", "failed", "succeeded"]
    assert [r.lease_owner for r in runs] == [None] * 4
    assert all(store.verify_audit(i).ok for i in ids)
    _turn_free()


# ---- 5. the store busy while the turn is held ---------------------------------------------

def test_store_busy_while_holding_the_turn_leaves_the_turn_free(tmp_path, monkeypatch):
    path = str(tmp_path / "busy.db")
    store = SQLiteStore(path, busy_timeout=0.05, retry_for=0.3)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    grabbed = threading.Event()

    def handler(protocol, body):  # another process takes the write lock mid-run
        blocker.execute("BEGIN IMMEDIATE")
        grabbed.set()
        return None

    try:
        with FakeModelServer(api_key="sk-test", handler=handler) as server:
            engine = _engine(store, server, monkeypatch)
            with pytest.raises(StoreBusy):
                engine.start(plan_of(SLOW), {"topic": "x"})
            assert grabbed.is_set()
            _turn_free()
            t = threading.Thread(target=lambda: (TURN.acquire(), TURN.release()))
            t.start()
            _join(t)  # another thread takes the turn at once
            blocker.execute("ROLLBACK")
            server.handler = None
            (run,) = store.list_runs()
            # the run is left where it was: this engine (its lease's owner) goes on with it
            assert engine.advance(run.id).status == "succeeded"
            assert store.verify_audit(run.id).ok
    finally:
        blocker.close()
        store.close()
    _turn_free()


# ---- 6. the memory store: sub-flows side by side and in a concurrent for each -------------

def test_memory_store_runs_from_threads_with_sub_flows_side_by_side(tmp_path):
    store = open_store(":memory:")
    try:
        plan = _parent_plan(tmp_path)
        engine = Engine(store)
        out, errors = [], []

        def one() -> None:
            try:
                out.append(engine.start(plan, {}))
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        _join(*threads)
        assert not errors, errors[:1]
        assert [r.status for r in out] == ["succeeded"] * 6, [r.error for r in out]
        for r in out:
            assert r.outputs["ys"] == [2, 3]
            assert [c["z"] for c in r.outputs["n"]] == [11, 21, 31, 41]
            assert store.verify_audit(r.id).ok
            assert all(store.verify_audit(c.id).ok for c in store.sub_runs(r.id))
    finally:
        store.close()
    _turn_free()


# ---- 7. two engines on one file in one process --------------------------------------------

def test_two_engines_on_one_file_each_run_advanced_once(store, tmp_path, monkeypatch):
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def handler(protocol, body):
        with lock:
            key = json.dumps(body).split("Write about ", 1)[1].split(".", 1)[0]
            calls[key] = calls.get(key, 0) + 1
        time.sleep(0.01)
        return None

    second = SQLiteStore(store.path)
    try:
        with FakeModelServer(api_key="sk-test", handler=handler) as server:
            e1, e2 = _engine(store, server, monkeypatch), _engine(second, server, monkeypatch)
            ids = [e1.start(plan_of(SLOW), {"topic": f"t{k}"}, advance=False).id
                   for k in range(8)]
            got: list = []
            ts = [threading.Thread(target=lambda e=e: got.append(
                e.resume_interrupted(limit=8, threads=3))) for e in (e1, e2)]
            for t in ts:
                t.start()
            _join(*ts)
    finally:
        second.close()
    assert sorted(got[0] + got[1]) == sorted(ids) and not set(got[0]) & set(got[1])
    assert calls == {f"t{k}": 1 for k in range(8)}, calls
    assert all(store.get_run(i).status == "succeeded" for i in ids)
    assert all(store.verify_audit(i).ok for i in ids)
    _turn_free()


# ---- 8. decisions from many threads while other runs start --------------------------------

GATE = '''flow g version "1.0.0"
node g = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
output o: str? = g.outcome
'''


def test_gates_decided_from_threads_while_other_runs_advance(store, tmp_path):
    engine = Engine(store)
    paused = [engine.start(plan_of(GATE), {}) for _ in range(8)]
    assert {r.status for r in paused} == {"paused"}
    parent = _parent_plan(tmp_path)
    tasks = store.list_tasks(status="pending", limit=100)
    go = threading.Barrier(len(tasks) + 4, timeout=HANG)
    out, errors = [], []

    def act(fn) -> None:
        try:
            go.wait()
            out.append(fn())
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=act, args=(lambda t=t: engine.decide(
        t.id, action="approve", by="ann", roles=("lead",)),)) for t in tasks]
    threads += [threading.Thread(target=act, args=(lambda: engine.start(parent, {}),))
                for _ in range(4)]
    for t in threads:
        t.start()
    _join(*threads)
    assert not errors, errors[:1]
    assert [r.status for r in out] == ["succeeded"] * 12
    for r in out:
        assert store.verify_audit(r.id).ok
    _turn_free()


# ---- 9. a run started inside the caller's transaction, with sub-flows side by side --------

def test_a_run_started_in_a_callers_transaction_with_sub_flows_side_by_side(tmp_path):
    # BROKE (fixed: inside a caller's transaction branches and items run inline), before the
    # turn: a run started inside
    # the caller's transaction (a documented use, "many runs started in one commit",
    # runtime/heartbeat.py:62-65, bench/runtime.py:357-360) with two `flow` branches: the
    # caller's thread holds the file's write lock (an RLock per file, store/connections.py:370)
    # and waits for the branch threads (engine.py:698); each branch's container start is a
    # write of its own (engine.py:909 -> store/nodes.py:68) that waits for that lock forever.
    # Run in a child process: the hang never ends.
    (tmp_path / "child.flow").write_text(CHILD)
    (tmp_path / "parent.flow").write_text('''flow parent version "1.0.0"
use flow "child.flow" as child
node a = flow child(x: 1)
node b = flow child(x: 2)
output ys: list<int> = [a.z, b.z]
''')
    script = f'''
from pathlib import Path
from flowc.compiler.api import compile_source
from flowc.runtime.engine import Engine
from flowc.runtime.store import SQLiteStore
base = Path({str(tmp_path)!r})
plan = compile_source((base / "parent.flow").read_text(), str(base / "parent.flow"),
                      base_dir=base).plan
store = SQLiteStore(str(base / "tx.db"))
engine = Engine(store)
with store.transaction():
    run = engine.start(plan, {{}})
print(store.get_run(run.id).status, store.get_run(run.id).outputs)
'''
    try:
        got = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                             text=True, timeout=HANG, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        pytest.fail("deadlock: a run started in a caller's transaction with two sub-flows "
                    "side by side never finished")
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.split()[0] == "succeeded", got.stdout


# ---- 10. an interrupt while the worker's threads wait for the turn ------------------------

@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
def test_an_interrupted_worker_commits_nothing_for_runs_waiting_for_the_turn(store):
    # BROKE (fixed: an interrupted worker halts its runs' passes not begun, engine._halted):
    # runs whose pool thread is still queued for the turn when Ctrl-C lands are "in
    # flight" (their futures cannot be cancelled, engine.py:1277) but hold no lease yet, so
    # `_beat.stop` finds nothing to stop (heartbeat.py:139-140); once the turn comes they take
    # the lease and run a whole pass (tasks opened, runs paused) after the interrupt: the
    # worker's "nothing more committed" does not hold for them.
    engine = Engine(store)
    ids = [engine.start(plan_of(GATE), {}, advance=False).id for _ in range(2)]
    go = threading.Event()

    def holder() -> None:  # another run's long turn while the worker's threads queue behind
        with TURN.held_here():
            _until(lambda: len(TURN._waiters) >= 2, "the worker's threads to queue")
            signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)
            # the turn comes back once the worker has taken the interrupt in (a pass that
            # got the turn before that was in flight, and stops as a cancel stops it)
            _until(lambda: engine._halted or go.is_set(), "the worker to take the interrupt")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGALRM, interrupt)
    t = threading.Thread(target=holder)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.resume_interrupted(threads=2)
    finally:
        go.set()
        signal.signal(signal.SIGALRM, before)
        _join(t)
    runs = [store.get_run(i) for i in ids]
    assert [r.lease_owner for r in runs] == [None, None]
    committed = [(r.status, len(store.node_results(r.id))) for r in runs]
    assert committed == [("queued", 0), ("queued", 0)], committed
    assert engine.resume_interrupted(threads=2) == ids  # nothing lost
    _turn_free()
