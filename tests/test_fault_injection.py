"""Fault injection at every commit point (issue 13): real `flowc` processes (run, resume,
worker, cancel, replay, gate timeouts and escalations) killed with SIGKILL just before and
just after each store commit, enumerated, never sampled.

How it works
    Each scenario brings a fresh store to a starting state (`prepare`), then runs one command.
    A reference execution runs that command with `FLOWC_FAULT_LOG` (runtime/faults.py): the
    commit points it passes, in order, each with its occurrence number. Then, for each point
    (and each occurrence: slow form), a fresh store is prepared the same way, the command is
    run with `FLOWC_FAULT=POINT:before|after:N` and must die there (SIGKILL), and the store
    is brought to its end the way an operator would (`flowc worker`, the same decision, the
    same cancel: `Flowc.settle`). The end must be the reference's: the same status and
    outputs, every audit event present exactly as often as in the reference (and the chain
    intact, each run's trail starting with `run.started`), every effect acted on once (the
    counting server), nothing left queued or running.

    The short form (CI) kills each commit point once (the first scenario that reaches it, its
    first occurrence, before and after alternating from point to point); `-m slow` kills
    every occurrence of every point of every scenario, before and after.

    `test_every_commit_point_in_the_code_is_exercised` reads the code (AST): every call of a
    store write method and every `store.transaction()` block outside the store is a commit
    point `FUNCTION/METHOD`; each must be reached by a scenario or listed in `NOT_EXERCISED`
    with the reason.

Adding a commit point (a new store write, a new `with store.transaction():` block): nothing
to register. If no scenario reaches it, the coverage test fails naming it: add a scenario
below (a `Scenario` with its flow, its `prepare`, its command and how to settle it) or, if no
kill there can matter, add it to `NOT_EXERCISED` with the reason.
"""

from __future__ import annotations

import ast
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flowc_faultkit import KILLED, CountingServer, Flowc, commit_points

ROOT = Path(__file__).resolve().parent.parent

CHILD = '''flow child version "1.0.0"
input n: int
node check = await human(
  to:       user("ana"),
  timeout:  48h -> reject,
  when:     n > 1000000,
)
match check {{
  approved -> stop
  rejected -> stop
}}
output echo: int = n
'''

# a gate; approved, an external effect (keyed, acted once by the counting server) that also
# writes a file; a node that writes a file and is no effect (its files commit on their own);
# then a sub-flow (its gate passes through)
HARNESS = '''flow harness version "1.0.0"
use flow "child.flow" as child
input n: int
node review = await human(
  to:       user("ana"),
  show:     [n],
  timeout:  {timeout},{escalate}
)
match review {{
  approved -> pay
  rejected -> stop
}}
node pay: int = code python(v: n) """
import flowc_http
await flowc_http.post("http://{host}/pay", body=f"pay:{{v}}", headers={{"Idempotency-Key": idempotency_key}})
open("receipt.txt", "w").write(f"paid {{v}}")
result = v + 1
"""
  effect external
  hosts ["{host}"]
node note: int = code python(v: pay) """
open("note.txt", "w").write(f"noted {{v}}")
result = v
"""
node sub = flow child(n: note)
output decision: str = review.outcome
output echo: int? = sub.echo
'''

LONG = {"timeout": "1h -> reject", "escalate": ""}
TIMES_OUT = {"timeout": "1s -> reject", "escalate": ""}
ESCALATES = {"timeout": "1h -> reject", "escalate": '\n  escalate: 1s -> role("lead"),'}

# Commit points no scenario kills at, and why a kill there cannot matter or is tested elsewhere.
NOT_EXERCISED = {
    "Engine._fail_unexpected/transaction":
        "only on an unexpected error (a bug); one commit: the run failed with its event",
    "TraceWriter.flush/record_traces":
        "model exchanges (trace detail, not state): lost at worst, never a result",
    **{point: "a flow version's write: one transaction with its history event; killed "
              "before and after in tests/test_versions.py::test_kill_at_each_version_commit_point"
       for point in ("submit/add_version", "transition/set_version_status",
                     "comment/add_version_event", "import_version/add_version")},
    "cmd_token/add_api_token":
        "`flowc token`: one statement, no run state; killed, no token exists and none was "
        "printed (run it again)",
    "cmd_token/revoke_api_tokens":
        "`flowc token --revoke`: one statement, no run state; killed, it revoked all or none",
    "Engine._give_back/release_run":
        "a worker interrupted (SIGTERM, Ctrl-C) gives back the claims of runs it had not "
        "started (tests/test_leases.py, tests/test_turn.py); killed there, a claim lapses "
        "with its lease and a worker takes the run over, as after any crash",
    "Heartbeat._loop/heartbeat":
        "renews a lease (lease_until only); reached on timing, so killed when reached "
        "(TIMING) and covered by tests/test_leases.py",
}
TIMING = {"Heartbeat._loop/heartbeat"}  # reached or not depending on how long a node takes


