"""Runs another engine orchestrates (Temporal): `bind_engine` records it in the run's creating
transaction (the engine binds a bound run's sub-flow runs too), and the embedded worker's queries (`claim_runs`,
`wake_runs`, `due_tasks`, `due_escalations`) leave such runs alone, on SQLite and (test.sh's
second pass) PostgreSQL."""

from __future__ import annotations

import pytest

PLAN = "p" * 64
PLAN_JSON = '{"flow": "f"}'
BOUND = dict(engine="temporal", workflow_id="flowc-run-X", address="127.0.0.1:7233",
             namespace="default", task_queue="flowc")


@pytest.fixture()
def runs(store):
    store.put_plan(PLAN, PLAN_JSON)
    with store.transaction():
        bound = store.create_run("f", PLAN, {})
        store.bind_engine(bound.id, **{**BOUND, "workflow_id": f"flowc-run-{bound.id}"})
    with store.transaction():  # a sub-flow run: bound by the engine to a workflow of its own
        child = store.create_run("f", PLAN, {}, parent_run_id=bound.id, parent_node_id="sub#-1")
        store.bind_engine(child.id, **{**BOUND, "workflow_id": f"flowc-run-{child.id}"})
    free = store.create_run("f", PLAN, {})
    return store, bound, child, free


def test_bound_runs_name_their_engine_and_workflow(runs):
    store, bound, child, free = runs
    assert store.run_engine(bound.id) == {**{k: v for k, v in BOUND.items()},
                                          "workflow_id": f"flowc-run-{bound.id}"}
    assert store.run_engine(child.id) == {**store.run_engine(bound.id),
                                          "workflow_id": f"flowc-run-{child.id}"}
    assert store.run_engine(free.id) is None
    assert store.run_engine("no-such-run") is None


def test_the_embedded_worker_claims_only_unbound_runs(runs):
    store, _bound, _child, free = runs
    claimed = store.claim_runs("worker-1", 60, limit=10)
    assert [r.id for r in claimed] == [free.id]


def test_the_embedded_timer_leaves_bound_tasks_alone(runs):
    store, bound, child, free = runs
    steps = [{"after": 1, "at": 5.0, "to": [{"kind": "role", "name": "lead"}]}]
    for run in (bound, child, free):
        store.create_task(run.id, "review", deadline=10.0, timeout_outcome="reject",
                          escalations=steps)
    assert [t.run_id for t in store.due_tasks(now=100.0)] == [free.id]
    assert [t.run_id for t in store.due_escalations(now=100.0)] == [free.id]


def test_wake_runs_leaves_bound_runs_paused(runs):
    store, bound, _child, free = runs
    for run in (bound, free):
        store.set_run_status(run.id, "paused")
        task = store.create_task(run.id, "review")
        store.finish_node(run.id, "review", -1, "waiting")
        store.decide_task(task.id, {"outcome": "approved"}, "ana")
    assert store.wake_runs() == [free.id]
    assert store.get_run(bound.id).status == "paused"


def test_a_run_is_bound_once(runs):
    store, bound, _child, _free = runs
    with pytest.raises(Exception):  # noqa: B017 - the store's integrity error, either dialect
        store.bind_engine(bound.id, **BOUND)
    assert store.run_engine(bound.id)["workflow_id"] == f"flowc-run-{bound.id}"
