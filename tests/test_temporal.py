"""The Temporal engine end to end, against a real `temporal server start-dev` (temporalkit) and
real `flowc` processes: `flowc run --engine temporal`, `flowc worker --engine temporal`,
`flowc resume`, `flowc cancel`, and the store the CLI reads as for embedded runs.

- every example flow runs to the same outputs and the same audit trail (kinds, actors, nodes,
  statuses, outcomes, decisions) as on the embedded engine, its gates decided through the CLI;
- Temporal's replayer replays the recorded history of each of those workflows;
- a decision that does not fit the form is refused by the update's validator and never enters
  the workflow's history;
- a gate's timeout and an escalation step fire from durable timers (no embedded worker runs);
- a cancelled run ends its workflow; a wrong address is one line and stores nothing.

The crash trials (workers killed with SIGKILL while runs are in flight) are in
tests/test_temporal_crash.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flowc_testkit import wait_for
from temporalio import workflow
from temporalkit import Worker

from flowc.runtime.validate import file_value

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _holdings():
    return file_value(str(EXAMPLES / "client_report" / "data" / "holdings.csv"))


# name -> (flow, inputs, people {user: [roles]}, decisions in the order tasks open:
# (node, CLI arguments, who))
CASES = {
    "refund_approval": (
        "refund_approval/refund_approval.flow",
        ['order={"id": "A-1", "amount": 80, "reason": "damaged box"}'],
        {"lead": ["support_lead"]}, [("review", ["--edit", "refund=75.5"], "lead")]),
    "client_report": (
        "client_report/client_report.flow",
        ['client={"id": "C-104", "name": "Ada Lovelace", "email": "ada@example.com", '
         '"currency": "EUR"}', "holdings=@examples/client_report/data/holdings.csv",
         "month=2026-10"],
        {"carla": ["compliance"]}, [("review", ["--approve"], "carla")]),
    "all_clients": (
        "client_report/all_clients.flow",
        ["accounts=" + json.dumps([
            {"client": {"id": cid, "name": "Ada Lovelace", "email": email, "currency": "EUR"},
             "holdings": "HOLDINGS"}
            for cid, email in (("C-104", "ada@example.com"),
                               ("C-104-P", "ada.pension@example.com"))]), "month=2026-10"],
        {"carla": ["compliance"]},
        [("review", ["--approve"], "carla"), ("review", ["--approve"], "carla")]),
    "support_router": (
        "support_router/support_router.flow",
        ["request=" + json.dumps({"employee": "wei.zhang", "office": None, "message": (
            "I took a taxi to the airport and back for the Suzhou client visit, CNY 340 in "
            "total, paid with my own card. How do I claim it back?")})],
        {}, [("where", ["--answer", "shanghai"], "wei.zhang")]),
    "complaint": (
        "ecommerce/complaint.flow",
        ['customer={"name": "Jonas Weber", "email": "jonas.weber@example.com", '
         '"ticket_id": "T-88412"}',
         "message=Unacceptable. This is the third time my order #A-1877 arrived with a "
         "cracked grinder hopper, and the box was crushed again. Honestly disappointed; I "
         "want this sorted properly.",
         'history=["2 June: hopper cracked on arrival, replacement hopper sent.", '
         '"9 June: replacement arrived cracked too, box dented."]'],
        {"noor": ["team-lead"]}, [("escalation", ["--approve"], "noor")]),
    "shipping_inquiry": (
        "ecommerce/shipping_inquiry.flow",
        ['order={"id": "A-3310", "customer": "Lukas Brandt", "email": '
         '"lukas.brandt@example.com", "total": 37.74, "currency": "EUR", '
         '"delivered_on": null}', "tracking_number=3SDEVC4471233",
         "message=Where is my parcel? Order A-3310 was supposed to come on Monday and the "
         "tracking has not moved since."], {}, []),
    "data_pipeline": (
        "data_pipeline/data_pipeline.flow",
        ["sheet=@examples/data_pipeline/turnsheet.csv", "search_web=false"], {}, []),
}


def _inputs(case: str) -> list[str]:
    inputs = CASES[case][1]
    return [i.replace('"HOLDINGS"', json.dumps(_holdings())).replace(
        "=@examples/", f"=@{EXAMPLES}/") for i in inputs]


def _recording(flow: str) -> Path:
    path = EXAMPLES / flow
    return path.parent / "recordings" / f"{path.stem}.jsonl"


class Side:
    """One engine's side: a store in a folder of its own, `flowc` commands on it."""

    def __init__(self, folder: Path, env: dict | None = None, url: str | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.store_path = folder / "runs.db"
        self.url = url  # a PostgreSQL database instead of the file (commands run in `folder`)
        self.env = {**os.environ, "FLOWC_STORE": url or str(self.store_path), **(env or {})}
        for name in ("FLOWC_FAULT", "FLOWC_FAULT_LOG", "FLOWC_ENGINE"):
            self.env.pop(name, None)

    @property
    def where(self) -> str:
        return self.url or str(self.store_path)

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        got = subprocess.run([sys.executable, "-m", "flowc", *args],
                             cwd=self.folder if self.url else ROOT, env=self.env,
                             capture_output=True, text=True, timeout=600)
        if ok:
            assert got.returncode == 0, f"flowc {' '.join(args)}: {got.stdout}{got.stderr}"
        return got

    def store(self):
        from flowc.runtime.store import open_store

        return open_store(self.where)

    def pending(self) -> list:
        with contextlib.closing(self.store()) as s:
            return sorted(s.list_tasks(status="pending", limit=None),
                          key=lambda t: (t.created_at, t.id))

    def top(self):
        with contextlib.closing(self.store()) as s:
            return [r for r in s.list_runs(limit=1000) if r.parent_run_id is None]


def _drive(side: Side, case: str, *extra: str) -> str:
    """Run the case to its end through the CLI, deciding its tasks as they open."""
    flow, _, people, decisions = CASES[case]
    recording = _recording(flow)
    replay = ["--replay", str(recording)] if recording.exists() else []
    for user, roles in people.items():
        side("people", user, *roles)
    side("run", str(EXAMPLES / flow), *replay, *extra,
         *[a for i in _inputs(case) for a in ("--input", i)])
    for node, args, who in decisions:
        tasks = side.pending()
        assert tasks and tasks[0].node_id == node, [(t.node_id, t.status) for t in tasks]
        side("resume", tasks[0].id, *args, "--as", who, *replay)
    [run] = side.top()
    return run.id


def _trail(side: Side, run_id: str) -> list:
    """The audit trails of a run and its sub-flow runs, in a form both engines must share:
    kinds, actors, nodes, statuses, outcomes and decisions (not ids, times or hashes)."""
    out = []
    with contextlib.closing(side.store()) as s:
        runs = [s.get_run(run_id)]
        runs += sorted((r for r in s.list_runs(limit=1000) if r.parent_run_id == run_id),
                       key=lambda r: r.created_at)
        for run in runs:
            trail = []
            for e in s.audit_events(run.id):
                p = e.payload if isinstance(e.payload, dict) else {}
                decision = p.get("decision") if e.kind == "task.decided" else None
                trail.append((e.kind, e.actor, p.get("node"), p.get("status"),
                              p.get("outcome"), json.dumps(decision, sort_keys=True)))
            out.append((run.status, sorted(trail)))
    return out


def _outputs(side: Side, run_id: str):
    with contextlib.closing(side.store()) as s:
        run = s.get_run(run_id)
        return run.status, _stable(run.outputs)


def _stable(value, key=None):
    """Outputs without what differs by run: an external effect's key, generated ids (RF-...),
    where a file is kept (its name, size and sha256 stay)."""
    import re

    if isinstance(value, dict):
        return {k: _stable(v, k) for k, v in value.items()
                if not ("file_id" in value and k in ("file_id", "path"))}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, str):
        if key == "key" and re.fullmatch(r"[0-9a-f]{32}", value):
            return "K"
        return re.sub(r"(RF|HD|CD)-[0-9A-Za-z]+", r"\1-X", value)
    return value


