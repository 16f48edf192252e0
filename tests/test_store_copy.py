"""`flowc store copy`: a SQLite store moved into an empty PostgreSQL database (a real server,
tests/pgkit.py) arrives as stored: every run's trail verifies there, a finished run has the
same outputs, a large value (kept once as a blob) reads back whole, and a paused run resumes
there to the end. A second copy into the same database is refused and changes nothing."""

from __future__ import annotations

import subprocess
import sys

from flowc_testkit import plan_of

FLOW = '''flow g version "1.0.0"
input note: str
input amount: float
node review = await human(to: role("lead"), show: [amount], actions: [approve, reject],
                          timeout: 24h -> reject, when: amount > 100.0)
output decision: str? = review.outcome
output echoed: str = note
'''


def _flowc(*args):
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_a_sqlite_store_moves_to_postgresql_and_its_runs_go_on_there(tmp_path, pg_cluster):
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore
    from flowc.runtime.store.pgstore import PostgresStore

    plan = plan_of(FLOW)
    big = "x" * 200_000  # stored once in `blobs`, referenced from the run's inputs
    src_path = tmp_path / "runs.db"
    src = SQLiteStore(str(src_path))
    try:
        engine = Engine(src)
        done = engine.start(plan, {"note": big, "amount": 5.0})
        paused = engine.start(plan, {"note": "later", "amount": 500.0})
        assert (done.status, paused.status) == ("succeeded", "paused")
        (task,) = src.list_tasks(run_id=paused.id)
        src_events = {r: len(src.audit_events(r)) for r in (done.id, paused.id)}
        done_outputs = src.get_run(done.id).outputs
        assert done_outputs["echoed"] == big
    finally:
        src.close()
    url = pg_cluster.fresh_database()
    try:
        r = _flowc("store", "copy", "--from", src_path, "--to", url)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert r.stdout.startswith("copied ") and "runs" in r.stdout
        dst = PostgresStore(url)
        try:
            for run_id, n in src_events.items():
                assert dst.verify_audit(run_id).ok, dst.verify_audit(run_id).problems
                assert len(dst.audit_events(run_id)) == n
            assert dst.get_run(done.id).outputs == done_outputs
            assert dst.get_run(done.id).inputs["note"] == big
            # the paused run resumes on PostgreSQL
            run = Engine(dst).decide(task.id, action="approve", by="ana", roles=("lead",))
            assert run.status == "succeeded" and run.outputs["decision"] == "approved"
            assert dst.verify_audit(paused.id).ok
            before = len(dst.audit_events(paused.id))
        finally:
            dst.close()
        # a second copy into it is refused in one line, and changes nothing
        r = _flowc("store", "copy", "--from", src_path, "--to", url)
        assert r.returncode == 1 and "nothing copied" in r.stderr, (r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
        dst = PostgresStore(url)
        try:
            assert len(dst.audit_events(paused.id)) == before
            assert len(dst.list_runs()) == 2
        finally:
            dst.close()
    finally:
        pg_cluster.drop(url)


def test_store_copy_refuses_what_it_cannot_copy(tmp_path):
    r = _flowc("store", "copy", "--from", tmp_path / "none.db", "--to", "postgresql://x@/y")
    assert r.returncode != 0 and "no SQLite store file" in r.stderr
    (tmp_path / "a.db").write_bytes(b"")
    r = _flowc("store", "copy", "--from", tmp_path / "a.db", "--to", tmp_path / "b.db")
    assert r.returncode != 0 and "postgresql://" in r.stderr
    assert "Traceback" not in r.stderr
