"""The durable run store on real SQLite files: migrations, every method, atomicity, compare-and-set
under threads and processes, leases, the audit chain, inbox speed and write concurrency."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from flowc.runtime import store as store_mod
from flowc.runtime.store import (
    AUDIT_GENESIS,
    MIGRATIONS,
    NotFound,
    SchemaVersionError,
    SQLiteStore,
    StatusConflict,
    Store,
    StoreError,
    default_store_path,
    open_store,
)

PLAN = "p" * 64
PLAN_JSON = json.dumps({"flow": "demo", "nodes": []})


class Clock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "runs.db")


@pytest.fixture
def store(db):
    s = SQLiteStore(db)
    s.put_plan(PLAN, PLAN_JSON)
    yield s
    s.close()


def raw(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# ------------------------------------------------------------------------------ migrations


def test_fresh_store_is_migrated_with_wal_and_pragmas(db):
    with SQLiteStore(db) as s:
        assert s.schema_version() == len(MIGRATIONS)
        assert s.journal_mode == "wal"
        conn = s._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    rows = raw(db).execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    assert [v for v, _ in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert all(isinstance(at, float) for _, at in rows)


def test_reopen_applies_nothing_twice(db):
    SQLiteStore(db).close()
    with SQLiteStore(db) as s:
        assert s.schema_version() == len(MIGRATIONS)
    assert raw(db).execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_new_migration_step_is_applied_once(db, monkeypatch):
    SQLiteStore(db).close()
    monkeypatch.setattr(store_mod.schema, "MIGRATIONS",
                        [*MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",)])
    for _ in range(2):
        with SQLiteStore(db) as s:
            assert s.schema_version() == len(MIGRATIONS) + 1
    cols = [r[1] for r in raw(db).execute("PRAGMA table_info(runs)")]
    assert "note" in cols


def test_a_failing_migration_step_leaves_the_old_version(db, monkeypatch):
    SQLiteStore(db).close()
    monkeypatch.setattr(store_mod.schema, "MIGRATIONS", [*MIGRATIONS, (
        "CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL")])
    with pytest.raises(sqlite3.OperationalError):
        SQLiteStore(db)
    conn = raw(db)
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None


def test_a_store_from_a_newer_flowc_is_refused(db):
    SQLiteStore(db).close()
    future = len(MIGRATIONS) + 1
    raw(db).execute("INSERT INTO schema_migrations VALUES (?, 0.0)", (future,))
    with pytest.raises(SchemaVersionError, match=rf"version {future}.*up to {len(MIGRATIONS)}"):
        SQLiteStore(db)


def test_concurrent_first_opens_migrate_once(db):
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def open_it():
        try:
            barrier.wait()
            SQLiteStore(db).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert raw(db).execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


# ----------------------------------------------------------------------------- plans, runs


def test_plans_are_idempotent_by_hash(store):
    store.put_plan(PLAN, PLAN_JSON)
    store.put_plan(PLAN, json.dumps(json.loads(PLAN_JSON), indent=2))  # same plan, other spacing
    assert store.get_plan(PLAN) == PLAN_JSON
    with pytest.raises(StoreError, match="other content"):
        store.put_plan(PLAN, json.dumps({"flow": "other"}))
    with pytest.raises(NotFound):
        store.get_plan("missing")
    with pytest.raises(KeyError):  # NotFound is a KeyError too
        store.get_plan("missing")


def test_runs_create_get_list_and_status(tmp_path):
    clock = Clock()
    s = SQLiteStore(tmp_path / "r.db", clock=clock)
    s.put_plan(PLAN, PLAN_JSON)
    a = s.create_run("demo", PLAN, {"ticket": 42, "text": "héllo"}, workspace_url="memory://ws/a")
    assert isinstance(s, Store)
    assert len(a.id) == 26 and a.status == "queued" and a.inputs == {"ticket": 42, "text": "héllo"}
    assert a.outputs is None and a.error is None and a.lease_owner is None
    assert a.created_at == a.updated_at == clock.t and a.workspace_url == "memory://ws/a"
    clock.t += 1
    b = s.create_run("demo", PLAN, None, parent_run_id=a.id, parent_node_id="call", run_id="child1")
    assert b.id == "child1" and b.parent_run_id == a.id and b.parent_node_id == "call"
    assert s.get_run(a.id) == a
    assert s.get_run("nope") is None
    assert [r.id for r in s.list_runs()] == ["child1", a.id]  # newest first
    assert [r.id for r in s.list_runs(limit=1)] == ["child1"]

    clock.t += 1
    r = s.set_run_status(a.id, "running")
    assert r.status == "running" and r.updated_at == clock.t
    assert [x.id for x in s.list_runs(status="running")] == [a.id]
    r = s.set_run_status(a.id, "succeeded", outputs={"answer": [1, 2]})
    assert r.outputs == {"answer": [1, 2]} and r.terminal
    with pytest.raises(StatusConflict, match="succeeded"):
        s.set_run_status(a.id, "running", expect=["queued", "paused"])
    r = s.set_run_status(b.id, "failed", error="boom", expect=["queued"])
    assert r.error == "boom" and r.status == "failed"

    with pytest.raises(NotFound):
        s.set_run_status("nope", "running")
    with pytest.raises(ValueError, match="run status"):
        s.set_run_status(a.id, "exploded")
    with pytest.raises(ValueError):
        s.list_runs(status="exploded")
    with pytest.raises(NotFound, match="put_plan"):
        s.create_run("demo", "unknown-plan")
    with pytest.raises(NotFound, match="parent"):
        s.create_run("demo", PLAN, parent_run_id="ghost")
    s.close()


def test_claim_runs_leases_and_expiry(tmp_path):
    clock = Clock()
    s = SQLiteStore(tmp_path / "r.db", clock=clock)
    s.put_plan(PLAN, PLAN_JSON)
    ids = []
    for i in range(5):
        clock.t += 1
        ids.append(s.create_run("demo", PLAN, {"i": i}).id)
    s.set_run_status(ids[3], "paused")
    s.set_run_status(ids[4], "running")
    done = s.create_run("demo", PLAN, status="succeeded")

    a = s.claim_runs("worker-a", lease_seconds=30, limit=2)
    assert [r.id for r in a] == ids[:2]
    assert all(r.lease_owner == "worker-a" and r.lease_until == clock.t + 30 for r in a)
    b = s.claim_runs("worker-b", lease_seconds=30, limit=10)
    assert [r.id for r in b] == [ids[2], ids[4]]  # not the paused one, not the finished one
    assert s.claim_runs("worker-a", 30, 10) == []  # nothing free, not its own again
    assert done.id not in {r.id for r in a + b}

    clock.t += 10
    assert s.renew_lease(ids[0], "worker-a", 30)  # heartbeat: now until t+40
    assert not s.renew_lease(ids[0], "worker-b", 30)
    clock.t += 25  # ids[1] (until t+30) expired, ids[0] renewed
    c = s.claim_runs("worker-c", 30, 10)
    assert {r.id for r in c} == {ids[1], ids[2], ids[4]}  # worker-a crashed? b's expired too
    assert not s.renew_lease(ids[1], "worker-a", 30)  # lost it

    assert s.release_run(ids[1], "worker-c")
    assert not s.release_run(ids[1], "worker-c")
    assert not s.release_run(ids[0], "worker-c")  # not c's
    assert s.get_run(ids[1]).lease_owner is None
    r = s.set_run_status(ids[2], "succeeded")
    assert r.lease_owner is None and r.lease_until is None  # a finished run drops its lease
    assert [r.id for r in s.claim_runs("worker-d", 30, 10)] == [ids[1]]
    s.close()


def test_claiming_owners_never_share_a_run(store):
    ids = {store.create_run("demo", PLAN).id for _ in range(120)}
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(owner: str):
        try:
            barrier.wait()
            mine = got.setdefault(owner, [])
            while batch := store.claim_runs(owner, lease_seconds=60, limit=3):
                mine.extend(r.id for r in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    claimed = [i for v in got.values() for i in v]
    assert len(claimed) == len(set(claimed)) == 120 and set(claimed) == ids


# ------------------------------------------------------------------------ node executions


def test_node_results_attempts_items_and_skips(tmp_path):
    clock = Clock()
    s = SQLiteStore(tmp_path / "r.db", clock=clock)
    s.put_plan(PLAN, PLAN_JSON)
    run = s.create_run("demo", PLAN)
    n = s.start_node(run.id, "fetch", inputs={"url": "x"})
    assert n.status == "running" and n.item == -1 and n.attempt == 1 and n.inputs == {"url": "x"}
    assert n.finished_at is None
    clock.t += 1
    n = s.finish_node(run.id, "fetch", -1, "failed", error="timeout")
    assert n.status == "failed" and n.error == "timeout" and n.finished_at == clock.t
    clock.t += 1
    n = s.start_node(run.id, "fetch", -1, attempt=2, inputs={"url": "x"})
    assert n.attempt == 2 and n.error is None and n.status == "running"  # a retry replaces
    n = s.finish_node(run.id, "fetch", -1, "succeeded", output={"body": "ok"}, outcome="ok")
    assert (n.status, n.output, n.outcome, n.attempt) == ("succeeded", {"body": "ok"}, "ok", 2)

    clock.t += 1
    for item in (1, 0):
        s.start_node(run.id, "each", item, inputs={"item": item})
        s.finish_node(run.id, "each", item, "succeeded", output=item * 10)
    clock.t += 1
    skipped = s.finish_node(run.id, "optional", -1, "skipped")
    assert skipped.attempt == 0 and skipped.started_at == clock.t
    waiting = s.finish_node(run.id, "approve", -1, "waiting")
    assert waiting.finished_at is None

    results = s.node_results(run.id)
    assert [(r.node_id, r.item) for r in results] == [
        ("fetch", -1), ("each", 0), ("each", 1), ("approve", -1), ("optional", -1)]
    assert {(r.node_id, r.item): r.output for r in results}[("each", 1)] == 10
    with pytest.raises(ValueError, match="node status"):
        s.finish_node(run.id, "fetch", -1, "exploded")
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        s.start_node("no-such-run", "fetch")
    s.close()


def test_finish_node_commits_its_audit_events_with_it(store):
    run = store.create_run("demo", PLAN)
    store.start_node(run.id, "a")
    n = store.finish_node(run.id, "a", -1, "succeeded", output=1,
                          audit=[("node.finished", "engine", {"node": "a"}),
                                 ("run.next", "engine", {"ready": ["b"]})])
    assert n.status == "succeeded"
    # the store's own `node.result` (the result's hashes) comes first, in the same commit
    assert [e.kind for e in store.audit_events(run.id)] == ["node.result", "node.finished",
                                                            "run.next"]
    # an event that cannot be recorded (NaN is not JSON) takes the node result down with it
    store.start_node(run.id, "b")
    with pytest.raises(ValueError):
        store.finish_node(run.id, "b", -1, "succeeded", output=2,
                          audit=[("node.finished", "engine", {"x": float("nan")})])
    assert {r.node_id: r.status for r in store.node_results(run.id)}["b"] == "running"
    assert len(store.audit_events(run.id)) == 3
    assert store.verify_audit(run.id).ok


def test_transaction_rolls_back_everything(store):
    before = store.create_run("demo", PLAN)
    with pytest.raises(RuntimeError, match="crash"), store.transaction() as tx:
        run = tx.create_run("demo", PLAN, {"x": 1})
        tx.start_node(run.id, "a")
        tx.finish_node(run.id, "a", -1, "succeeded", output=1)
        tx.set_run_status(before.id, "paused")
        tx.create_task(run.id, "gate", assignees=[{"kind": "user", "name": "ann"}])
        tx.append_audit(before.id, "run.paused", "engine", {})
        tx.effect_intent("k1", run.id, "a")
        assert tx.get_run(run.id) is not None  # visible inside the transaction
        raise RuntimeError("crash")
    assert store.get_run(run.id) is None
    assert store.get_run(before.id).status == "queued"
    assert store.node_results(run.id) == []
    assert store.list_tasks(status=None) == []
    assert store.audit_events(before.id) == []
    assert store.get_effect("k1") is None
    assert store.verify_audit(before.id).ok  # the head went back with the events

    # committed together; a failed inner block (a savepoint) is undone alone
    with store.transaction():
        store.finish_node(before.id, "a", -1, "succeeded", output=1)
        with pytest.raises(RuntimeError), store.transaction():
            store.finish_node(before.id, "b", -1, "succeeded", output=2)
            raise RuntimeError("inner")
        store.set_run_status(before.id, "running")
    assert [n.node_id for n in store.node_results(before.id)] == ["a"]
    assert store.get_run(before.id).status == "running"


# ------------------------------------------------------------------------------ human tasks


def test_tasks_create_list_decide_expire_cancel(tmp_path):
    clock = Clock()
    s = SQLiteStore(tmp_path / "r.db", clock=clock)
    s.put_plan(PLAN, PLAN_JSON)
    run = s.create_run("demo", PLAN)
    lead = [{"kind": "role", "name": "lead"}]
    t1 = s.create_task(run.id, "approve", assignees=[*lead, {"kind": "user", "name": "ann"}],
                       title="Approve refund", show={"amount": 12}, form={"fields": ["ok"]},
                       deadline=clock.t + 100, timeout_outcome="reject")
    assert len(t1.id) == 10 and t1.status == "pending" and t1.kind == "gate"
    assert t1.assignees == ({"kind": "role", "name": "lead"}, {"kind": "user", "name": "ann"})
    assert (t1.show, t1.form, t1.deadline) == ({"amount": 12}, {"fields": ["ok"]}, clock.t + 100)
    clock.t += 1
    t2 = s.create_task(run.id, "ask", item=3, kind="ask", assignees=[{"kind": "user", "name": "bob"}],
                       deadline=clock.t + 50)
    clock.t += 1
    t3 = s.create_task(run.id, "open", title="anyone")
    assert s.get_task(t1.id) == t1 and s.get_task("nope") is None

    ids = lambda tasks: [t.id for t in tasks]  # noqa: E731
    assert ids(s.list_tasks()) == [t1.id, t2.id, t3.id]
    assert ids(s.list_tasks(for_user="ann")) == [t1.id, t3.id]
    assert ids(s.list_tasks(for_user="bob")) == [t2.id, t3.id]
    assert ids(s.list_tasks(for_user="zed", roles=["lead"])) == [t1.id, t3.id]
    assert ids(s.list_tasks(for_user="zed", roles=["ops"])) == [t3.id]
    assert ids(s.list_tasks(limit=1)) == [t1.id]

    assert s.due_tasks(clock.t) == []
    assert ids(s.due_tasks(clock.t + 100)) == [t2.id, t1.id]  # earliest deadline first
    assert s.decide_task(t1.id, {"ok": True}, by="ann")
    assert not s.decide_task(t1.id, {"ok": False}, by="bob")  # too late: the first one stands
    d = s.get_task(t1.id)
    assert (d.status, d.decision, d.decided_by, d.decided_at) == ("decided", {"ok": True}, "ann",
                                                                  clock.t)
    assert ids(s.due_tasks(clock.t + 100)) == [t2.id]
    assert ids(s.list_tasks(status="decided")) == [t1.id]

    assert s.expire_task(t2.id, "skip")
    assert not s.expire_task(t2.id)
    assert not s.decide_task(t2.id, {}, by="bob")
    e = s.get_task(t2.id)
    assert (e.status, e.timeout_outcome) == ("timed_out", "skip")
    assert s.cancel_task(t3.id) and not s.cancel_task(t3.id)
    assert s.list_tasks() == []
    assert ids(s.list_tasks(status=None)) == [t1.id, t2.id, t3.id]

    with pytest.raises(NotFound):
        s.decide_task("nope", {}, by="x")
    with pytest.raises(NotFound):
        s.expire_task("nope")
    with pytest.raises(ValueError, match="assignee"):
        s.create_task(run.id, "x", assignees=[{"kind": "group", "name": "g"}])
    with pytest.raises(ValueError, match="assignee"):
        s.create_task(run.id, "x", assignees=["lead"])
    with pytest.raises(ValueError, match="task kind"):
        s.create_task(run.id, "x", kind="vote")
    with pytest.raises(StoreError):
        s.create_task("no-such-run", "x")
    s.close()


def test_one_of_eight_threads_wins_a_decision(store):
    run = store.create_run("demo", PLAN)
    for _ in range(5):
        task = store.create_task(run.id, "approve")
        barrier = threading.Barrier(8)
        wins: list[str] = []
        errors: list[BaseException] = []

        def decide(who: str, task_id: str = task.id, barrier: threading.Barrier = barrier,
                   wins: list[str] = wins, errors: list[BaseException] = errors):
            try:
                barrier.wait()
                if store.decide_task(task_id, {"by": who}, by=who):
                    wins.append(who)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=decide, args=(f"u{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(wins) == 1
        decided = store.get_task(task.id)
        assert decided.decided_by == wins[0] and decided.decision == {"by": wins[0]}


def _decide_in_process(path, task_ids, who, barrier, results):
    s = SQLiteStore(path)
    barrier.wait(timeout=60)
    results.put((who, [s.decide_task(t, {"by": who}, by=who) for t in task_ids]))
    s.close()


def test_one_of_four_processes_wins_a_decision(store, db):
    run = store.create_run("demo", PLAN)
    task_ids = [store.create_task(run.id, f"g{i}").id for i in range(10)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_decide_in_process, args=(db, task_ids, f"p{i}", barrier, results))
             for i in range(4)]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for i, task_id in enumerate(task_ids):
        winners = [who for who, won in outcomes.items() if won[i]]
        assert len(winners) == 1, (task_id, outcomes)
        assert store.get_task(task_id).decided_by == winners[0]


def test_list_tasks_with_10000_pending_is_fast(store):
    run = store.create_run("demo", PLAN)
    roles = [f"role{i}" for i in range(20)]
    t0 = time.perf_counter()
    with store.transaction():
        for i in range(10_000):
            people = [{"kind": "role", "name": roles[i % 20]}]
            if i % 50 == 0:
                people.append({"kind": "user", "name": f"user{i % 7}"})
            store.create_task(run.id, "approve", item=i, assignees=people, title=f"task {i}",
                              show={"i": i}, deadline=1e12 + i)
    created = time.perf_counter() - t0

    timings = {}
    for name, kwargs in [("all pending", {}), ("for_user", {"for_user": "user3"}),
                         ("for_user+roles", {"for_user": "user3", "roles": ["role7", "role8"]}),
                         ("no match", {"for_user": "nobody", "roles": ["none"]})]:
        t0 = time.perf_counter()
        tasks = store.list_tasks(**kwargs)
        timings[name] = time.perf_counter() - t0
        assert timings[name] < 0.2, (name, timings[name])
        if name == "no match":
            assert tasks == []
        else:
            assert len(tasks) == (100 if name != "for_user" else 29)
    t0 = time.perf_counter()
    assert len(store.due_tasks(1e12 + 50)) == 51
    timings["due_tasks"] = time.perf_counter() - t0
    print(f"\n10,000 pending tasks created in one transaction in {created:.2f} s; " + ", ".join(
        f"{k} {v * 1000:.1f} ms" for k, v in timings.items()))


# ----------------------------------------------------------------------------------- effects


def test_effects_are_recorded_once(store):
    run = store.create_run("demo", PLAN)
    e = store.effect_intent("send-mail:42", run.id, "notify")
    assert (e.status, e.result, e.item, e.done_at) == ("intent", None, -1, None)
    again = store.effect_intent("send-mail:42", run.id, "notify")
    assert again == e
    done = store.effect_done("send-mail:42", {"message_id": "m1"})
    assert done.status == "done" and done.result == {"message_id": "m1"} and done.done_at
    assert store.effect_intent("send-mail:42", run.id, "notify") == done  # done: don't repeat
    assert store.effect_done("send-mail:42", {"message_id": "m2"}).result == {"message_id": "m1"}
    assert store.get_effect("send-mail:42") == done
    assert store.get_effect("other") is None
    with pytest.raises(NotFound):
        store.effect_done("other", 1)


# -------------------------------------------------------------------------------- audit chain


def _expected_hash(prev: str, e) -> str:
    body = json.dumps({"run_id": e.run_id, "seq": e.seq, "ts": e.ts, "kind": e.kind,
                       "actor": e.actor, "payload": e.payload},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + body).encode()).hexdigest()


@pytest.fixture
def audited(store):
    run = store.create_run("demo", PLAN)
    for i in range(5):
        store.append_audit(run.id, "node.finished", "engine" if i % 2 else None,
                           {"node": f"n{i}", "n": i, "text": "é", "nested": {"b": 1, "a": [i]}})
    return run


def test_audit_chain(store, audited):
    events = store.audit_events(audited.id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    prev = AUDIT_GENESIS
    for e in events:
        assert e.prev_hash == prev and e.hash == _expected_hash(prev, e)
        prev = e.hash
    assert events[0].payload == {"node": "n0", "n": 0, "text": "é", "nested": {"b": 1, "a": [0]}}
    v = store.verify_audit(audited.id)
    assert v.ok and v.problems == [] and v.events == 5
    other = store.create_run("demo", PLAN)
    first = store.append_audit(other.id, "run.created", "ann", {1: "int keys become strings"})
    assert first.seq == 1 and first.prev_hash == AUDIT_GENESIS
    assert store.verify_audit(other.id).ok
    with pytest.raises(NotFound):
        store.append_audit("ghost", "x", None, {})
    assert not store.verify_audit("ghost").ok


def test_audit_chain_goes_on_after_other_writers_and_rollbacks(store, db):
    """A store chains a run's next events on from the head it wrote last only when that is
    still the stored head: after another store's append, a rolled-back one, or a head
    rewritten by hand, the events chain on from what is stored."""
    run = store.create_run("demo", PLAN)
    other = SQLiteStore(db)
    try:
        store.append_audit(run.id, "a", None, {"i": 1})
        other.append_audit(run.id, "b", None, {"i": 2})        # behind `store`'s back
        store.finish_node(run.id, "n1", -1, "succeeded", output=1,
                          audit=[("c", "engine", {"i": 3})])
        with pytest.raises(RuntimeError), store.transaction():
            store.append_audit(run.id, "gone", None, {"i": 4})
            raise RuntimeError("rolled back")
        store.append_audit(run.id, "d", None, {"i": 5})
        other.append_audit(run.id, "e", None, {"i": 6})
        other.append_audit(run.id, "f", None, {"i": 7})
        store.append_audit(run.id, "g", None, {"i": 8})
    finally:
        other.close()
    events = store.audit_events(run.id)
    assert [e.kind for e in events] == ["a", "b", "node.result", "c", "d", "e", "f", "g"]
    assert [e.seq for e in events] == list(range(1, 9))
    prev = AUDIT_GENESIS
    for e in events:
        assert e.prev_hash == prev and e.hash == _expected_hash(prev, e)
        prev = e.hash
    assert store.verify_audit(run.id).ok
    # a head changed under the store (tampering) is chained on, not overwritten: the
    # verification then finds the break, as it did before any append
    _tamper(db, f"UPDATE runs SET audit_head = '{'0' * 64}' WHERE id = '{run.id}'")
    store.append_audit(run.id, "h", None, {"i": 9})
    assert store.audit_events(run.id)[-1].prev_hash == "0" * 64
    assert not store.verify_audit(run.id).ok


def _tamper(db: str, *statements: str) -> None:
    conn = raw(db)
    for sql in statements:
        conn.execute(sql)
    conn.close()


def test_audit_detects_a_changed_payload(store, db, audited):
    _tamper(db, "UPDATE audit_events SET payload_json = replace(payload_json, '\"n\":2', '\"n\":9')"
                " WHERE seq = 3")
    v = store.verify_audit(audited.id)
    assert not v.ok and any("event 3" in p and "changed" in p for p in v.problems), v.problems


def test_audit_detects_a_deleted_event(store, db, audited):
    _tamper(db, "DELETE FROM audit_events WHERE seq = 2")
    v = store.verify_audit(audited.id)
    assert not v.ok and any("expected event 2" in p for p in v.problems), v.problems
    assert any("chain is broken" in p for p in v.problems)


def test_audit_detects_a_deleted_last_event(store, db, audited):
    _tamper(db, "DELETE FROM audit_events WHERE seq = 5")
    v = store.verify_audit(audited.id)
    assert not v.ok and any("end" in p for p in v.problems), v.problems


def test_audit_detects_swapped_events(store, db, audited):
    _tamper(db, "UPDATE audit_events SET seq = -2 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 4",
            "UPDATE audit_events SET seq = 4 WHERE seq = -2")
    v = store.verify_audit(audited.id)
    assert not v.ok and any("chain is broken" in p for p in v.problems), v.problems


def test_audit_detects_an_inserted_event(store, db, audited):
    events = store.audit_events(audited.id)
    # renumber events 3..5 up and put a forged event 3 in between, with its own correct hash
    forged_prev = events[1].hash
    conn = raw(db)
    conn.execute("UPDATE audit_events SET seq = seq + 10 WHERE seq >= 3")
    conn.execute("UPDATE audit_events SET seq = seq - 9 WHERE seq >= 13")
    fake = store_mod.AuditRecord(audited.id, 3, events[2].ts, "approval", "mallory",
                                 {"ok": True}, forged_prev, "")
    conn.execute("INSERT INTO audit_events VALUES (?, 3, ?, 'approval', 'mallory', ?, ?, ?)",
                 (audited.id, fake.ts, '{"ok":true}', forged_prev, _expected_hash(forged_prev, fake)))
    conn.close()
    v = store.verify_audit(audited.id)
    assert not v.ok and any("event 4" in p for p in v.problems), v.problems


def test_audit_detects_an_event_appended_behind_its_back(store, db, audited):
    last = store.audit_events(audited.id)[-1]
    fake = store_mod.AuditRecord(audited.id, 6, last.ts + 1, "approval", "mallory", {}, last.hash,
                                 "")
    raw(db).execute("INSERT INTO audit_events VALUES (?, 6, ?, 'approval', 'mallory', '{}', ?, ?)",
                    (audited.id, fake.ts, last.hash, _expected_hash(last.hash, fake)))
    v = store.verify_audit(audited.id)
    assert not v.ok and any("appended" in p for p in v.problems), v.problems


# ------------------------------------------------------------------------------- concurrency


def test_200_threads_write_runs_and_node_results(store, db):
    errors: list[BaseException] = []
    barrier = threading.Barrier(200)
    run_ids: list[str] = []

    def work(i: int):
        try:
            barrier.wait()
            run = store.create_run("demo", PLAN, {"i": i})
            run_ids.append(run.id)
            for n in range(20):
                store.start_node(run.id, f"n{n}", inputs={"n": n})
                store.finish_node(run.id, f"n{n}", -1, "succeeded", output={"n": n, "i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    assert errors == [], errors[:3]
    print(f"\n200 threads x (1 run + 20 node starts + 20 node results) = 8,200 write "
          f"transactions in {elapsed:.2f} s ({8200 / elapsed:.0f}/s)")
    assert len(run_ids) == 200
    conn = raw(db)
    assert conn.execute("SELECT COUNT(*) FROM node_executions WHERE status = 'succeeded'"
                        ).fetchone()[0] == 4000
    assert len(store.node_results(run_ids[0])) == 20


def _write_in_process(path, who, barrier, results):
    try:
        s = SQLiteStore(path)
        barrier.wait(timeout=60)
        done = 0
        for i in range(25):
            run = s.create_run("demo", PLAN, {"who": who, "i": i})
            for n in range(4):
                with s.transaction():
                    s.finish_node(run.id, f"n{n}", -1, "succeeded", output=n)
                    s.append_audit(run.id, "node.finished", who, {"node": n})
            done += 1
        claimed = []
        while batch := s.claim_runs(who, lease_seconds=60, limit=4):
            claimed.extend(r.id for r in batch)
        s.close()
        results.put((who, done, claimed, None))
    except BaseException as exc:
        results.put((who, 0, [], repr(exc)))


def test_four_processes_write_and_claim_at_once(store, db):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_write_in_process, args=(db, f"p{i}", barrier, results))
             for i in range(4)]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [err for *_, err in out if err] == []
    assert sum(done for _, done, _, _ in out) == 100
    claimed = [rid for *_, ids, _ in out for rid in ids]
    assert len(claimed) == len(set(claimed))  # no run leased by two processes
    assert len(store.list_runs(limit=1000)) == 100
    for run in store.list_runs(limit=1000):
        assert store.verify_audit(run.id).ok
        assert len(store.node_results(run.id)) == 4


# --------------------------------------------------------------------- memory mode, opening


def test_memory_store_works_from_many_threads():
    s = open_store(":memory:")
    assert isinstance(s, SQLiteStore) and s.memory
    s.put_plan(PLAN, PLAN_JSON)
    errors: list[BaseException] = []

    def work():
        try:
            run = s.create_run("demo", PLAN)
            with s.transaction():
                s.finish_node(run.id, "a", -1, "succeeded", output=1)
                s.append_audit(run.id, "x", None, {})
            assert s.verify_audit(run.id).ok
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(s.list_runs()) == 20
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get_run("x")


def test_default_path_and_open_store(tmp_path, monkeypatch):
    monkeypatch.delenv("FLOWC_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_store_path() == str(tmp_path / ".flowc" / "runs.db")
    s = open_store(None)
    assert s.path == str(tmp_path / ".flowc" / "runs.db") and (tmp_path / ".flowc").is_dir()
    s.close()
    monkeypatch.setenv("FLOWC_STORE", str(tmp_path / "elsewhere" / "x.db"))
    assert default_store_path() == str(tmp_path / "elsewhere" / "x.db")
    open_store().close()
    assert (tmp_path / "elsewhere" / "x.db").exists()
    monkeypatch.setenv("FLOWC_STORE", "sqlite:///rel/y.db")
    with open_store() as s:
        assert s.path == "rel/y.db"
    assert (tmp_path / "rel" / "y.db").exists()
    with open_store(f"sqlite:///{tmp_path}/abs.db") as s:
        assert s.path == f"{tmp_path}/abs.db"
    for url in ("sqlite://", "sqlite:///:memory:", "memory:"):
        with open_store(url) as s:
            assert s.memory
    with pytest.raises(StoreError, match="postgres"):
        open_store("postgres://db/flowc")


def test_a_writer_waits_out_another_process_lock_or_reports_busy(db):
    s = SQLiteStore(db, busy_timeout=0.05, retry_for=0.5)
    s.put_plan(PLAN, PLAN_JSON)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    t0 = time.perf_counter()
    with pytest.raises(store_mod.StoreBusy, match="locked"):
        s.create_run("demo", PLAN)
    # it retried for retry_for before giving up (a lower bound: a busy machine only adds)
    assert time.perf_counter() - t0 >= 0.5
    assert s.get_run("x") is None  # readers are not blocked (WAL)

    timer = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    timer.start()
    run = s.create_run("demo", PLAN)  # busy at first, then retried until the lock is free
    timer.join()
    assert s.get_run(run.id) == run
    s.close()


def test_synchronous_setting(db):
    with SQLiteStore(db, synchronous="full") as s:
        assert s._conn().execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(db, synchronous="sometimes")


def test_audit_payload_text_is_that_of_what_reads_back():
    """The text an audit event's hash covers is the canonical JSON of the payload as it reads
    back, whether or not the store takes the short way (no parse and dump again when every
    key is a string)."""
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    payloads = [
        {}, {"a": 1, "b": [1, 2.5, None, True]}, {"t": (1, (2, 3))}, {"é": "ü", "z": "\u2028"},
        {"big": 2**80, "neg": -0.0, "f": 1e16, "small": 5e-324}, {"lvl": Level.HIGH},
        {Name("k"): Name("v")}, {1: "int key"}, {"n": {2: "a", 10: "b"}}, {True: 1, False: 2},
        {"deep": [{"k": {3.5: "float key"}}]}, {"s": "\ud800 lone"},
    ]
    for payload in payloads:
        reference = json.loads(store_mod.canonical_json(payload))
        norm, text = store_mod._normalised(payload)
        assert text == store_mod.canonical_json(reference), payload
        assert (json.loads(text) if norm is None else norm) == reference, payload


def _protocol_error() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("locking protocol")
    exc.sqlite_errorcode = sqlite3.SQLITE_PROTOCOL
    exc.sqlite_errorname = "SQLITE_PROTOCOL"
    return exc


def test_a_wal_reader_that_lost_its_race_is_retried_at_open_and_on_reads(tmp_path, monkeypatch):
    """SQLite gives up a WAL read with SQLITE_PROTOCOL after about a hundred lost races for a
    read mark (many connections opening at once on a loaded machine): a transient lock, retried
    like "database is locked", never a failed open or a failed run."""
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    real = SQLiteStore._quick_check
    raised = []

    def flaky(self, conn):
        if len(raised) < 2:
            raised.append(1)
            raise _protocol_error()
        return real(self, conn)

    monkeypatch.setattr(SQLiteStore, "_quick_check", flaky)
    store = SQLiteStore(path)
    assert len(raised) == 2
    calls = []

    def read_once():
        calls.append(1)
        if len(calls) == 1:
            raise _protocol_error()
        return "read"

    assert store._retrying(read_once) == "read" and len(calls) == 2
    store.close()


_CLOSE_UNDER_READERS = '''
import os, sys, tempfile, threading, time
from flowc.runtime.store import SQLiteStore, StoreError
unexpected = []
for _ in range(int(sys.argv[1])):
    s = SQLiteStore(os.path.join(tempfile.mkdtemp(), "s.db"))
    stop = threading.Event()
    def reader():
        while not stop.is_set():
            try:
                s.list_runs()
            except StoreError:
                return
            except Exception as e:
                unexpected.append(repr(e))
                return
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    time.sleep(0.005)
    s.close()
    stop.set()
    for t in readers:
        t.join()
print("unexpected:", unexpected[:1], "done")
'''


def test_closing_a_store_while_other_threads_read_it_never_crashes_the_process(tmp_path):
    """Seen in the suite: a leaked heartbeat thread was inside SQLite when the test's store was
    closed, and close() closed that thread's connection under it: a segfault took the whole
    worker down. Each reader now gets StoreError ("closed") and the process lives."""
    script = tmp_path / "close_under_readers.py"
    script.write_text(_CLOSE_UNDER_READERS)
    done = subprocess.run([sys.executable, str(script), "60"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "unexpected: [] done" in done.stdout, done.stdout


def test_a_heartbeat_left_running_ends_when_its_store_is_closed(tmp_path):
    """An engine that is never closed leaves its heartbeat thread behind; once the store is
    closed the thread ends instead of warning every tick for the life of the process."""
    from flowc.runtime.heartbeat import Heartbeat

    store = SQLiteStore(tmp_path / "s.db")
    beat = Heartbeat(store, "w1", 1.0)
    with beat.hold("r-1", 1), beat.working("r-1"):
        thread = beat._thread
        assert thread is not None and thread.is_alive()
        store.close()
        thread.join(30)
        assert not thread.is_alive()