@pytest.fixture(scope="module")
def examples_on_both(temporal_server, pg_cluster, tmp_path_factory):
    """Every case run on the embedded engine (a SQLite file) and on Temporal with its store in
    PostgreSQL, as in production (a worker per recording: each replays its own model
    exchanges). {case: (embedded side, run, temporal side, run)}."""
    root = tmp_path_factory.mktemp("engines")
    out = {}
    urls = []
    for case, (flow, *_rest) in CASES.items():
        embedded = Side(root / case / "embedded")
        run_e = _drive(embedded, case)
        queue = f"examples-{case}-{uuid.uuid4().hex[:6]}"
        urls.append(pg_cluster.fresh_database())
        temporal = Side(root / case / "temporal", {"FLOWC_TEMPORAL": temporal_server.address},
                        url=urls[-1])
        recording = _recording(flow)
        replay = ["--replay", str(recording)] if recording.exists() else []
        with Worker(temporal_server.address, queue, temporal.where, EXAMPLES, *replay,
                    "--workspace", str(temporal.folder / ".flowc" / "workspace"),
                    log=temporal.folder / "worker.log"):
            run_t = _drive(temporal, case, "--engine", "temporal", "--task-queue", queue)
        out[case] = (embedded, run_e, temporal, run_t)
    yield out
    for url in urls:
        pg_cluster.drop(url)


