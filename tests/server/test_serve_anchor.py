"""`flowc serve` anchors the runs it extends: with `[audit] anchor` in flowc.toml, the heads of
the runs started, decided and advanced through the server are appended to the anchor, as
`flowc run` and `flowc resume` do, so a store rolled back to an older copy is named by
`flowc audit verify --anchor` for those runs too; an anchor that cannot be written is
reported and caught up once it can."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import httpx
from servekit import run_status, serving, token_for, wait_for

FLOW = '''flow gate version "1.0.0"
  "One approval."

input amount: float

node review = await human(to: role("support_lead"), show: [amount], actions: [approve, reject],
                          timeout: 48h -> reject)

output decision: str? = review.outcome
'''

PEOPLE = [("carla", ["support_lead"], "carla-pw", None)]


def _heads(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _anchored_at(path, run_id):
    seqs = [h["seq"] for h in _heads(path) if h["run"] == run_id]
    return max(seqs, default=0)


def _flowc(*args, cwd):
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _start_and_decide(base, service):
    h = {"authorization": f"Bearer {token_for(service, 'carla')}"}
    r = httpx.post(base + "/api/flows/gate/runs", headers=h, json={"inputs": {"amount": 3}},
                   timeout=120)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    run_status(service, run_id, "paused")
    task = service.store.list_tasks("pending", run_id=run_id)[0]
    return run_id, task, h


def test_runs_started_and_decided_through_the_server_are_anchored(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "gate.flow").write_text(FLOW)
    (project / "flowc.toml").write_text('[audit]\nanchor = "audit/heads.jsonl"\n')
    heads = project / "audit" / "heads.jsonl"
    db = tmp_path / "runs.db"
    with serving(project, db, people=PEOPLE) as (base, service):
        run_id, task, h = _start_and_decide(base, service)
        paused_seq = service.store.audit_heads([run_id])[run_id][0]
        wait_for(lambda: _anchored_at(heads, run_id) >= paused_seq, "the paused run's head")
        older = tmp_path / "older.db"  # a copy of the store as it was at the pause
        with sqlite3.connect(db) as src, sqlite3.connect(older) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        r = httpx.post(base + f"/api/tasks/{task.id}/decision", headers=h,
                       json={"action": "approve"}, timeout=120)
        assert r.status_code == 200, r.text
        run_status(service, run_id, "succeeded")
        final = service.store.audit_heads([run_id])[run_id]
        wait_for(lambda: _anchored_at(heads, run_id) >= final[0], "the finished run's head")
    last = [x for x in _heads(heads) if x["run"] == run_id][-1]
    assert (last["seq"], last["head"]) == final
    # the store as it is verifies against the anchor; the older copy is named
    r = _flowc("audit", "verify", run_id, "--store", db, "--anchor", heads, cwd=tmp_path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = _flowc("audit", "verify", run_id, "--store", older, "--anchor", heads, cwd=tmp_path)
    assert r.returncode != 0 and "cut short or rolled back" in r.stdout + r.stderr, r


def test_an_anchor_that_cannot_be_written_is_reported_and_caught_up(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "gate.flow").write_text(FLOW)
    blocker = project / "audit"
    blocker.write_text("a file where the anchor's folder should be\n")
    (project / "flowc.toml").write_text('[audit]\nanchor = "audit/heads.jsonl"\n')
    with serving(project, tmp_path / "runs.db", people=PEOPLE) as (base, service):
        run_id, _task, _h = _start_and_decide(base, service)
        wait_for(lambda: any("not anchored" in line for line in service.log),
                 "the anchor failure to be reported")
        assert run_id in service._unanchored or service.store.get_run(run_id)
        blocker.unlink()  # the anchor can be written again: the pending heads go in
        head = service.store.audit_heads([run_id])[run_id]
        wait_for(lambda: _anchored_at(blocker / "heads.jsonl", run_id) >= head[0],
                 "the pending head to be anchored")
