"""`flowc serve` on a PostgreSQL store (a real server, tests/pgkit.py): a run started through
the API pauses at its gate and ends after a decision, with its trail intact; two servers on
the same database, each deciding the same task at once: exactly one decision is recorded."""

from __future__ import annotations

import threading

import httpx
from servekit import run_status, serving, start_paused, token_for

FLOW = '''flow gate version "1.0.0"
  "One approval."

input amount: float

node review = await human(to: role("support_lead"), show: [amount], actions: [approve, reject],
                          timeout: 48h -> reject)

output decision: str? = review.outcome
'''

PEOPLE = [("carla", ["support_lead"], "carla-pw", None), ("cleo", ["support_lead"], "cleo-pw",
                                                          None)]


def test_two_servers_on_one_postgres_database_decide_a_task_once(tmp_path, pg_cluster):
    project = tmp_path / "project"
    project.mkdir()
    (project / "gate.flow").write_text(FLOW)
    url = pg_cluster.fresh_database()
    try:
        with serving(project, url, people=PEOPLE) as (base_a, a), \
                serving(project, url, worker=False) as (base_b, b):
            ha = {"authorization": f"Bearer {token_for(a, 'carla')}"}
            hb = {"authorization": f"Bearer {token_for(b, 'cleo')}"}
            run_id = start_paused(base_a, a, ha, "gate", {"amount": 7})
            (task,) = b.store.list_tasks("pending", run_id=run_id)  # the other server sees it
            barrier = threading.Barrier(2)
            answers = {}

            def decide(name, base, headers, action):
                barrier.wait()
                answers[name] = httpx.post(base + f"/api/tasks/{task.id}/decision",
                                           headers=headers, json={"action": action},
                                           timeout=120)

            threads = [threading.Thread(target=decide, args=("a", base_a, ha, "approve")),
                       threading.Thread(target=decide, args=("b", base_b, hb, "reject"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            codes = sorted(r.status_code for r in answers.values())
            assert codes == [200, 409], {k: (v.status_code, v.text) for k, v in answers.items()}
            winner = next(k for k, v in answers.items() if v.status_code == 200)
            run = run_status(a, run_id, "succeeded")
            assert run.outputs["decision"] == {"a": "approved", "b": "rejected"}[winner]
            decided = [e for e in a.store.audit_events(run_id) if e.kind == "task.decided"]
            assert len(decided) == 1
            assert a.store.verify_audit(run_id).ok
    finally:
        pg_cluster.drop(url)