@pytest.mark.parametrize("case", sorted(CASES))
def test_example_runs_to_the_same_outputs_and_audit_on_temporal(examples_on_both, case):
    embedded, run_e, temporal, run_t = examples_on_both[case]
    assert _outputs(temporal, run_t) == _outputs(embedded, run_e)
    assert _outputs(temporal, run_t)[0] == "succeeded"
    assert _trail(temporal, run_t) == _trail(embedded, run_e)
    with contextlib.closing(temporal.store()) as s:
        bound = s.run_engine(run_t)
        assert bound is not None and bound["engine"] == "temporal"
        assert temporal.env["FLOWC_TEMPORAL"] == bound["address"]
        assert s.dialect == "postgresql"
    got = temporal("audit", run_t, "--verify")
    assert "intact" in got.stdout
    # the trace (nodes, model exchanges, tokens) landed in the store as on the embedded side
    assert _traced(temporal, run_t) == _traced(embedded, run_e)


def _traced(side: Side, run_id: str):
    """What a run's trace says, without times or ids: each node (and item, and a sub-flow's
    nodes) with its kind, status, outcome, attempts, model, tokens, cost and model calls."""
    data = json.loads(side("trace", run_id, "--format", "json").stdout)
    out = []

    def walk(run, depth):
        for n in run.get("nodes", []):
            out.append((depth, n["id"], n["item"], n["kind"], n["status"], n["outcome"],
                        n["attempts"], n["model"], n["prompt_tokens"], n["completion_tokens"],
                        n["cost"], n["calls"], len(n["model_calls"])))
            for item in n.get("items") or []:
                if isinstance(item, dict) and "nodes" in item:
                    walk(item, depth + 1)
            if isinstance(n.get("child_run"), dict):
                walk(n["child_run"], depth + 1)
    walk(data["run"], 0)
    assert out, data
    return sorted(out, key=repr)


def test_replayer_replays_every_example_workflow(examples_on_both, temporal_server):
    """Determinism: each workflow's recorded history replays on the workflow code as it is."""
    from temporalio.worker import Replayer

    from flowc.runtime.temporal.workflow import FlowcRun

    histories = []
    for case, (_, _, _temporal, run_t) in examples_on_both.items():
        found = temporal_server.histories(f"WorkflowId = 'flowc-run-{run_t}'")
        assert len(found) == 1, case
        kinds = {e.event_type for e in found[0].events}
        assert len(kinds) > 3
        histories.append(found[0])

    async def replay():
        replayer = Replayer(workflows=[FlowcRun])
        out = {}
        for history in histories:
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            out[history.workflow_id] = result.replay_failure
        return out
    results = asyncio.run(replay())
    assert len(results) == len(CASES)
    assert {wid: str(err) for wid, err in results.items() if err is not None} == {}


@workflow.defn(name="flowc.run", sandboxed=False)
class Changed:
    """A workflow of the same name that schedules another activity first."""

    @workflow.run
    async def run(self, arg: dict) -> dict:
        await workflow.execute_activity("flowc.other", arg,
                                        start_to_close_timeout=timedelta(seconds=5))
        return {}


def test_the_replayer_notices_a_workflow_that_changed(examples_on_both, temporal_server):
    """The replay check can fail: a workflow that schedules another activity first does not
    replay the recorded histories."""
    from temporalio.worker import Replayer

    _, _, _, run_t = examples_on_both["refund_approval"]
    [history] = temporal_server.histories(f"WorkflowId = 'flowc-run-{run_t}'")

    async def replay():
        return await Replayer(workflows=[Changed]).replay_workflow(
            history, raise_on_replay_failure=False)
    assert asyncio.run(replay()).replay_failure is not None