@dataclass
class Scenario:
    name: str
    variant: dict
    prepare: Callable[[Flowc], dict]          # -> context for `command`
    command: Callable[[dict], list[str]]
    # after a kill, whether the command must be given again (it left no trace: a person
    # runs it again; a worker is restarted)
    redo: Callable[[Flowc, dict], bool]
    decide: str | None = None                 # how `settle` decides a pending task
    points: list[tuple[str, int]] = field(default_factory=list)   # from the reference
    expected: dict = field(default_factory=dict)


def _paused(fc: Flowc) -> dict:
    r = fc.run("run", "harness.flow", "--input", "n=5")
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    run = fc.only_run()
    return {"run": run.id, "task": fc.pending_task(run.id).id}


def _nothing(fc: Flowc) -> dict:
    return {}


def _due(fc: Flowc) -> dict:
    """Paused, and the gate's next timer (deadline or escalation step) due."""
    ctx = _paused(fc)
    import time

    task = fc.store.get_task(ctx["task"])
    due = task.next_escalation or task.deadline
    while time.time() <= due:
        time.sleep(0.1)
    return ctx


def _queued(fc: Flowc) -> dict:
    """A run that `flowc run` created and then died: left queued for a worker."""
    r = fc.run("run", "harness.flow", "--input", "n=5", fault="Engine.start/transaction:after")
    assert r.returncode == KILLED, r.stderr
    return {"run": fc.only_run().id}


def _ended(fc: Flowc) -> dict:
    ctx = _paused(fc)
    r = fc.run("resume", ctx["task"], "--reject", "--as", "ana")
    assert r.returncode == 0, r.stderr
    return ctx


def _always(fc: Flowc, ctx: dict) -> bool:
    return True


def _no_run(fc: Flowc, ctx: dict) -> bool:
    return not fc.store.list_runs()


def _task_pending(fc: Flowc, ctx: dict) -> bool:
    return fc.store.get_task(ctx["task"]).status == "pending"


def _not_cancelled(fc: Flowc, ctx: dict) -> bool:
    return fc.store.get_run(ctx["run"]).status != "cancelled"


def _not_replayed(fc: Flowc, ctx: dict) -> bool:
    return len(fc.store.list_runs()) == 1


SCENARIOS = [
    Scenario("run", LONG, _nothing, lambda c: ["run", "harness.flow", "--input", "n=5"],
             _no_run, decide="reject"),
    Scenario("resume", LONG, _paused,
             lambda c: ["resume", c["task"], "--approve", "--as", "ana"], _task_pending),
    Scenario("worker-takes-over", LONG, _queued, lambda c: ["worker", "--once"], _always,
             decide="reject"),
    Scenario("worker-timeout", TIMES_OUT, _due, lambda c: ["worker", "--once"], _always),
    Scenario("worker-escalation", ESCALATES, _due, lambda c: ["worker", "--once"], _always,
             decide="reject"),
    Scenario("cancel", LONG, _paused, lambda c: ["cancel", c["run"], "--as", "ops"],
             _not_cancelled),
    Scenario("replay", LONG, _ended, lambda c: ["replay", c["run"], "--from", "review"],
             _not_replayed, decide="reject"),
]


def _setup(folder: Path, srv: CountingServer, scenario: Scenario) -> tuple[Flowc, dict]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    fc = Flowc(folder, lease_seconds=1)
    fc.write("child.flow", CHILD.format())
    fc.write("harness.flow", HARNESS.format(host=srv.host, **scenario.variant))
    ctx = scenario.prepare(fc)
    srv.clear()
    return fc, ctx


def _end_state(fc: Flowc, srv: CountingServer) -> dict:
    """What a crash must not change: each run's status, outputs and event kinds, the effects
    acted on, the tasks' statuses."""
    runs = sorted(fc.store.list_runs(limit=1000), key=lambda r: (r.created_at, r.id))
    top = [r for r in runs if r.parent_run_id is None]
    return {
        "runs": [(r.flow_name, r.status, r.outputs) for r in top],
        "kinds": [dict(Counter(e.kind for rid in fc.family(r.id)
                               for e in fc.store.audit_events(rid))) for r in top],
        "tasks": sorted(t.status for t in fc.store.list_tasks(status=None, limit=1000)),
        "acted": dict(srv.acted),
    }


def _finish(fc: Flowc, scenario: Scenario) -> None:
    fc.settle(decide=scenario.decide or False)
    for run in fc.store.list_runs(limit=1000):
        assert run.status not in ("queued", "running"), (run.id, run.status)
        if run.parent_run_id is None:
            fc.assert_audit_ok(run.id)


@pytest.fixture(scope="module")
def server():
    with CountingServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def references(tmp_path_factory, server):
    """Each scenario's commit points and end state, from a run without faults."""
    base = tmp_path_factory.mktemp("reference")
    for scenario in SCENARIOS:
        log = base / f"{scenario.name}.log"
        fc, ctx = _setup(base / scenario.name, server, scenario)
        with fc:
            r = fc.run(*scenario.command(ctx), log=log)
            assert r.returncode in (0, 1), (scenario.name, r.stdout, r.stderr)
            _finish(fc, scenario)
            scenario.points = commit_points(log)
            scenario.expected = _end_state(fc, server)
        assert all(v == 1 for v in scenario.expected["acted"].values()), scenario.expected
    return {s.name: s for s in SCENARIOS}


