"""The `Store` contract (runtime/store/contract.py), checked on every store implementation.

Each test takes `store_factory` and runs once per implementation in STORES; a new store (a
server database) adds its factory there and must pass all of them. What each test guards is
named after the guarantee that would break: two writers deciding at once, a lost lease, a
rollback in the middle of an audit append, a second effect result.
"""

from __future__ import annotations

import threading

import pytest

from flowc.runtime.store import (
    AUDIT_GENESIS,
    LeaseLost,
    NotFound,
    RunCancelled,
    SQLiteStore,
    StatusConflict,
    Store,
)
from flowc.runtime.store.pgstore import PostgresStore

PLAN = "c" * 64


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


STORES = {  # (where: a temporary folder, or the test's PostgreSQL database URL; clock)
    "sqlite-file": lambda where, clock: SQLiteStore(str(where / "contract.db"), clock=clock),
    "sqlite-memory": lambda where, clock: SQLiteStore(":memory:", clock=clock),
    # a real PostgreSQL server (tests/pgkit.py), a database of its own for each test
    "postgresql": lambda where, clock: PostgresStore(where, clock=clock),
}


@pytest.fixture(params=sorted(STORES))
def store_factory(request, tmp_path):
    opened: list[Store] = []
    where = tmp_path
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        where = url = cluster.fresh_database()

    def make(clock=None) -> Store:
        s = STORES[request.param](where, clock or Clock())
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()
    if request.param == "postgresql":
        cluster.drop(url)


def _run(s: Store, **kw):
    s.put_plan(PLAN, '{"flow": "contract"}')
    return s.create_run("contract", PLAN, {"x": 1}, **kw)


def test_it_is_a_store(store_factory):
    assert isinstance(store_factory(), Store)


# -- atomicity

def test_a_transaction_commits_all_or_nothing(store_factory):
    s = store_factory()
    run = _run(s)
    with pytest.raises(RuntimeError), s.transaction():
        s.finish_node(run.id, "a", -1, "succeeded", output=1)
        s.set_run_status(run.id, "paused")
        raise RuntimeError("boom")
    assert s.node_results(run.id) == []
    assert s.get_run(run.id).status == "queued"
    with s.transaction():
        s.finish_node(run.id, "a", -1, "succeeded", output=1)
        s.set_run_status(run.id, "paused")
    assert [n.output for n in s.node_results(run.id)] == [1]
    assert s.get_run(run.id).status == "paused"


def test_an_inner_block_that_raises_rolls_back_only_itself(store_factory):
    s = store_factory()
    run = _run(s)
    with s.transaction():
        s.finish_node(run.id, "outer", -1, "succeeded", output="kept")
        with pytest.raises(ValueError), s.transaction():
            s.finish_node(run.id, "inner", -1, "succeeded", output="gone")
            raise ValueError
    assert [n.node_id for n in s.node_results(run.id)] == ["outer"]
    assert s.verify_audit(run.id).ok


# -- compare-and-set decisions