# ---- gates on Temporal --------------------------------------------------------------------

GATED = '''flow gated version "1.0.0"
input n: int
node review = await human(
  to:       user("ana"),
  show:     [n],
  edit:     {{ amount: float = 1.5 }},
  actions:  [approve, edit, reject],
  timeout:  {timeout},{escalate}
)
match review {{
  approved | edited -> done
  rejected -> stop
}}
node done: float = code python(a: review.amount) """
result = a * 2
"""
output amount: float? = done
output decision: str = review.outcome
'''


@pytest.fixture()
def gated(temporal_server, tmp_path):
    """A folder with the gated flow, its side, and a worker on a queue of its own."""
    def make(timeout="1h -> reject", escalate=""):
        flow = tmp_path / "gated.flow"
        flow.write_text(GATED.format(timeout=timeout, escalate=escalate))
        side = Side(tmp_path / "side", {"FLOWC_TEMPORAL": temporal_server.address})
        queue = f"gated-{uuid.uuid4().hex[:8]}"
        worker = Worker(temporal_server.address, queue, str(side.store_path), tmp_path,
                        log=tmp_path / "worker.log").wait_ready()
        stack.callback(worker.stop)
        return flow, side, queue
    with contextlib.ExitStack() as stack:
        yield make


def _history(server, run_id: str):
    [history] = server.histories(f"WorkflowId = 'flowc-run-{run_id}'")
    return history


def _event_names(history) -> list[str]:
    from temporalio.api.enums.v1 import EventType

    return [EventType.Name(e.event_type) for e in history.events]


def _wait(what):
    return wait_for(what, "the awaited state")


def test_a_decision_that_does_not_fit_is_refused_before_it_enters_history(gated,
                                                                           temporal_server):
    flow, side, queue = gated()
    side("run", str(flow), "--engine", "temporal", "--task-queue", queue, "--input", "n=3")
    [task] = side.pending()
    [run] = side.top()
    from flowc.runtime.temporal import workflow_id

    client = temporal_server.client()

    async def update(arg):
        from temporalio.client import WorkflowUpdateFailedError

        handle = client.get_workflow_handle(workflow_id(run.id))
        try:
            await handle.execute_update("decide", arg)
        except WorkflowUpdateFailedError as e:
            return str(e.cause.message if e.cause else e)
        return None

    bad = [
        {"task": task.id, "action": "edit", "by": "ana", "values": {"amount": "lots"}},
        {"task": task.id, "action": "edit", "by": "ana", "values": {"nope": 1}},
        {"task": task.id, "action": "ship", "by": "ana"},
        {"task": "zzzzzzzzzz", "action": "approve", "by": "ana"},
        {"task": task.id, "action": "approve", "by": ""},
        {"task": task.id, "action": "approve", "by": "ana", "roles": "admin"},
        "not a map",
    ]
    for arg in bad:
        refused = asyncio.run(update(arg))
        assert refused, arg
    names = _event_names(_history(temporal_server, run.id))
    assert not [n for n in names if "UPDATE" in n], names  # none entered the history
    assert names.count("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED") == 1  # the first advance only
    assert side.pending()[0].status == "pending"
    # through the CLI: a value the CLI's own check lets through is checked again in the store
    got = side("resume", task.id, "--approve", "--as", "bob", ok=False)
    assert got.returncode == 1 and "bob may not decide" in got.stderr
    assert "Traceback" not in got.stderr
    got = side("resume", task.id, "--edit", "amount=4", "--as", "ana")
    assert "run " in got.stdout and "succeeded" in got.stdout
    assert '"amount": 8' in got.stdout and '"decision": "edited"' in got.stdout
    got = side("resume", task.id, "--approve", "--as", "ana", ok=False)
    assert got.returncode == 1 and "already decided by ana" in got.stderr


