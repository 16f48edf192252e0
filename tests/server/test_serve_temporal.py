"""`flowc serve --engine temporal`: runs started through the API are Temporal workflows (run by
`flowc worker --engine temporal` processes on a PostgreSQL store shared with the server, a
real dev server: tests/temporalkit.py); decisions through the API and the review page are the
workflows' updates; a decision the store refuses (who may decide) changes nothing; the
server's own embedded worker leaves those runs alone."""

from __future__ import annotations

import uuid

import httpx
from servekit import run_status, serving, token_for
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

PEOPLE = [("carla", ["support_lead"], "carla-pw", None), ("dev", ["engineer"], "dev-pw", None)]


def test_serve_starts_and_decides_runs_on_temporal(tmp_path, temporal_server, pg_cluster):
    project = tmp_path / "project"
    project.mkdir()
    (project / "gate.flow").write_text(FLOW)
    url = pg_cluster.fresh_database()
    queue = f"serve-{uuid.uuid4().hex[:8]}"
    temporal = {"address": temporal_server.address, "namespace": "default",
                "task_queue": queue, "heartbeat": 5.0}
    try:
        with serving(project, url, people=PEOPLE, temporal=temporal) as (base, service), \
                Worker(temporal_server.address, queue, url, project, log=tmp_path / "w1.log"), \
                Worker(temporal_server.address, queue, url, project, log=tmp_path / "w2.log"):
            carla = {"authorization": f"Bearer {token_for(service, 'carla')}"}
            dev = {"authorization": f"Bearer {token_for(service, 'dev')}"}
            r = httpx.post(base + "/api/flows/gate/runs", headers=carla,
                           json={"inputs": {"amount": 7}}, timeout=120)
            assert r.status_code == 201, r.text
            run_id = r.json()["id"]
            assert service.store.run_engine(run_id)["task_queue"] == queue
            run_status(service, run_id, "paused")
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
