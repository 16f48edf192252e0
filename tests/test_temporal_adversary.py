"""An outside reviewer's attempts to break the Temporal engine's guarantees (docs/temporal.md):
hostile update payloads, races between decisions, kills at awkward moments, bad command
lines and environment values. Each test fails when the guarantee it names does not hold."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalkit import Worker
from test_temporal import GATED, ROOT, Side, _event_names, _history

from flowc.runtime.temporal import workflow_id

# ---- helpers ---------------------------------------------------------------------------------

HANG = 300  # seconds: every wait's bound against a hang (a busy machine only makes it longer)


def _deadline_wait(what, timeout=HANG, step=0.1):
    """`what()` once it holds, else its last value after `timeout` (at least HANG: a bound
    against a hang, never a speed claim)."""
    end = time.monotonic() + max(HANG, timeout)
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > end:
            return value
        time.sleep(step)


def _send(address: str, run_id: str, arg, *, raw: bytes | None = None, encoding=b"json/plain",
          timeout: float = 60.0, update_id: str | None = None):
    """Send one `decide` update; ("ok", result) or ("refused", message) or ("error", text)."""
    async def go():
        from temporalio.api.common.v1 import Payload
        from temporalio.client import Client, WorkflowUpdateFailedError
        from temporalio.common import RawValue

        client = await Client.connect(address)
        handle = client.get_workflow_handle(workflow_id(run_id))
        value = arg if raw is None else RawValue(Payload(metadata={"encoding": encoding},
                                                         data=raw))
        try:
            kw = {"id": update_id} if update_id else {}
            got = await asyncio.wait_for(handle.execute_update("decide", value, **kw), timeout)
            return ("ok", got)
        except WorkflowUpdateFailedError as e:
            return ("refused", str(e.cause.message if e.cause else e))
        except TimeoutError:
            return ("timeout", "")
        except Exception as e:
            return ("error", f"{type(e).__name__}: {e}"[:500])
    return asyncio.run(go())


def _failures(history) -> list[str]:
    """Workflow task failures: a workflow that cannot make progress."""
    return [n for n in _event_names(history) if n == "EVENT_TYPE_WORKFLOW_TASK_FAILED"]


def _wf_status(address: str, run_id: str) -> str:
    async def go():
        from temporalio.client import Client

        client = await Client.connect(address)
        d = await client.get_workflow_handle(workflow_id(run_id)).describe()
        return d.status.name if d.status else "?"
    return asyncio.run(go())


def _wf_result(address: str, run_id: str, timeout: float):
    async def go():
        from temporalio.client import Client

        client = await Client.connect(address)
        return await asyncio.wait_for(
            client.get_workflow_handle(workflow_id(run_id)).result(), timeout)
    try:
        return asyncio.run(go())
    except TimeoutError:
        return None


class Bench:
    """A folder with the gated flow, a store, and one Temporal worker on a queue of its own."""

    def __init__(self, server, folder: Path, timeout="1h -> reject", escalate="",
                 worker_env: dict | None = None, env: dict | None = None, start=True):
        self.server = server
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.flow = folder / "gated.flow"
        self.flow.write_text(GATED.format(timeout=timeout, escalate=escalate))
        self.side = Side(folder / "side", {"FLOWC_TEMPORAL": server.address, **(env or {})})
        self.queue = f"adv-{uuid.uuid4().hex[:8]}"
        self.worker_env = worker_env or {}
        self.workers: list[Worker] = []
        if start:
            self.start_worker()

    def start_worker(self, env: dict | None = None) -> Worker:
        w = Worker(self.server.address, self.queue, str(self.side.store_path), self.folder,
                   env={**self.worker_env, **(env or {})},
                   log=self.folder / f"worker-{len(self.workers)}.log")
        self.workers.append(w)
        return w

    def run(self, n=3) -> str:
        self.side("run", str(self.flow), "--engine", "temporal", "--task-queue", self.queue,
                  "--input", f"n={n}")
        with contextlib.closing(self.side.store()) as s:
            runs = [r for r in s.list_runs(limit=1000) if r.parent_run_id is None]
        return max(runs, key=lambda r: r.created_at).id

    def task(self, run_id):
        with contextlib.closing(self.side.store()) as s:
            [t] = s.list_tasks(status=None, run_id=run_id, limit=None)
            return t

    def get_run(self, run_id):
        with contextlib.closing(self.side.store()) as s:
            return s.get_run(run_id)

    def audit_kinds(self, run_id):
        with contextlib.closing(self.side.store()) as s:
            return [e.kind for e in s.audit_events(run_id)]

    def close(self):
        for w in self.workers:
            with contextlib.suppress(Exception):
                w.stop()


@pytest.fixture()
def bench(temporal_server, tmp_path):
    made: list[Bench] = []

    def make(**kw) -> Bench:
        b = Bench(temporal_server, tmp_path / f"b{len(made)}", **kw)
        made.append(b)
        for w in b.workers:
            w.wait_ready()
        return b
    yield make
    for b in made:
        b.close()


def _flowc(env: dict, *args: str, cwd=ROOT, timeout=HANG) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_clean_line(got: subprocess.CompletedProcess) -> None:
    assert got.returncode not in (0, None), got
    assert "Traceback" not in got.stderr, got.stderr[-3000:]
    lines = [ln for ln in got.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, got.stderr[-3000:]


# ---- 6. hostile values over the update ---------------------------------------------------------


def test_hostile_update_values_are_refused_and_never_block_the_workflow(bench, temporal_server):
    """Lone surrogates (in the task, the action, a field's name, the name), payloads that are
    not JSON, not a map, nested too deep, values of the wrong type: each refused, the workflow
    never fails a task, and a good decision still goes through."""
    b = bench()
    run = b.run()
    task = b.task(run)
    addr = temporal_server.address
    deep = b"[" * 1400 + b"]" * 1400
    cases = {
        "surrogate task": ({"task": "\ud800" + task.id, "action": "approve", "by": "ana"}, None),
        "surrogate action": ({"task": task.id, "action": "\udfff", "by": "ana"}, None),
        "surrogate field": ({"task": task.id, "action": "edit", "by": "ana",
                             "values": {"\ud800": 1}}, None),
        "surrogate value": ({"task": task.id, "action": "edit", "by": "ana",
                             "values": {"amount": "\ud800"}}, None),
        "surrogate reason": ({"task": task.id, "action": "approve", "by": "ana",
                              "reason": "\ud800"}, None),
        "not json": (None, b"{not json"),
        "json array": (None, b"[1, 2]"),
        "json null": (None, b"null"),
        "json number": (None, b"12"),
        "json NaN": (None, b'{"task": "%s", "action": "edit", "by": "ana", "values": '
                           b'{"amount": NaN}}' % task.id.encode()),
        "deep values": (None, b'{"task": "%s", "action": "edit", "by": "ana", "values": '
                              b'{"amount": %s}}' % (task.id.encode(), deep)),
        "very deep": (None, b'{"task": "%s", "action": "edit", "by": "ana", "values": '
                            b'{"amount": %s}}' % (task.id.encode(), b"[" * 100000 +
                                                  b"]" * 100000)),
        "values a list": ({"task": task.id, "action": "edit", "by": "ana",
                           "values": [["amount", 2]]}, None),
        "values a string": ({"task": task.id, "action": "edit", "by": "ana",
                             "values": "amount=2"}, None),
        "roles a map": ({"task": task.id, "action": "approve", "by": "ana",
                         "roles": {"admin": True}}, None),
        "roles of ints": ({"task": task.id, "action": "approve", "by": "ana",
                           "roles": [1, 2]}, None),
        "action a list": ({"task": task.id, "action": ["approve"], "by": "ana"}, None),
        "by a list": ({"task": task.id, "action": "approve", "by": ["ana"]}, None),
        "task a map": ({"task": {"id": task.id}, "action": "approve", "by": "ana"}, None),
        "huge reason": ({"task": task.id, "action": "approve", "by": "ana",
                         "reason": "x" * 1_500_000}, None),
        "huge value": ({"task": task.id, "action": "edit", "by": "ana",
                        "values": {"amount": 1.0, "x": "y" * 1_500_000}}, None),
    }
    outcomes = {}
    for name, (arg, raw) in cases.items():
        outcomes[name] = _send(addr, run, arg, raw=raw, timeout=HANG)
    bad = {k: v for k, v in outcomes.items() if v[0] != "refused"}
    history = _history(temporal_server, run)
    names = _event_names(history)
    assert not _failures(history), (names, outcomes)
    assert not bad, bad
    assert not [n for n in names if "UPDATE" in n], names
    assert b.task(run).status == "pending"
    assert "task.decided" not in b.audit_kinds(run)
    assert all(w.proc.poll() is None for w in b.workers)
    # the workflow still takes a good decision
    got = _send(addr, run, {"task": task.id, "action": "edit", "by": "ana",
                            "values": {"amount": 2.0}}, timeout=HANG)
    assert got[0] == "ok", got
    assert _deadline_wait(lambda: b.get_run(run).status == "succeeded", 60)


# ---- 5. bad input on the command line ----------------------------------------------------------


def _queued_left(side: Side) -> list:
    if not side.store_path.exists():
        return []
    with contextlib.closing(side.store()) as s:
        return [r.id for r in s.list_runs(limit=1000) if r.status in ("queued", "running")]


@pytest.mark.parametrize("value", ["abc", "inf"])
def test_a_bad_heartbeat_env_is_one_line_and_leaves_no_run_queued(temporal_server, tmp_path,
                                                                  value):
    """FLOWC_TEMPORAL_HEARTBEAT that is not a sane number of seconds: `flowc run --engine
    temporal` says so in one line and no run is left queued that nobody will advance (with a
    worker polling the queue, whatever run was started must leave `queued`)."""
    b = Bench(temporal_server, tmp_path / "b", env={"FLOWC_TEMPORAL_HEARTBEAT": value})
    proc = None
    try:
        b.workers[0].wait_ready()
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowc", "run", str(b.flow), "--engine", "temporal",
             "--task-queue", b.queue, "--input", "n=3"], cwd=ROOT, env=b.side.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(120)
        ended = proc.poll() is not None
        if ended and proc.returncode != 0:
            _one_clean_line(subprocess.CompletedProcess(proc.args, proc.returncode, "",
                                                        proc.stderr.read()))
        left = _deadline_wait(lambda: not _queued_left(b.side), 10)
        assert left, (f"FLOWC_TEMPORAL_HEARTBEAT={value}: `flowc run` "
                      f"{'exited ' + str(proc.returncode) if ended else 'still waits'}, "
                      f"runs left queued: {_queued_left(b.side)}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        b.close()


@pytest.mark.parametrize("name,value", [("FLOWC_TEMPORAL_TASK_TIMEOUT", "abc"),
                                        ("FLOWC_TEMPORAL_TASK_TIMEOUT", "0"),
                                        ("FLOWC_TEMPORAL_TASK_TIMEOUT", "nan")])
def test_a_bad_task_timeout_env_is_one_line_and_cancels_the_run(temporal_server, tmp_path,
                                                                name, value):
    b = Bench(temporal_server, tmp_path / "b", env={name: value}, start=False)
    got = _flowc(b.side.env, "run", str(b.flow), "--engine", "temporal", "--task-queue",
                 b.queue, "--input", "n=3", timeout=HANG)
    _one_clean_line(got)
    assert _queued_left(b.side) == []


@pytest.mark.parametrize("extra,env", [
    (["--namespace", "no-such-namespace"], {}),
    (["--temporal", "not an address"], {}),
    ([], {"FLOWC_TEMPORAL_STICKY_TIMEOUT": "inf"}),
])
def test_a_bad_worker_command_line_is_one_line(temporal_server, tmp_path, extra, env):
    full = {**os.environ, "FLOWC_STORE": str(tmp_path / "runs.db"),
            "FLOWC_TEMPORAL": temporal_server.address, **env}
    full.pop("FLOWC_FAULT", None)
    args = ["worker", "--engine", "temporal", "--seconds", "3"]
    if "--task-queue" not in extra:
        args += ["--task-queue", f"w-{uuid.uuid4().hex[:6]}"]
    got = _flowc(full, *args, *extra, cwd=tmp_path, timeout=HANG)
    _one_clean_line(got)


@pytest.mark.parametrize("extra", [["--namespace", "no-such-namespace"],
                                   ["--temporal", "http://[::1"],
                                   ["--temporal", "not an address"]])
def test_a_bad_run_command_line_is_one_line_and_leaves_no_run_queued(temporal_server,
                                                                    tmp_path, extra):
    b = Bench(temporal_server, tmp_path / "b", start=False)
    args = ["run", str(b.flow), "--engine", "temporal", "--input", "n=3"]
    if "--task-queue" not in extra:
        args += ["--task-queue", b.queue]
    got = _flowc(b.side.env, *args, *extra, timeout=HANG)
    _one_clean_line(got)
    assert _queued_left(b.side) == []


# ---- 2, 3, 7: races and kills ------------------------------------------------------------------

FAST = {"FLOWC_TEMPORAL_HEARTBEAT": "2", "FLOWC_LEASE_SECONDS": "1",
        "FLOWC_TEMPORAL_TASK_TIMEOUT": "2"}
WORKER_FAST = {"FLOWC_LEASE_SECONDS": "1", "FLOWC_TEMPORAL_STICKY_TIMEOUT": "1"}
KILL_AFTER_DECISION = {**WORKER_FAST, "FLOWC_FAULT": "Engine.decide/transaction:after:1"}


@contextlib.contextmanager
def _store_locked(path: Path):
    """Hold the SQLite store's write lock (other writers wait on it; readers go on)."""
    import sqlite3

    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _accept(address: str, run_id: str, arg, timeout=HANG):
    """Send an update and return once the workflow accepted it (or refused it): a handle."""
    async def go():
        from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage

        client = await Client.connect(address)
        handle = client.get_workflow_handle(workflow_id(run_id))
        try:
            up = await asyncio.wait_for(handle.start_update(
                "decide", arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED), timeout)
        except WorkflowUpdateFailedError as e:
            return ("refused", str(e.cause.message if e.cause else e))
        return ("accepted", up.id)
    return asyncio.run(go())


def _outcome(address: str, run_id: str, update_id: str, timeout=HANG):
    async def go():
        from temporalio.client import Client, WorkflowUpdateFailedError

        client = await Client.connect(address)
        handle = client.get_workflow_handle(workflow_id(run_id))
        from temporalio.service import RPCError

        try:
            got = await asyncio.wait_for(
                handle.get_update_handle(update_id).result(), timeout)
            return ("ok", got)
        except WorkflowUpdateFailedError as e:
            return ("refused", str(e.cause.message if e.cause else e))
        except RPCError as e:  # a rejected update is not kept: the server knows no such id
            if "not found" in str(e):
                return ("refused", str(e))
            raise
        except TimeoutError:
            return ("timeout", "")
    return asyncio.run(go())


def test_two_decisions_by_one_person_only_the_first_stands_even_when_a_worker_dies(
        bench, temporal_server):
    """Ana approves in one tab and rejects in another at the same moment; the worker that
    records the first dies right after its commit. Exactly one update may be answered as
    recorded, and it must be the decision the store holds; the other must be refused."""
    b = bench(env=FAST, worker_env=KILL_AFTER_DECISION)
    run = b.run()
    task = b.task(run)
    addr = temporal_server.address
    with _store_locked(b.side.store_path):  # both accepted before either commits
        a = _accept(addr, run, {"task": task.id, "action": "approve", "by": "ana"})
        r = _accept(addr, run, {"task": task.id, "action": "reject", "by": "ana"})
        assert a[0] == r[0] == "accepted", (a, r)
        time.sleep(0.5)
    assert _deadline_wait(lambda: b.workers[0].proc.poll() is not None, 30), \
        "the fault did not kill the worker"
    b.start_worker().wait_ready()
    got = {"approve": _outcome(addr, run, a[1]), "reject": _outcome(addr, run, r[1])}
    decided = b.task(run)
    stood = {"approved": "approve", "rejected": "reject"}[decided.decision["outcome"]]
    assert [k for k, v in got.items() if v[0] == "ok"] == [stood], \
        f"the store holds {stood}, yet the updates were answered {got}"
    assert b.audit_kinds(run).count("task.decided") == 1
    assert _wf_result(addr, run, HANG) is not None


def test_a_cancel_while_a_decision_is_being_recorded_still_ends_the_workflow(
        bench, temporal_server):
    """The worker recording a decision dies right after its commit; before the decision's
    activity is retried, the run is cancelled (`flowc cancel`). The workflow must end, and
    the person's `flowc resume` must get an answer, not wait for ever."""
    b = bench(env=FAST, worker_env=KILL_AFTER_DECISION)
    run = b.run()
    task = b.task(run)
    addr = temporal_server.address
    resume = subprocess.Popen(
        [sys.executable, "-m", "flowc", "resume", task.id, "--approve", "--as", "ana"],
        cwd=ROOT, env=b.side.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _deadline_wait(lambda: b.workers[0].proc.poll() is not None, 60), \
            "the fault did not kill the worker"
        got = b.side("cancel", run, ok=False)
        assert got.returncode == 0, got.stderr
        b.start_worker().wait_ready()
        result = _wf_result(addr, run, HANG)
        assert result is not None, (
            f"the workflow of cancelled run {run} is still {_wf_status(addr, run)} 45 s "
            f"later; history: {_event_names(_history(temporal_server, run))[-12:]}")
        assert result["status"] == "cancelled"
        with contextlib.suppress(subprocess.TimeoutExpired):
            resume.wait(HANG)
        assert resume.poll() is not None, "`flowc resume` still waits for its answer"
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.wait()


def test_a_cancel_that_could_not_reach_temporal_can_be_sent_again(bench, temporal_server):
    """`flowc cancel` while Temporal cannot be reached cancels in the store and warns. Once
    Temporal is back, there must be a way to end the workflow: `flowc cancel` again."""
    b = bench()
    run = b.run()
    got = b.side("cancel", run, "--temporal", "127.0.0.1:1", ok=False)
    assert "warning" in got.stderr, got.stderr
    assert b.get_run(run).status == "cancelled"
    again = b.side("cancel", run, ok=False)
    result = _wf_result(temporal_server.address, run, 20)
    assert result is not None, (
        f"the workflow of cancelled run {run} is still "
        f"{_wf_status(temporal_server.address, run)}; a second `flowc cancel` said: "
        f"{again.stderr.strip()} (exit {again.returncode})")


def test_a_decision_for_an_unknown_task_never_enters_history_while_an_advance_runs(
        bench, temporal_server):
    """Guarantee 1 says a decision on a task of another run is refused by the validator and
    never enters the history; here it arrives while an advance is in flight."""
    b = bench()
    run = b.run()
    other = b.run(n=4)
    other_task = b.task(other)
    addr = temporal_server.address

    async def wake():
        from temporalio.client import Client

        client = await Client.connect(addr)
        await client.get_workflow_handle(workflow_id(run)).signal("wake")

    with _store_locked(b.side.store_path):  # the advance the wake starts waits on the lock
        asyncio.run(wake())
        time.sleep(1.0)
        got = _accept(addr, run, {"task": other_task.id, "action": "approve", "by": "ana"})
    if got[0] == "accepted":
        got = _outcome(addr, run, got[1])
    assert got[0] == "refused", got
    names = _event_names(_history(temporal_server, run))
    assert not [n for n in names if "UPDATE" in n], names
    assert b.task(other).status == "pending"


def test_fields_the_validator_does_not_read_are_bounded_too(bench, temporal_server):
    """A decision by someone who may not decide, with 1.5 MB in `roles`, in an `answer` on a
    gate or in a key the form does not have: refused, and (guarantee 6: bounded) it must not
    enter the workflow's history (each such update stores megabytes there, and a history has
    a size limit past which Temporal terminates the workflow)."""
    b = bench()
    run = b.run()
    task = b.task(run)
    addr = temporal_server.address
    big = "x" * 1_500_000
    for arg in ({"task": task.id, "action": "approve", "by": "mallory", "roles": [big]},
                {"task": task.id, "action": "approve", "by": "mallory", "answer": big},
                {"task": task.id, "action": "approve", "by": "mallory", "junk": big}):
        got = _send(addr, run, arg, timeout=HANG)
        assert got[0] == "refused", got
    history = _history(temporal_server, run)
    size = history.to_json().__len__()
    accepted = [n for n in _event_names(history) if n == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert not accepted, f"{len(accepted)} oversize updates entered the history ({size} bytes)"


def test_an_unreachable_temporal_exits_cleanly_every_time(tmp_path):
    """`flowc run --engine temporal` and `flowc cancel` of a bound run against an address where
    nothing listens: one line and exit 1 (run) / exit 0 with a warning (cancel), each time: never
    a crash of the process (SIGSEGV, a fatal Python error) on its way out."""
    flow = tmp_path / "g.flow"
    flow.write_text('flow g version "1.0.0"\ninput n: int\noutput m: int = n\n')
    env = {**os.environ, "FLOWC_STORE": str(tmp_path / "runs.db")}
    env.pop("FLOWC_FAULT", None)
    codes = []
    for _ in range(6):
        got = _flowc(env, "run", str(flow), "--engine", "temporal", "--temporal", "127.0.0.1:1",
                     "--input", "n=1", cwd=tmp_path, timeout=HANG)
        codes.append(got.returncode)
        assert "cannot reach Temporal" in got.stderr
        assert "Fatal Python error" not in got.stderr, got.stderr
    assert codes == [1] * 6, f"exit codes {codes} (-11/139: SIGSEGV)"


def test_concurrent_decisions_from_several_clients_one_stands(bench, temporal_server):
    """Eight clients decide the same task at once (ana approves, edits, rejects; bob and
    mallory try too): one update is answered as recorded, the others refused, and the one
    answered is what the store holds."""
    import threading

    b = bench()
    run = b.run()
    task = b.task(run)
    addr = temporal_server.address
    args = [{"task": task.id, "action": "approve", "by": "ana"},
            {"task": task.id, "action": "reject", "by": "ana"},
            {"task": task.id, "action": "edit", "by": "ana", "values": {"amount": 3.0}},
            {"task": task.id, "action": "approve", "by": "bob"},
            {"task": task.id, "action": "approve", "by": "mallory", "roles": ["admin"]},
            {"task": task.id, "action": "reject", "by": "ana", "reason": "no"},
            {"task": task.id, "action": "edit", "by": "ana", "values": {"amount": 4.0}},
            {"task": task.id, "action": "approve", "by": "ana", "reason": "yes"}]
    got: dict[int, tuple] = {}
    barrier = threading.Barrier(len(args))

    def send(i):
        barrier.wait()
        got[i] = _send(addr, run, args[i], timeout=HANG)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    oks = [i for i, v in got.items() if v[0] == "ok"]
    assert len(got) == len(args) and len(oks) == 1, got
    decided = b.task(run)
    want = args[oks[0]]
    assert decided.decided_by == want["by"]
    assert decided.decision["outcome"] == {"approve": "approved", "reject": "rejected",
                                           "edit": "edited"}[want["action"]]
    assert b.audit_kinds(run).count("task.decided") == 1
    assert _wf_result(addr, run, HANG)["status"] == "succeeded"


@pytest.mark.parametrize("offset", [-0.3, 0.0, 0.3])
def test_a_decision_racing_its_gate_timeout(bench, temporal_server, offset):
    """A decision sent as the durable timer fires: the task is decided or timed out (one of
    them, once), the update's answer agrees with the store, the run and its workflow end."""
    b = bench(timeout="2s -> reject", env=FAST, worker_env=WORKER_FAST)
    run = b.run()
    task = b.task(run)
    wait = task.deadline - time.time() + offset
    if wait > 0:
        time.sleep(wait)
    got = _send(temporal_server.address, run,
                {"task": task.id, "action": "edit", "by": "ana", "values": {"amount": 5.0}},
                timeout=HANG)
    if got[0] == "error" and "already completed" in got[1]:
        got = ("refused", got[1])  # the timeout ended the run (and its workflow) first
    assert got[0] in ("ok", "refused"), got
    kinds = b.audit_kinds(run)
    assert kinds.count("task.decided") + kinds.count("task.timed_out") == 1, kinds
    assert (got[0] == "ok") == ("task.decided" in kinds), (got, kinds)
    result = _wf_result(temporal_server.address, run, 45)
    assert result is not None, f"workflow still {_wf_status(temporal_server.address, run)}"
    assert result["status"] == "succeeded"


CHILD_GATE = '''flow child version "1.0.0"
input n: int
node check = await human(
  to:       user("ana"),
  timeout:  1s -> reject,{escalate}
)
match check {{
  approved -> stop
  rejected -> stop
}}
output echo: int = n
'''

PARENT = '''flow parent version "1.0.0"
use flow "child.flow" as child
input n: int
node sub = flow child(n: n)
output echo: int? = sub.echo
'''


def test_the_embedded_worker_leaves_a_bound_sub_flow_gate_alone(temporal_server, tmp_path):
    """A sub-flow run's gate past its deadline (and its escalation step past due): `flowc
    worker --once` (embedded) neither times it out nor escalates it, nor advances either run;
    the parent's workflow does once a Temporal worker polls again."""
    (tmp_path / "child.flow").write_text(CHILD_GATE.replace("1s -> reject", "1h -> reject")
                                         .format(escalate='\n  escalate: 30m -> role("lead"),'))
    (tmp_path / "parent.flow").write_text(PARENT)
    side = Side(tmp_path / "side", {"FLOWC_TEMPORAL": temporal_server.address})
    queue = f"sub-{uuid.uuid4().hex[:8]}"
    # a 1 s timeout would fire under the Temporal worker: start with a long one, then shorten
    # it in the store once the worker is gone (what a clock jump or a slow worker looks like)
    with Worker(temporal_server.address, queue, str(side.store_path), tmp_path,
                log=tmp_path / "w0.log"):
        side("run", str(tmp_path / "parent.flow"), "--engine", "temporal", "--task-queue",
             queue, "--input", "n=7")
    with contextlib.closing(side.store()) as s:
        [parent] = [r for r in s.list_runs(limit=100) if r.parent_run_id is None]
        [child] = s.sub_runs(parent.id)
        [task] = s.list_tasks(status="pending", run_id=child.id, limit=None)
        assert s.run_engine(child.id) is not None
    import sqlite3

    conn = sqlite3.connect(str(side.store_path), isolation_level=None)
    past = time.time() - 5
    conn.execute("UPDATE tasks SET deadline = ?, next_escalation = ? WHERE id = ?",
                 (past, past - 1, task.id))
    conn.close()
    for _ in range(2):
        got = side("worker", "--once", ok=False)
        assert got.returncode == 0, got.stderr
    with contextlib.closing(side.store()) as s:
        t = s.get_task(task.id)
        kinds = [e.kind for r in (parent.id, child.id) for e in s.audit_events(r)]
        assert t.status == "pending" and t.escalated == 0, (t.status, t.escalated)
        assert "task.timed_out" not in kinds and "task.escalated" not in kinds
        assert s.get_run(child.id).status == "paused" and s.get_run(parent.id).status == "paused"