def test_a_gate_timeout_fires_from_a_durable_timer(gated, temporal_server):
    flow, side, queue = gated(timeout="1s -> reject")
    side("run", str(flow), "--engine", "temporal", "--task-queue", queue, "--input", "n=3")
    [run] = side.top()
    done = _wait(lambda: [r for r in side.top() if r.status == "succeeded"])
    assert done[0].outputs == {"amount": None, "decision": "rejected"}
    with contextlib.closing(side.store()) as s:
        kinds = [e.kind for e in s.audit_events(run.id)]
    assert "task.timed_out" in kinds and "task.decided" not in kinds
    names = _event_names(_history(temporal_server, run.id))
    assert "EVENT_TYPE_TIMER_STARTED" in names and "EVENT_TYPE_TIMER_FIRED" in names


def test_an_escalation_step_fires_from_a_durable_timer(gated, temporal_server):
    flow, side, queue = gated(escalate='\n  escalate: 1s -> role("lead"),')
    side("run", str(flow), "--engine", "temporal", "--task-queue", queue, "--input", "n=3")
    [run] = side.top()

    def escalated():
        with contextlib.closing(side.store()) as s:
            return [e for e in s.audit_events(run.id) if e.kind == "task.escalated"]
    [event] = _wait(escalated)
    assert event.payload["step"] == 1
    [task] = side.pending()
    assert {"kind": "role", "name": "lead"} in [dict(a) for a in task.assignees]
    side("people", "lee", "lead")
    got = side("resume", task.id, "--approve", "--as", "lee")
    assert "succeeded" in got.stdout


def test_the_embedded_worker_leaves_a_temporal_run_alone(temporal_server, tmp_path):
    """A run on Temporal is its workflow's: `flowc worker --once` (the embedded worker) neither
    claims it while no Temporal worker has taken it, nor times its gate out past the deadline;
    the durable timer does, once a Temporal worker polls the run's queue."""
    flow = tmp_path / "gated.flow"
    flow.write_text(GATED.format(timeout="1s -> reject", escalate=""))
    side = Side(tmp_path / "side", {"FLOWC_TEMPORAL": temporal_server.address})
    queue = f"later-{uuid.uuid4().hex[:8]}"
    waiting = subprocess.Popen(
        [sys.executable, "-m", "flowc", "run", str(flow), "--engine", "temporal",
         "--task-queue", queue, "--input", "n=3"], cwd=ROOT, env=side.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        [run] = _wait(lambda: side.store_path.exists() and side.top())
        assert run.status == "queued"
        side("worker", "--once")
        with contextlib.closing(side.store()) as s:
            assert s.get_run(run.id).status == "queued" and not s.node_results(run.id)
        with Worker(temporal_server.address, queue, str(side.store_path), tmp_path,
                    log=tmp_path / "worker.log"):
            out, err = waiting.communicate(timeout=300)
            assert waiting.returncode == 0, err
            assert "paused" in out or "succeeded" in out
            side("worker", "--once")  # past the deadline: still not the embedded worker's
            done = _wait(lambda: [r for r in side.top() if r.status == "succeeded"])
        assert done[0].outputs["decision"] == "rejected"
        with contextlib.closing(side.store()) as s:
            [timed_out] = [e for e in s.audit_events(run.id) if e.kind == "task.timed_out"]
        assert timed_out.actor == "flowc"
        names = _event_names(_history(temporal_server, run.id))
        assert "EVENT_TYPE_TIMER_FIRED" in names
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()


def test_cancel_ends_the_workflow(gated, temporal_server):
    flow, side, queue = gated()
    side("run", str(flow), "--engine", "temporal", "--task-queue", queue, "--input", "n=3")
    [run] = side.top()
    side("cancel", run.id)
    client = temporal_server.client()
    from flowc.runtime.temporal import workflow_id

    async def result():
        return await client.get_workflow_handle(workflow_id(run.id)).result()
    assert asyncio.run(asyncio.wait_for(result(), 120))["status"] == "cancelled"
    assert side.top()[0].status == "cancelled"


def test_an_unreachable_temporal_is_one_line_and_stores_nothing(tmp_path):
    flow = tmp_path / "gated.flow"
    flow.write_text(GATED.format(timeout="1h -> reject", escalate=""))
    side = Side(tmp_path / "side")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    got = side("run", str(flow), "--engine", "temporal", "--temporal", f"127.0.0.1:{port}",
               "--input", "n=3", ok=False)
    assert got.returncode == 1
    assert got.stderr.startswith("flowc: error: not run: cannot reach Temporal at 127.0.0.1:")
    assert len(got.stderr.strip().splitlines()) == 1 and "Traceback" not in got.stderr
    assert not side.store_path.exists() or side.top() == []
