"""Crash trials on Temporal: `flowc worker --engine temporal` processes killed with SIGKILL while
runs are in flight, at each commit point the workers reach (each activity's boundaries: a node
result, a gate's task, a decision, an effect's record, a run's end) and at random. Every run
must complete as in a run without faults, every external effect acted on once (the counting
server of tests/flowc_faultkit.py honours Idempotency-Key), every audit trail intact.

How a trial goes: a supervisor keeps one worker polling the trial's task queue; the first one
carries `FLOWC_FAULT=POINT:before|after:1` (runtime/faults.py) and dies there; the next ones
carry no fault. The CLI drives the run as a person would: `flowc run --engine temporal`, then
`flowc resume --approve`. Temporal notices a dead worker by its activity's heartbeat timeout
(2 s here, FLOWC_TEMPORAL_HEARTBEAT) and runs the activity again on the next worker; the
engine's lease of the killed worker lapses (FLOWC_LEASE_SECONDS=1).

Short form (CI): each commit point once, before and after alternating along their names;
`-m slow`: every point before and after.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from flowc_faultkit import KILLED, CountingServer, commit_points
from flowc_testkit import wait_for
from temporalkit import Worker
from test_fault_injection import CHILD, HARNESS, LONG

from flowc.runtime.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT = "2"
LEASE = "1"


class Supervisor:
    """Keeps one worker on `queue`: the first with `fault`, each next one without."""

    def __init__(self, address: str, queue: str, folder: Path, fault: str | None = None,
                 log: Path | None = None, workers: int = 1, store: str | None = None):
        self.address, self.queue, self.folder = address, queue, folder
        self.where = store or str(folder / "runs.db")
        self.env = {"FLOWC_LEASE_SECONDS": LEASE, "FLOWC_TEMPORAL_STICKY_TIMEOUT": "1"}
        self.fault = {"FLOWC_FAULT": fault} if fault else {}
        if log is not None:
            self.fault["FLOWC_FAULT_LOG"] = str(log)
        self.workers: list[Worker] = []
        self.deaths: list[int] = []
        self.count = workers
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _start(self, env: dict) -> Worker:
        n = len(self.deaths) + len(self.workers)
        return Worker(self.address, self.queue, self.where, self.folder,
                      env={**self.env, **env}, log=self.folder / f"worker-{n}.log")

    def __enter__(self) -> Supervisor:
        self.workers = [self._start(self.fault)] + \
            [self._start({}) for _ in range(self.count - 1)]
        for i, w in enumerate(self.workers):
            try:
                w.wait_ready()
            except RuntimeError:  # killed at a commit point of its start (opening the store)
                self.deaths.append(w.proc.wait())
                self.workers[i] = self._start({}).wait_ready()
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stopping.wait(0.05):
            with self.lock:
                for i, w in enumerate(self.workers):
                    code = w.proc.poll()
                    if code is not None:
                        self.deaths.append(code)
                        self.workers[i] = self._start({})

    def kill_one(self, rng: random.Random) -> None:
        with self.lock:
            rng.choice(self.workers).proc.kill()

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()
        for w in self.workers:
            w.stop()


class Trial:
    """A folder with the harness flows, a store and the CLI against Temporal."""

    def __init__(self, folder: Path, srv: CountingServer, address: str,
                 url: str | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        srv.clear()  # each trial counts its own effects (the trials of a module run in turn)
        self.folder = folder
        self.where = url or str(folder / "runs.db")  # a SQLite file, or a PostgreSQL database
        (folder / "child.flow").write_text(CHILD.format())
        (folder / "harness.flow").write_text(HARNESS.format(host=srv.host, **LONG))
        self.env = {**os.environ, "FLOWC_STORE": self.where,
                    "FLOWC_TEMPORAL": address, "FLOWC_TEMPORAL_HEARTBEAT": HEARTBEAT,
                    "FLOWC_LEASE_SECONDS": LEASE, "FLOWC_TEMPORAL_TASK_TIMEOUT": "2"}
        for name in ("FLOWC_FAULT", "FLOWC_FAULT_LOG", "FLOWC_ENGINE"):
            self.env.pop(name, None)

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flowc", *args], cwd=self.folder,
                              env=self.env, capture_output=True, text=True, timeout=600)

    def store(self):
        from flowc.runtime.store import open_store

        return open_store(self.where)

    def drive(self, queue: str, n: int = 5) -> str:
        """One run: started, its gate approved once it opens, waited for to its end."""
        got = self("run", "harness.flow", "--engine", "temporal", "--task-queue", queue,
                   "--input", f"n={n}")
        assert got.returncode == 0, got.stdout + got.stderr
        with contextlib.closing(self.store()) as s:
            [run] = [r for r in s.list_runs(limit=100) if r.parent_run_id is None
                     and r.inputs == {"n": n}]
            [task] = s.list_tasks(status="pending", run_id=run.id, limit=None)
        got = self("resume", task.id, "--approve", "--as", "ana")
        assert got.returncode == 0, got.stdout + got.stderr
        return run.id

    def wait_end(self, run_id: str):
        def ended():
            with contextlib.closing(self.store()) as s:
                run = s.get_run(run_id)
            return run if run.status in ("succeeded", "failed", "cancelled") else None
        return wait_for(ended, f"the end of run {run_id}")

    def end_state(self, run_id: str, srv: CountingServer) -> dict:
        with contextlib.closing(self.store()) as s:
            family, todo = [], [run_id]
            while todo:
                rid = todo.pop()
                family.append(rid)
                todo += [r.id for r in s.sub_runs(rid)]
            run = s.get_run(run_id)
            kinds = Counter(e.kind for rid in family for e in s.audit_events(rid))
            finals = Counter((rid, e.payload["node"], e.payload["item"]) for rid in family
                             for e in s.audit_events(rid) if e.kind == "node.result"
                             and e.payload["status"] in ("succeeded", "failed", "skipped"))
            live = [r.id for r in s.list_runs(limit=1000)
                    if r.status in ("queued", "running")]
        for rid in family:
            got = self("audit", rid, "--verify")
            assert got.returncode == 0, got.stdout + got.stderr
        return {"status": run.status, "outputs": run.outputs, "kinds": dict(kinds),
                "nodes_once": all(v == 1 for v in finals.values()), "live": live,
                "acted": {k: v for k, v in srv.acted.items() if k.endswith(f":{run.inputs['n']}")}}


@pytest.fixture(scope="module")
def server():
    with CountingServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def reference(temporal_server, server, tmp_path_factory):
    """A run without faults: the commit points its workers reach, and its end state."""
    folder = tmp_path_factory.mktemp("reference")
    trial = Trial(folder, server, temporal_server.address)
    log = folder / "points.log"
    queue = f"ref-{uuid.uuid4().hex[:8]}"
    with Supervisor(temporal_server.address, queue, folder, log=log) as sup:
        run_id = trial.drive(queue)
        trial.wait_end(run_id)
    assert sup.deaths == []
    state = trial.end_state(run_id, server)
    assert state["status"] == "succeeded" and state["acted"] == {"pay:5": 1}, state
    points = commit_points(log)
    assert len({p for p, _ in points}) >= 5, points
    return points, state


def _trials(points, short: bool) -> list[tuple[str, str, int]]:
    if not short:
        return [(p, w, n) for p, n in points for w in ("before", "after")]
    names = sorted({p for p, _ in points})
    return [(p, ("before", "after")[names.index(p) % 2], 1) for p in names]


def _kill_everywhere(short, reference, temporal_server, server, tmp_path):
    points, expected = reference
    problems = []
    for k, (point, when, nth) in enumerate(_trials(points, short)):
        label = f"{point}:{when}:{nth}"
        folder = tmp_path / f"trial-{k}"
        trial = Trial(folder, server, temporal_server.address)
        queue = f"crash-{uuid.uuid4().hex[:8]}"
        try:
            with Supervisor(temporal_server.address, queue, folder, fault=label) as sup:
                run_id = trial.drive(queue)
                trial.wait_end(run_id)
            if KILLED not in sup.deaths and point != "Heartbeat._loop/heartbeat":
                problems.append(f"{label}: not reached (deaths {sup.deaths})")
                continue
            got = trial.end_state(run_id, server)
        except AssertionError as e:
            problems.append(f"{label}: {str(e)[:600]}")
            continue
        if got != expected:
            problems.append(f"{label}: ended as {got}, not {expected}")
    assert not problems, "\n".join(problems)


def test_kill_a_worker_at_each_commit_point_once(reference, temporal_server, server, tmp_path):
    _kill_everywhere(True, reference, temporal_server, server, tmp_path)


@pytest.mark.slow
def test_kill_a_worker_before_and_after_every_commit(reference, temporal_server, server,
                                                     tmp_path):
    _kill_everywhere(False, reference, temporal_server, server, tmp_path)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_workers_killed_at_random_while_runs_are_in_flight(store, temporal_server, server,
                                                           tmp_path, request):
    """Six runs on two workers; a killer SIGKILLs a random worker every 0.3-1.5 s (each is
    replaced) while the runs are started and decided; then the killing stops. Every run ends
    as the reference does, every effect acted on once: on a SQLite file, and on PostgreSQL
    (the production store: every worker, process and the CLI on one database)."""
    rng = random.Random(int(os.environ.get("FLOWC_CRASH_SEED", "7")))
    url = None
    if store == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.fresh_database()
        request.addfinalizer(lambda: cluster.drop(url))
    trial = Trial(tmp_path / "random", server, temporal_server.address, url=url)
    queue = f"random-{uuid.uuid4().hex[:8]}"
    runs: dict[int, str] = {}
    errors: list[str] = []

    def drive(n: int) -> None:
        try:
            runs[n] = trial.drive(queue, n=100 + n)
        except AssertionError as e:
            errors.append(f"run {n}: {str(e)[:400]}")

    with Supervisor(temporal_server.address, queue, trial.folder, workers=2,
                    store=trial.where) as sup:
        drivers = [threading.Thread(target=drive, args=(n,)) for n in range(6)]
        for d in drivers:
            d.start()
        kills = 0
        while any(d.is_alive() for d in drivers) and kills < 12:
            time.sleep(rng.uniform(0.3, 1.5))
            sup.kill_one(rng)
            kills += 1
        for d in drivers:
            d.join(600)
        assert not errors, errors
        ends = {n: trial.wait_end(run_id) for n, run_id in runs.items()}
    assert kills > 0 and KILLED in sup.deaths
    for n, run in ends.items():
        state = trial.end_state(run.id, server)
        assert state["status"] == "succeeded", (n, state)
        assert state["nodes_once"] and state["live"] == [], (n, state)
        assert state["outputs"] == {"decision": "approved", "echo": 101 + n}, state
        assert state["acted"] == {f"pay:{100 + n}": 1}, state
    assert all(v == 1 for v in server.acted.values()), server.acted


SLOW = '''flow slow version "1.0.0"
input n: int
node wait: int = code python(v: n) """
import time
time.sleep(8)
result = v + 1
"""
output out: int = wait
'''


def test_a_worker_stopped_mid_run_fails_nothing(temporal_server, tmp_path):
    """SIGTERM while a node runs, with a grace period shorter than the node: the activity is
    cancelled, the run's work stops as on Ctrl-C (no failure recorded), and the next worker
    runs the node again from the last commit."""
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "slow.flow").write_text(SLOW)
    queue = f"slow-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FLOWC_STORE": str(folder / "runs.db"),
           "FLOWC_TEMPORAL": temporal_server.address, "FLOWC_TEMPORAL_HEARTBEAT": HEARTBEAT,
           "FLOWC_LEASE_SECONDS": LEASE}
    for name in ("FLOWC_FAULT", "FLOWC_FAULT_LOG", "FLOWC_ENGINE"):
        env.pop(name, None)
    first = Worker(temporal_server.address, queue, str(folder / "runs.db"), folder,
                   env={"FLOWC_TEMPORAL_GRACE": "0.5", "FLOWC_LEASE_SECONDS": LEASE},
                   log=folder / "first.log").wait_ready()
    run = subprocess.Popen([sys.executable, "-m", "flowc", "run", "slow.flow", "--engine",
                            "temporal", "--task-queue", queue, "--input", "n=1"], cwd=folder,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = SQLiteStore(str(folder / "runs.db"))
        wait_for(lambda: [r for r in store.list_runs(limit=10) if r.status == "running"],
                 "the run to start running")
        time.sleep(2.0)  # its sandbox started, the 8 s node is under way
        [r] = store.list_runs(limit=10)
        assert r.status == "running" and not store.node_results(r.id), r.status
        first.stop()  # SIGTERM: past its grace the activity is cancelled
        assert first.proc.returncode == 0, first.log.read_text()[-2000:]
        [r] = store.list_runs(limit=10)
        assert r.status in ("running", "queued"), (r.status, r.error)
        with Worker(temporal_server.address, queue, str(folder / "runs.db"), folder,
                    env={"FLOWC_LEASE_SECONDS": LEASE}, log=folder / "second.log"):
            out, err = run.communicate(timeout=300)
        assert run.returncode == 0, out + err
        r = store.get_run(r.id)
        assert r.status == "succeeded" and r.outputs == {"out": 2}, (r.status, r.error)
        kinds = [e.kind for e in store.audit_events(r.id)]
        assert "run.failed" not in kinds and kinds.count("run.succeeded") == 1
        finals = [e for e in store.audit_events(r.id) if e.kind == "node.result"
                  and e.payload["node"] == "wait" and e.payload["status"] == "succeeded"]
        assert len(finals) == 1
        store.close()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
