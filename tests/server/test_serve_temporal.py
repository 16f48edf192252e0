"""`flowc serve --engine temporal`: runs started through the API are Temporal workflows (run by
`flowc worker --engine temporal` processes on a PostgreSQL store shared with the server, a
real dev server: tests/temporalkit.py); decisions through the API and the review page are the
workflows' updates; a decision the store refuses (who may decide) changes nothing; the
server's own embedded worker leaves those runs alone."""

from __future__ import annotations

import uuid

import httpx
from servekit import run_status, serving, start_paused, token_for
from temporalkit import Worker

FLOW = '''flow gate version "1.0.0"
  "One approval, then a computed figure."

input amount: float

node review = await human(to: role("support_lead"), show: [amount],
                          edit: { amount: float = amount }, actions: [approve, edit, reject],
                          timeout: 48h -> reject)

node doubled: float = code python(a: review.amount) """
result = a * 2
"""

output decision: str? = review.outcome
output twice: float? = doubled
'''

def _project(tmp_path, name: str, text: str):
    project = tmp_path / "project"
    project.mkdir()
    (project / name).write_text(text)
    return project


def _on_temporal(server, prefix: str) -> tuple[str, dict]:
    """A task queue of the test's own, and the ServeConfig.temporal that starts runs on it."""
    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return queue, {"address": server.address, "namespace": "default", "task_queue": queue,
                   "heartbeat": 5.0}


PEOPLE = [("carla", ["support_lead"], "carla-pw", None), ("dev", ["engineer"], "dev-pw", None)]


def test_serve_starts_and_decides_runs_on_temporal(tmp_path, temporal_server, pg_cluster):
    project = _project(tmp_path, "gate.flow", FLOW)
    url = pg_cluster.fresh_database()
    queue, temporal = _on_temporal(temporal_server, "serve")
    try:
        with serving(project, url, people=PEOPLE, temporal=temporal) as (base, service), \
                Worker(temporal_server.address, queue, url, project, log=tmp_path / "w1.log"), \
                Worker(temporal_server.address, queue, url, project, log=tmp_path / "w2.log"):
            carla = {"authorization": f"Bearer {token_for(service, 'carla')}"}
            dev = {"authorization": f"Bearer {token_for(service, 'dev')}"}
            run_id = start_paused(base, service, carla, "gate", {"amount": 7})
            assert service.store.run_engine(run_id)["task_queue"] == queue
            (task,) = service.store.list_tasks("pending", run_id=run_id)
            # not theirs to decide: refused by the store's check, nothing recorded
            r = httpx.post(base + f"/api/tasks/{task.id}/decision", headers=dev,
                           json={"action": "approve"}, timeout=120)
            assert r.status_code == 403, r.text
            assert service.store.get_task(task.id).status == "pending"
            # a value that does not fit its field: refused before it reaches the workflow
            r = httpx.post(base + f"/api/tasks/{task.id}/decision", headers=carla,
                           json={"action": "edit", "values": {"amount": "lots"}}, timeout=120)
            assert r.status_code == 400, r.text
            r = httpx.post(base + f"/api/tasks/{task.id}/decision", headers=carla,
                           json={"action": "edit", "values": {"amount": 10.5}}, timeout=120)
            assert r.status_code == 200, r.text
            run = run_status(service, run_id, "succeeded", "failed")
            assert run.outputs == {"decision": "edited", "twice": 21.0}, run.error
            r = httpx.post(base + f"/api/tasks/{task.id}/decision", headers=carla,
                           json={"action": "approve"}, timeout=120)
            assert r.status_code == 409, r.text
            decided = [e for e in service.store.audit_events(run_id) if e.kind == "task.decided"]
            assert len(decided) == 1 and decided[0].actor == "carla"
            assert service.store.verify_audit(run_id).ok
    finally:
        pg_cluster.drop(url)


AUTO = '''flow auto version "1.0.0"
  "No input, no person."

node n: int = code python(a: 41) """
result = a + 1
"""

output answer: int = n
'''


def _advance_attempt(server, run_id: str) -> int:
    """The attempt number of the workflow's pending `flowc.advance` (0: none pending)."""
    import asyncio

    async def go():
        from temporalio.client import Client

        client = await Client.connect(server.address)
        d = await client.get_workflow_handle(f"flowc-run-{run_id}").describe()
        return max((a.attempt for a in d.raw_description.pending_activities
                    if a.activity_type.name == "flowc.advance"), default=0)
    return asyncio.run(go())


def test_a_scheduled_start_commits_after_its_workflow_started(tmp_path, temporal_server):
    """The scheduler starts a run inside its tick's transaction: the workflow is started
    before the run is committed. Its first advance finds no run and tries again; once the
    transaction commits, the run goes to its end."""
    import time
    from types import SimpleNamespace

    from servekit import wait_for

    project = _project(tmp_path, "auto.flow", AUTO)
    store = tmp_path / "runs.db"
    queue, temporal = _on_temporal(temporal_server, "sched")
    with serving(project, store, temporal=temporal) as (_, service), \
            Worker(temporal_server.address, queue, str(store), project,
                   log=tmp_path / "w.log") as worker:
        with service.store.transaction():
            run_id = service._scheduled_start(SimpleNamespace(flow="auto"), 0.0)
            wait_for(lambda: _advance_attempt(temporal_server, run_id) >= 2,
                     "the worker's first advance to miss the run")
            time.sleep(0.2)
        assert "Traceback" not in worker.log.read_text()  # an expected retry, not a failure
        run = run_status(service, run_id, "succeeded", "failed")
        assert run.status == "succeeded" and run.outputs == {"answer": 42}, run.error


def test_the_review_page_decides_a_run_on_temporal(tmp_path, temporal_server):
    """A person signs in, opens the review page of a task of a run on Temporal and posts the
    form: the decision is the workflow's update, the run ends; the same form posted again is
    refused (409), and nothing is decided twice."""
    from servekit import csrf_of, form_id_of, signed_in

    project = _project(tmp_path, "gate.flow", FLOW)
    store = tmp_path / "runs.db"
    queue, temporal = _on_temporal(temporal_server, "page")
    with serving(project, store, people=PEOPLE, temporal=temporal) as (base, service), \
            Worker(temporal_server.address, queue, str(store), project, log=tmp_path / "w.log"):
        carla = {"authorization": f"Bearer {token_for(service, 'carla')}"}
        run_id = start_paused(base, service, carla, "gate", {"amount": 3})
        (task,) = service.store.list_tasks("pending", run_id=run_id)
        page_client = signed_in(base, "carla", "carla-pw")
        page = page_client.get(f"/review/{task.id}")
        assert page.status_code == 200
        form = {"csrf": csrf_of(page.text), "form_id": form_id_of(page.text),
                "action": "approve"}
        r = page_client.post(f"/review/{task.id}", data=form)
        assert r.status_code == 303, r.text[:500]
        run = run_status(service, run_id, "succeeded", "failed")
        assert run.outputs == {"decision": "approved", "twice": 6.0}, run.error
        r = page_client.post(f"/review/{task.id}", data=form)
        assert r.status_code == 409
        decided = [e for e in service.store.audit_events(run_id) if e.kind == "task.decided"]
        assert len(decided) == 1 and decided[0].actor == "carla"
