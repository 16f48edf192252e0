"""Issue 13, finding 1: a kill right after one commit of a state change that belongs together
(a decision, an expiry, a run's creation, a sub-flow's end) must not leave a run stuck or its
audit trail short. Real `flowc` processes, killed with SIGKILL at a named commit point
(`FLOWC_FAULT`, runtime/faults.py); then `flowc worker` must finish the run, with every
event in the trail once and the chain intact."""

from __future__ import annotations

import time

from flowc_faultkit import KILLED, Flowc

GATE = '''flow g version "1.0.0"
input n: int
node review = await human(
  to:       user("ana"),
  show:     [n],
  timeout:  {timeout},
)
match review {{
  approved -> stop
  rejected -> stop
}}
output decision: str = review.outcome
output by: str = review.reviewer
'''

PARENT = '''flow parent version "1.0.0"
use flow "g.flow" as child
input n: int
node sub = flow child(n: n)
output decision: str = sub.decision
'''


def _paused(fc: Flowc, flow: str = "g.flow"):
    r = fc.run("run", flow, "--input", "n=7")
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    run = fc.top_runs()[0]
    task = fc.pending_task(run.id)
    assert task is not None
    return run, task


def test_kill_right_after_a_decision_commits_the_worker_finishes_the_run(tmp_path):
    with Flowc(tmp_path) as fc:
        fc.write("g.flow", GATE.format(timeout="48h -> reject"))
        run, task = _paused(fc)
        r = fc.run("resume", task.id, "--approve", "--as", "ana",
                   fault="Engine.decide/transaction:after")
        assert r.returncode == KILLED, r.stdout + r.stderr
        assert fc.store.get_task(task.id).status == "decided"
        fc.settle(run.id)
        done = fc.store.get_run(run.id)
        assert done.status == "succeeded" and done.outputs == {"decision": "approved",
                                                               "by": "ana"}
        assert fc.kinds(run.id) == {"run.started": 1, "gate.opened": 1, "task.decided": 1,
                                    "run.succeeded": 1}
        fc.assert_audit_ok(run.id)


def test_after_such_a_kill_a_second_resume_is_refused_and_continues_the_run(tmp_path):
    with Flowc(tmp_path) as fc:
        fc.write("g.flow", GATE.format(timeout="48h -> reject"))
        run, task = _paused(fc)
        r = fc.run("resume", task.id, "--approve", "--as", "ana",
                   fault="Engine.decide/transaction:after")
        assert r.returncode == KILLED, r.stdout + r.stderr
        again = fc.run("resume", task.id, "--reject", "--as", "ana")
        assert again.returncode == 1, again.stdout + again.stderr
        assert "already decided by ana; the first decision stands" in again.stderr
        done = fc.store.get_run(run.id)
        assert done.status == "succeeded" and done.outputs["decision"] == "approved"
        assert fc.kinds(run.id)["task.decided"] == 1
        fc.assert_audit_ok(run.id)


def test_kill_right_after_a_timeout_commits_the_worker_finishes_the_run(tmp_path):
    with Flowc(tmp_path) as fc:
        fc.write("g.flow", GATE.format(timeout="1s -> approve"))
        run, task = _paused(fc)
        while time.time() <= task.deadline:  # its deadline passes
            time.sleep(0.1)
        r = fc.run("worker", "--once", fault="Engine._time_out/transaction:after")
        assert r.returncode == KILLED, r.stdout + r.stderr
        assert fc.store.get_task(task.id).status == "timed_out"
        fc.settle(run.id)
        done = fc.store.get_run(run.id)
        assert done.status == "succeeded" and done.outputs["decision"] == "approved"
        assert fc.kinds(run.id) == {"run.started": 1, "gate.opened": 1, "task.timed_out": 1,
                                    "run.succeeded": 1}
        fc.assert_audit_ok(run.id)


def test_kill_right_after_a_replay_creates_its_run_leaves_no_run_without_its_start(tmp_path):
    with Flowc(tmp_path) as fc:
        fc.write("g.flow", GATE.format(timeout="48h -> reject"))
        run, task = _paused(fc)
        assert fc.run("resume", task.id, "--approve", "--as", "ana").returncode == 0
        r = fc.run("replay", run.id, "--from", "review", fault="Engine.replay/transaction:after")
        assert r.returncode == KILLED, r.stdout + r.stderr
        runs = fc.top_runs()
        assert len(runs) == 2, [(x.id, x.status) for x in runs]
        new = next(x for x in runs if x.id != run.id)
        fc.settle(new.id, decide=True)
        assert fc.store.get_run(new.id).status == "succeeded"
        assert fc.kinds(new.id)["run.started"] == 1
        fc.assert_audit_ok(new.id)


def test_kill_right_after_a_sub_flow_ends_the_worker_finishes_its_parent(tmp_path):
    with Flowc(tmp_path) as fc:
        fc.write("g.flow", GATE.format(timeout="48h -> reject"))
        fc.write("parent.flow", PARENT)
        run, task = _paused(fc, "parent.flow")
        assert task.run_id != run.id  # the gate is the child's
        r = fc.run("resume", task.id, "--approve", "--as", "ana",
                   fault="Engine._finish_run/transaction:after")
        assert r.returncode == KILLED, r.stdout + r.stderr
        assert fc.store.get_run(task.run_id).status == "succeeded"
        fc.settle(run.id)
        done = fc.store.get_run(run.id)
        assert done.status == "succeeded" and done.outputs == {"decision": "approved"}
        fc.assert_audit_ok(run.id)


PASSING_CHILD = '''flow c version "1.0.0"
input n: int
node pass = await human(
  to:       user("ana"),
  timeout:  48h -> reject,
  when:     n > 100,
)
match pass {
  approved -> stop
  rejected -> stop
}
output by: str = pass.reviewer
'''

CALLER = '''flow p version "1.0.0"
use flow "c.flow" as child
input n: int
node sub = flow child(n: n)
node after = await human(
  to:       user("ana"),
  show:     [sub.by],
  timeout:  48h -> reject,
  when:     n > 100,
)
match after {
  approved -> stop
  rejected -> stop
}
output by: str = after.reviewer
'''


def test_a_sub_flow_that_ends_inside_its_parents_pass_does_not_run_the_parent_twice(tmp_path):
    """The sub-flow ends while its parent's pass is running it: the parent's next nodes
    run once and it ends once (it used to be advanced a second time from inside the
    sub-flow's end: every later node and the run's end twice)."""
    with Flowc(tmp_path) as fc:
        fc.write("c.flow", PASSING_CHILD)
        fc.write("p.flow", CALLER)
        r = fc.run("run", "p.flow", "--input", "n=1")
        assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr
        run = fc.top_runs()[0]
        assert [e.kind for e in fc.store.audit_events(run.id) if e.kind != "node.result"] == [
            "run.started", "gate.passed", "run.succeeded"]
        assert fc.node_results_once(run.id)
        fc.assert_audit_ok(run.id)
