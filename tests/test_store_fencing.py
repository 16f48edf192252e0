"""The store's side of fenced leases and of runs that can go on (issue 13): the fencing token,
fenced transactions, the heartbeat's answers, waking paused runs. A real SQLite file; the
store's clock is a test clock, so a lease lapses without waiting."""

from __future__ import annotations

import pytest

from flowc.runtime.store import LeaseLost, RunCancelled, SQLiteStore


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def db(tmp_path, clock):
    s = SQLiteStore(str(tmp_path / "runs.db"), clock=clock)
    s.put_plan("p", "{}")
    yield s
    s.close()


def _taken(db, run_id, owner, seconds=10.0) -> int:
    with db.transaction():
        assert db.lease_run(run_id, owner, seconds)
        return db.lease_token(run_id)


def test_the_token_grows_only_when_the_lease_changes_hands(db, clock):
    run = db.create_run("f", "p", status="running")
    first = _taken(db, run.id, "a")
    assert _taken(db, run.id, "a") == first          # the holder extends it: same token
    clock.now += 11                                   # it lapsed, nobody took it: still a's
    assert _taken(db, run.id, "a") == first
    clock.now += 11
    (claimed,) = db.claim_runs("b", 10.0)             # b takes the lapsed lease over
    assert db.lease_token(claimed.id) == first + 1
    assert db.release_run(run.id, "b")
    assert _taken(db, run.id, "b") == first + 2       # given back, then taken again


def test_a_fenced_write_of_a_lost_lease_commits_nothing(db, clock):
    run = db.create_run("f", "p", status="running")
    token = _taken(db, run.id, "a")
    with db.fenced(run.id, "a", token):
        db.finish_node(run.id, "one", -1, "succeeded", output=1)
        clock.now += 11
        db.claim_runs("b", 10.0)
        with pytest.raises(LeaseLost):
            db.finish_node(run.id, "two", -1, "succeeded", output=2,
                           audit=[("node.done", "flowc", {"node": "two"})])
        with pytest.raises(LeaseLost), db.transaction():
            db.set_run_status(run.id, "succeeded")
    assert [n.node_id for n in db.node_results(run.id)] == ["one"]
    # only what the write that kept its lease committed: node one's result and its event
    assert [(e.kind, e.payload["node"]) for e in db.audit_events(run.id)] == [
        ("node.result", "one")]
    assert db.get_run(run.id).status == "running"
    db.finish_node(run.id, "two", -1, "succeeded", output=2)   # unfenced writes still go


def test_a_fenced_write_of_a_cancelled_run_commits_nothing(db):
    run = db.create_run("f", "p", status="running")
    token = _taken(db, run.id, "a")
    db.set_run_status(run.id, "cancelled")
    with db.fenced(run.id, "a", token), pytest.raises(RunCancelled):
        db.effect_intent("k", run.id, "pay")
    assert db.get_effect("k") is None


def test_fences_nest_and_the_holders_own_end_passes(db):
    parent = db.create_run("f", "p", status="running")
    child = db.create_run("g", "p", status="running", parent_run_id=parent.id)
    tp, tc = _taken(db, parent.id, "a"), _taken(db, child.id, "a")
    with db.fenced(parent.id, "a", tp):
        with db.fenced(child.id, "a", tc):
            db.set_run_status(child.id, "succeeded")   # ends it: the lease goes with it
            db.record_files([])
            db.append_audit(child.id, "run.succeeded", "flowc", {})  # its own end: allowed
        db.finish_node(parent.id, "sub", -1, "succeeded")
    assert db.current_fence() is None


def test_the_heartbeat_says_held_cancelled_ended_or_lost(db, clock):
    run = db.create_run("f", "p", status="running")
    token = _taken(db, run.id, "a")
    clock.now += 9
    assert db.heartbeat(run.id, "a", token, 10.0) == "held"
    clock.now += 9                                      # renewed: not lapsed yet
    assert db.claim_runs("b", 10.0) == []
    assert db.heartbeat(run.id, "a", token, 10.0, renew=False) == "held"
    clock.now += 11
    db.claim_runs("b", 10.0)
    assert db.heartbeat(run.id, "a", token, 10.0) == "lost"
    other = db.create_run("f", "p", status="running")
    t2 = _taken(db, other.id, "a")
    db.set_run_status(other.id, "succeeded")
    assert db.heartbeat(other.id, "a", t2, 10.0) == "ended"
    third = db.create_run("f", "p", status="running")
    t3 = _taken(db, third.id, "a")
    db.set_run_status(third.id, "cancelled")
    assert db.heartbeat(third.id, "a", t3, 10.0) == "cancelled"


def test_wake_runs_queues_only_paused_runs_that_can_go_on(db):
    decided = db.create_run("f", "p", status="paused")
    db.finish_node(decided.id, "gate", -1, "waiting")
    task = db.create_task(decided.id, "gate")
    db.decide_task(task.id, {"outcome": "approved"}, "ana")
    waiting = db.create_run("f", "p", status="paused")
    db.finish_node(waiting.id, "gate", -1, "waiting")
    db.create_task(waiting.id, "gate")
    parent = db.create_run("f", "p", status="paused")
    db.finish_node(parent.id, "sub", -1, "waiting")
    db.create_run("g", "p", status="succeeded", parent_run_id=parent.id,
                  parent_node_id="sub#-1")
    assert sorted(db.wake_runs()) == sorted([decided.id, parent.id])
    assert db.get_run(decided.id).status == "queued"
    assert db.get_run(waiting.id).status == "paused"
    assert db.wake_runs() == []
    assert db.wake_run(waiting.id) and not db.wake_run(waiting.id)


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_fence_sees_what_another_thread_committed(tmp_path, clock, where):
    """A fence found held is not read again while nothing else committed (the file's
    data_version, the memory store's count of commits), and is read again after another
    thread's commit: a cancel or a lease taken over there stops the next fenced write."""
    import threading

    s = SQLiteStore(":memory:" if where == "memory" else str(tmp_path / "t.db"), clock=clock)
    try:
        s.put_plan("p", "{}")

        def elsewhere(fn):
            t = threading.Thread(target=fn)
            t.start()
            t.join()

        for stop, error in (("cancel", RunCancelled), ("take", LeaseLost)):
            run = s.create_run("f", "p", status="running")
            token = _taken(s, run.id, "a")
            with s.fenced(run.id, "a", token):
                s.finish_node(run.id, "one", -1, "succeeded", output=1)
                s.finish_node(run.id, "two", -1, "succeeded", output=2)  # fence still held
                if stop == "cancel":
                    elsewhere(lambda: s.set_run_status(run.id, "cancelled"))  # noqa: B023
                else:
                    clock.now += 11
                    elsewhere(lambda: s.claim_runs("b", 10.0))
                with pytest.raises(error):
                    s.finish_node(run.id, "three", -1, "succeeded", output=3)
            assert [n.node_id for n in s.node_results(run.id)] == ["one", "two"]
    finally:
        s.close()