def _race(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_writers_deciding_at_once_one_wins(store_factory):
    s = store_factory()
    run = _run(s)
    task = s.create_task(run.id, "gate", assignees=[{"kind": "role", "name": "lead"}])
    results = _race(6, lambda i: s.decide_task(task.id, {"approved": i % 2 == 0}, f"p{i}"))
    assert results.count(True) == 1
    winner = results.index(True)
    decided = s.get_task(task.id)
    assert decided.status == "decided" and decided.decided_by == f"p{winner}"
    assert decided.decision == {"approved": winner % 2 == 0}
    # settled: a late decision, a timeout and a cancel all lose and change nothing
    assert not s.decide_task(task.id, {"approved": False}, "late")
    assert not s.expire_task(task.id)
    assert not s.cancel_task(task.id)
    assert s.get_task(task.id) == decided
    with pytest.raises(NotFound):
        s.decide_task("no-such-task", {}, "x")


def test_each_escalation_step_fires_once(store_factory):
    clock = Clock()
    s = store_factory(clock)
    run = _run(s)
    task = s.create_task(run.id, "gate", assignees=[{"kind": "role", "name": "lead"}],
                         escalations=[{"at": clock.now + 10, "to": [{"kind": "user",
                                                                      "name": "boss"}]}])
    clock.now += 11
    assert [t.id for t in s.due_escalations()] == [task.id]
    results = _race(4, lambda i: s.escalate_task(task.id, 1))
    assert sum(r is not None for r in results) == 1
    assert s.escalate_task(task.id, 1) is None
    assert {"kind": "user", "name": "boss"} in s.get_task(task.id).assignees
    assert s.due_escalations() == []


def test_claimers_at_once_never_share_a_run(store_factory):
    s = store_factory()
    runs = {_run(s).id for _ in range(5)}
    results = _race(5, lambda i: [r.id for r in s.claim_runs(f"w{i}", 60, limit=5)])
    claimed = [rid for ids in results for rid in ids]
    assert sorted(claimed) == sorted(runs)  # every run once, none twice


def test_an_expected_status_is_checked_in_the_same_step(store_factory):
    s = store_factory()
    run = _run(s)
    s.set_run_status(run.id, "succeeded", expect=["queued"])
    with pytest.raises(StatusConflict):
        s.set_run_status(run.id, "failed", expect=["queued", "running"])
    assert s.get_run(run.id).status == "succeeded"
    assert s.wake_run(run.id) is False  # not paused


# -- fenced leases

def test_a_lost_lease_commits_nothing(store_factory):
    clock = Clock()
    s = store_factory(clock)
    run = _run(s)
    assert s.lease_run(run.id, "a", 10)
    token = s.lease_token(run.id)
    assert not s.lease_run(run.id, "b", 10)  # held: b cannot take it
    clock.now += 11                           # a's lease lapses; b takes it over
    assert s.lease_run(run.id, "b", 10)
    assert s.lease_token(run.id) == token + 1
    with s.fenced(run.id, "a", token):
        assert s.current_fence() == (run.id, "a", token)
        with pytest.raises(LeaseLost):
            s.finish_node(run.id, "late", -1, "succeeded", output="stale")
        with pytest.raises(LeaseLost), s.transaction():
            s.append_audit(run.id, "note", "a", {"stale": True})
    assert s.current_fence() is None
    assert s.node_results(run.id) == [] and s.audit_events(run.id) == []
    assert s.heartbeat(run.id, "a", token, 10) == "lost"
    assert not s.renew_lease(run.id, "a", 10)
    assert not s.release_run(run.id, "a")     # a never gives away b's lease
    assert s.get_run(run.id).lease_owner == "b"
    with s.fenced(run.id, "b", token + 1):    # the holder writes on
        s.finish_node(run.id, "next", -1, "succeeded", output="fresh")
    assert [n.node_id for n in s.node_results(run.id)] == ["next"]


def test_the_token_moves_only_when_the_lease_changes_hands(store_factory):
    s = store_factory()
    run = _run(s)
    assert s.lease_token(run.id) == 0
    assert s.lease_run(run.id, "a", 10)
    first = s.lease_token(run.id)
    assert s.lease_run(run.id, "a", 10) and s.renew_lease(run.id, "a", 10)
    assert s.heartbeat(run.id, "a", first, 10) == "held"
    assert s.lease_token(run.id) == first
    assert s.release_run(run.id, "a") and s.lease_run(run.id, "a", 10)
    assert s.lease_token(run.id) == first + 1  # taken again after it was given back
    with pytest.raises(NotFound):
        s.lease_token("no-such-run")


def test_a_cancelled_run_refuses_fenced_writes(store_factory):
    s = store_factory()
    run = _run(s)
    assert s.lease_run(run.id, "a", 60)
    token = s.lease_token(run.id)
    s.set_run_status(run.id, "cancelled")
    with s.fenced(run.id, "a", token), pytest.raises(RunCancelled):
        s.finish_node(run.id, "x", -1, "succeeded")
    assert s.node_results(run.id) == []
    assert s.heartbeat(run.id, "a", token, 60) == "cancelled"


# -- the audit chain

def test_a_rollback_mid_audit_leaves_the_chain_and_its_head(store_factory):
    s = store_factory()
    run = _run(s)
    first = s.append_audit(run.id, "one", "x", {"n": 1})
    assert first.seq == 1 and first.prev_hash == AUDIT_GENESIS
    head = s.audit_heads([run.id])
    with pytest.raises(RuntimeError), s.transaction():
        s.append_audit(run.id, "two", "x", {"n": 2})
        s.finish_node(run.id, "a", -1, "succeeded", output=2)
        raise RuntimeError("crash between the events and the commit")
    assert s.audit_heads([run.id]) == head
    assert [e.kind for e in s.audit_events(run.id)] == ["one"]
    again = s.append_audit(run.id, "two", "x", {"n": 2})  # chains on from the kept head
    assert (again.seq, again.prev_hash) == (2, first.hash)
    assert s.audit_heads([run.id]) == {run.id: (2, again.hash)}
    assert s.verify_audit(run.id).ok


def test_a_node_result_and_its_event_commit_together(store_factory):
    s = store_factory()
    run = _run(s)
    rec = s.finish_node(run.id, "a", -1, "succeeded", output={"v": 1},
                        audit=[("approval", "ann", {"ok": True})])
    assert rec.output == {"v": 1}
    kinds = [e.kind for e in s.audit_events(run.id)]
    assert kinds == ["node.result", "approval"]
    with pytest.raises(ValueError):
        s.append_audit(run.id, "node.result", "me", {})
    assert run.id in s.touched_runs() and s.touched_runs() == set()
    assert s.verify_audit(run.id).ok


# -- effect records

def test_an_effect_keeps_its_first_result(store_factory):
    s = store_factory()
    run = _run(s)
    with pytest.raises(NotFound):
        s.effect_done("k", 1)
    first = s.effect_start("k", run.id, "n", kind="code")
    assert (first.status, first.starts) == ("intent", 1)
    assert s.effect_start("k", run.id, "n", kind="code").starts == 2  # a retry
    results = _race(4, lambda i: s.effect_done("k", {"by": i}))
    kept = s.get_effect("k")
    assert kept.status == "done" and all(r.result == kept.result for r in results)
    assert s.effect_done("k", {"by": "late"}).result == kept.result
    again = s.effect_start("k", run.id, "n", kind="code")
    assert again == kept                   # done: returned unchanged, not started again
    assert s.effect_intent("k", run.id, "n") == kept