def _trials(scenario: Scenario, short: bool, references: dict) -> list[tuple[str, str, int]]:
    """(point, before|after, occurrence) to kill at, for this scenario."""
    if not short:
        return [(p, w, n) for p, n in scenario.points for w in ("before", "after")]
    owner: dict[str, str] = {}   # each point's first scenario, in SCENARIOS' order
    for s in SCENARIOS:
        for p, _n in references[s.name].points:
            owner.setdefault(p, s.name)
    order = sorted(owner)        # before/after alternate along the sorted names
    return [(p, ("before", "after")[order.index(p) % 2], 1)
            for p, n in scenario.points if n == 1 and owner[p] == scenario.name]


def _kill_everywhere(scenario_name: str, short: bool, references, server, tmp_path) -> None:
    scenario = references[scenario_name]
    problems = []
    for point, when, nth in _trials(scenario, short, references):
        fc, ctx = _setup(tmp_path / "trial", server, scenario)
        with fc:
            r = fc.run(*scenario.command(ctx), fault=f"{point}:{when}:{nth}")
            label = f"{scenario.name}: {point}:{when}:{nth}"
            if r.returncode != KILLED and point not in TIMING:
                problems.append(f"{label}: not reached (exit {r.returncode}: "
                                f"{r.stderr.strip()[-300:]})")
                continue
            try:
                if scenario.redo(fc, ctx):
                    fc.lapse()  # the killed process's lease
                    again = fc.run(*scenario.command(ctx))
                    assert again.returncode in (0, 1), again.stdout + again.stderr
                _finish(fc, scenario)
                got = _end_state(fc, server)
            except AssertionError as e:
                problems.append(f"{label}: {str(e)[:500]}")
                continue
            if got != scenario.expected:
                problems.append(f"{label}: ended as {got}, not {scenario.expected}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", [s.name for s in SCENARIOS])
def test_kill_at_each_commit_point_once(scenario, references, server, tmp_path):
    _kill_everywhere(scenario, True, references, server, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [s.name for s in SCENARIOS])
def test_kill_before_and_after_every_commit(scenario, references, server, tmp_path):
    _kill_everywhere(scenario, False, references, server, tmp_path)


# -- the commit points in the code

def _write_methods() -> set[str]:
    """The store's write methods: those of SQLiteStore's classes that commit (call
    `self._write`)."""
    trees = [ast.parse(p.read_text()) for p in sorted((ROOT / "runtime" / "store").glob("*.py"))]
    body = [fn for tree in trees for cls in tree.body if isinstance(cls, ast.ClassDef)
            for fn in cls.body]
    out = {"transaction"}
    for fn in body:
        if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("_") and any(
                isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                and c.func.attr == "_write" for c in ast.walk(fn)):
            out.add(fn.name)
    return out


def _is_store(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return text == "tx" or text.endswith("store")


def code_commit_points() -> dict[str, str]:
    """Every commit point the code can reach, from its source: {point: file:line}."""
    methods = _write_methods()
    found: dict[str, str] = {}
    files = [p for p in sorted((ROOT / "runtime").rglob("*.py"))
             if "store" not in p.relative_to(ROOT).parts]
    files += sorted((ROOT / "flowc").glob("*.py"))

    def visit(node: ast.AST, qual: str, in_function: bool, in_tx: bool, path: Path) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # the name Python gives it (`co_qualname`): what runtime/faults.py reports
            name = f"{qual}.<locals>.{node.name}" if in_function else \
                f"{qual}.{node.name}" if qual else node.name
            for child in node.body:
                visit(child, name, not isinstance(node, ast.ClassDef), False, path)
            return
        if isinstance(node, ast.With):
            tx = any(isinstance(i.context_expr, ast.Call) and
                     isinstance(i.context_expr.func, ast.Attribute) and
                     i.context_expr.func.attr == "transaction" and
                     _is_store(i.context_expr.func.value) for i in node.items)
            if tx and not in_tx:
                found.setdefault(f"{qual}/transaction", f"{path.name}:{node.lineno}")
            for child in ast.iter_child_nodes(node):
                visit(child, qual, in_function, in_tx or tx, path)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in methods and node.func.attr != "transaction" and \
                _is_store(node.func.value) and not in_tx:
            found.setdefault(f"{qual}/{node.func.attr}", f"{path.name}:{node.lineno}")
        for child in ast.iter_child_nodes(node):
            visit(child, qual, in_function, in_tx, path)

    for path in files:
        visit(ast.parse(path.read_text()), "", False, False, path)
    return found


def test_every_commit_point_in_the_code_is_exercised(references):
    reached = {p for s in references.values() for p, _ in s.points}
    missing = {p: where for p, where in code_commit_points().items()
               if p not in reached and p not in NOT_EXERCISED}
    assert not missing, ("commit points no scenario kills at (add a scenario to "
                         f"tests/test_fault_injection.py, or a reason to NOT_EXERCISED): "
                         f"{missing}")
