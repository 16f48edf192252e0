"""Issue 13, findings 3, 4 and 7: fenced leases, cancel that stops work in flight, SIGTERM.

Real `flowc` processes on a real store; a local HTTP server records what the nodes do (each
request's body), so every assertion is about what happened, never about how long it took
(waits have generous bounds only so that a broken build does not hang).
"""

from __future__ import annotations

import os
import signal
import time

from flowc_faultkit import KILLED, CountingServer, Flowc

# `one` tells the server it started, works for SLEEP seconds, tells it it ended; `two`
# (after it) tells the server it ran. Neither is keyed: a second execution shows.
SLOW = '''flow slow version "1.0.0"
input n: int
node one: int = code python(v: n) """
import asyncio, flowc_http
await flowc_http.post("http://{host}/x", body=f"one:start:{{v}}")
await asyncio.sleep({sleep})
await flowc_http.post("http://{host}/x", body=f"one:end:{{v}}")
result = v + 1
"""
  hosts ["{host}"]
  timeout 120s
node two: int = code python(v: one) """
import flowc_http
await flowc_http.post("http://{host}/x", body=f"two:{{v}}")
result = v * 2
"""
  hosts ["{host}"]
output total: int = two
'''

HANG = 900.0  # seconds: a hang guard only (a broken build must not hang the suite), never
#               a bound on how fast anything is: a loaded machine stays far below it


def _wait(proc, what: str) -> None:
    try:
        proc.wait(timeout=HANG)
    except Exception:
        proc.kill()
        raise AssertionError(f"{what} did not end") from None


def _until(cond, what: str) -> None:
    end = time.monotonic() + HANG
    while not cond():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        time.sleep(0.05)


def _freeze_outside_a_write(pid: int, db) -> None:
    """SIGSTOP `pid` at a moment it holds no write transaction on the store.

    SQLite has one writer at a time: a process frozen inside a write (a heartbeat renewing
    its lease is one) holds the lock for as long as it stays frozen, and every other process
    reports "still locked". That is SQLite's limit, not the lease's; what these tests try is
    a process frozen in its node's work, so they freeze it again until nothing is held."""
    import sqlite3

    end = time.monotonic() + HANG
    while True:
        os.kill(pid, signal.SIGSTOP)
        conn = sqlite3.connect(db, timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            assert time.monotonic() < end, "the process never left its write"
            time.sleep(0.02)
        finally:
            conn.close()


# -- finding 3: a heartbeat keeps the lease during a long node; a lost lease is fenced off

def test_a_node_longer_than_the_lease_runs_once_with_a_worker_watching(tmp_path):
    """A 1 s lease, a 5 s node, and a worker polling for runs to take over all along."""
    with CountingServer() as srv, Flowc(tmp_path, lease_seconds=1) as fc:
        fc.write("slow.flow", SLOW.format(host=srv.host, sleep=5))
        a = fc.start("run", "slow.flow", "--input", "n=1")
        assert srv.wait_for("one:start:1"), "the node never started"
        b = fc.start("worker", "--interval", "0.1", "--seconds", "8")
        _wait(a, "flowc run")
        _wait(b, "flowc worker")
        _out, err_a = a.communicate()
        assert a.returncode == 0, err_a
        assert srv.bodies.count("one:start:1") == 1, srv.bodies
        assert srv.bodies.count("two:2") == 1, srv.bodies
        run = fc.only_run()
        assert run.status == "succeeded" and run.outputs == {"total": 4}
        assert fc.kinds(run.id)["run.succeeded"] == 1
        fc.assert_audit_ok(run.id)


def test_a_process_that_lost_its_lease_stops_without_committing_or_acting(tmp_path):
    """`flowc run` is frozen (SIGSTOP) in a node until its lease lapses and a worker has
    finished the run; thawed, it must neither commit nor run the next node."""
    with CountingServer() as srv, Flowc(tmp_path, lease_seconds=1) as fc:
        fc.write("slow.flow", SLOW.format(host=srv.host, sleep=3))
        a = fc.start("run", "slow.flow", "--input", "n=1")
        try:
            assert srv.wait_for("one:start:1"), "the node never started"
            _freeze_outside_a_write(a.pid, fc.store_path)
            fc.lapse()
            got = fc.run("worker", "--once")
            assert got.returncode == 0, got.stderr
            run = fc.only_run()
            assert fc.store.get_run(run.id).status == "succeeded"
            events = [e.kind for e in fc.store.audit_events(run.id)]
        finally:
            os.kill(a.pid, signal.SIGCONT)
        _wait(a, "the thawed flowc run")
        assert srv.bodies.count("two:2") == 1, srv.bodies   # the worker's; not again
        assert [e.kind for e in fc.store.audit_events(run.id)] == events
        assert fc.kinds(run.id)["run.succeeded"] == 1
        fc.assert_audit_ok(run.id)


# -- finding 4: cancel stops work in flight

def test_cancel_stops_the_node_in_flight_and_the_run_ends_cancelled(tmp_path):
    with CountingServer() as srv, Flowc(tmp_path) as fc:
        fc.write("slow.flow", SLOW.format(host=srv.host, sleep=20))
        a = fc.start("run", "slow.flow", "--input", "n=1")
        assert srv.wait_for("one:start:1"), "the node never started"
        run = fc.only_run()
        got = fc.run("cancel", run.id, "--as", "ops")
        assert got.returncode == 0, got.stderr
        seen = len(srv.bodies)
        _wait(a, "flowc run after the cancel")
        assert len(srv.bodies) == seen, srv.bodies[seen:]   # nothing started after the cancel
        assert "one:end:1" not in srv.bodies and "two:2" not in srv.bodies
        done = fc.store.get_run(run.id)
        assert done.status == "cancelled", (done.status, done.error)
        kinds = fc.kinds(run.id)
        assert kinds["run.cancelled"] == 1 and "run.succeeded" not in kinds
        fc.assert_audit_ok(run.id)


def test_cancel_of_a_finished_run_is_refused_and_changes_nothing(tmp_path):
    with Flowc(tmp_path) as fc:
        fc.write("g.flow", GATE)
        assert fc.run("run", "g.flow").returncode == 0
        run = fc.only_run()
        assert fc.run("cancel", run.id).returncode == 0
        again = fc.run("cancel", run.id)
        assert again.returncode == 1 and "already cancelled" in again.stderr
        assert fc.kinds(run.id)["run.cancelled"] == 1
        assert fc.store.list_tasks(status="cancelled", run_id=run.id)


GATE = '''flow g version "1.0.0"
node review = await human(
  to:       user("ana"),
  timeout:  48h -> reject,
)
match review {
  approved -> stop
  rejected -> stop
}
output decision: str = review.outcome
'''


# -- finding 7: SIGTERM is handled like Ctrl-C: a message, the lease given back, exit 143

def _terminated(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _wait(proc, "flowc after SIGTERM")
    _out, err = proc.communicate()
    assert proc.returncode == 143, (proc.returncode, err)
    assert "terminated" in err and "Traceback" not in err, err
    return err


def test_sigterm_to_flowc_run_gives_the_lease_back(tmp_path):
    # the default lease (300 s): a worker can take the run over at once only if it was freed
    with CountingServer() as srv, Flowc(tmp_path, lease_seconds=300) as fc:
        fc.write("slow.flow", SLOW.format(host=srv.host, sleep=20))
        a = fc.start("run", "slow.flow", "--input", "n=1")
        assert srv.wait_for("one:start:1"), "the node never started"
        _terminated(a)
        run = fc.only_run()
        assert fc.store.get_run(run.id).lease_owner is None
        got = fc.run("worker", "--once")  # takes it over at once, and runs it to its end
        assert got.returncode == 0, got.stderr
        assert fc.store.get_run(run.id).status == "succeeded"


def test_sigterm_to_flowc_worker_gives_back_every_lease_it_took(tmp_path):
    with CountingServer() as srv, Flowc(tmp_path, lease_seconds=300) as fc:
        fc.write("slow.flow", SLOW.format(host=srv.host, sleep=20))
        for n in (1, 2):  # two runs created and left queued (the process died at once)
            got = fc.run("run", "slow.flow", "--input", f"n={n}",
                         fault="Engine.start/transaction:after")
            assert got.returncode == KILLED, got.stderr
        w = fc.start("worker", "--once")
        _until(lambda: any(b.startswith("one:start") for b in srv.bodies), "a node to start")
        _terminated(w)
        runs = fc.store.list_runs()
        assert len(runs) == 2 and all(r.lease_owner is None for r in runs), \
            [(r.id, r.status, r.lease_owner) for r in runs]


def test_sigterm_to_flowc_resume_gives_the_lease_back(tmp_path):
    flow = GATE_THEN_SLOW
    with CountingServer() as srv, Flowc(tmp_path, lease_seconds=300) as fc:
        fc.write("gs.flow", flow.format(host=srv.host))
        assert fc.run("run", "gs.flow").returncode == 0
        task = fc.pending_task()
        r = fc.start("resume", task.id, "--approve", "--as", "ana")
        assert srv.wait_for("slow:start"), "the node never started"
        _terminated(r)
        run = fc.only_run()
        assert fc.store.get_run(run.id).lease_owner is None
        assert fc.store.get_task(task.id).status == "decided"


GATE_THEN_SLOW = '''flow gs version "1.0.0"
node review = await human(
  to:       user("ana"),
  timeout:  48h -> reject,
)
node slow: int = code python() """
import asyncio, flowc_http
await flowc_http.post("http://{host}/x", body="slow:start")
await asyncio.sleep(20)
result = 1
"""
  hosts ["{host}"]
  timeout 120s
match review {{
  approved -> slow
  rejected -> stop
}}
output v: int? = slow
'''
