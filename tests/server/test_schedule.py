"""`on schedule` triggers (server/schedule.py): cron parsing, the start point, the catch-up
policies after downtime, failed starts (refused: recorded once; transient: rolled back and
retried, then given up), and exactly once with several workers (threads, and processes) over
one real SQLite file, driven over simulated time with barriers so the workers race on the
same tick. Runs are real: an Engine creates each one (queued, never advanced: no sandbox)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flowc.compiler.api import compile_source
from flowc.runtime.engine import Engine, RunRefused
from flowc.runtime.store import SQLiteStore
from flowc.server.schedule import (
    SCAN_LIMIT,
    Fired,
    Schedule,
    ScheduleError,
    Scheduler,
    choose_ticks,
    schedules_from_plans,
)

FLOW = '''flow tick version "1.0.0"
on schedule "*/5 * * * *"
input label: str = "scheduled"
node out: str = code python(label: label) """
result = label
"""
'''

NEEDS_INPUT = '''flow needs version "1.0.0"
on schedule "*/5 * * * *"
input label: str
node out: str = code python(label: label) """
result = label
"""
'''

DAY0 = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()  # a Wednesday, 00:00 UTC
MIN = 60.0
HOUR = 3600.0


def plan_of(text: str):
    result = compile_source(text, "t.flow")
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    return result.plan


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Worker:
    """One worker: its own store connection to the shared file, its own Engine, a Scheduler.
    Each run it starts gets the tick as its input, so runs can be counted per tick from the
    runs themselves."""

    def __init__(self, db: Path, owner: str, plans, *, clock=None, inputs=None, fail=None,
                 **kw):
        self.store = SQLiteStore(str(db))
        self.engine = Engine(self.store, workspace=str(db.parent / "ws"),
                             base_dir=str(db.parent))
        self.plans = {p.flow.name: p for p in plans}
        self.inputs = inputs
        self.fail = fail  # called after the run is created, before the commit
        self.problems: list[str] = []
        self.scheduler = Scheduler(self.store, schedules_from_plans(plans), self.start_run,
                                   owner=owner, on_error=self.problems.append,
                                   **({"clock": clock} if clock else {}), **kw)

    def start_run(self, schedule: Schedule, tick: float) -> str:
        inputs = {"label": iso(tick)} if self.inputs is None else dict(self.inputs)
        run = self.engine.start(self.plans[schedule.flow], inputs, advance=False)
        if self.fail is not None:
            self.fail(tick)
        return run.id

    def close(self) -> None:
        self.engine.close()
        self.store.close()


def runs_of(store, flow: str) -> list:
    return [r for r in store.list_runs(limit=100_000) if r.flow_name == flow]


def every_tick(start: float, end: float, step: float = 5 * MIN) -> list[float]:
    """The */5 ticks in [start, end]."""
    first = start + (-start) % step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


def check_exactly_once(store, flow: str, started: list[float], skipped: list[float],
                       fired_lists: list[list[Fired]]) -> None:
    """Every tick claimed exactly once, with one run if it fired; no run without its tick;
    what the workers returned says the same."""
    rows = store.ticks(flow)
    ticks = [r[1] for r in rows]
    assert len(ticks) == len(set(ticks))
    assert sorted(ticks) == sorted(started + skipped), "a tick missing or one too many"
    by_tick = {r[1]: r for r in rows}
    assert all(by_tick[t][3] is not None for t in started)
    assert all(by_tick[t][3] is None for t in skipped)
    runs = runs_of(store, flow)
    per_tick = Counter(r.inputs["label"] for r in runs)
    assert per_tick == Counter(iso(t) for t in started), "a tick without its one run"
    run_ids = {r.id for r in runs}
    assert {by_tick[t][3] for t in started} == run_ids
    assert all(r.status == "queued" for r in runs)
    # what the workers said they did: each claimed tick by exactly one of them
    claimed = Counter((f.tick, f.status) for fl in fired_lists for f in fl
                      if f.status != "error")
    assert all(n == 1 for n in claimed.values())
    assert sorted(t for t, s in claimed if s == "started") == sorted(started)
    assert sorted(t for t, s in claimed if s == "skipped") == sorted(skipped)


# ------------------------------------------------------------------------------ schedules


def test_schedules_come_from_plans_and_examples():
    plan = plan_of(FLOW.replace('on schedule "*/5 * * * *"',
                                'on schedule "*/5 * * * *"\non schedule "0 9 * * *"'))
    assert schedules_from_plans([plan]) == [Schedule("tick", "*/5 * * * *"),
                                            Schedule("tick", "0 9 * * *")]
    assert schedules_from_plans([plan.model_dump(by_alias=True)]) == \
        schedules_from_plans([plan])
    from flowc.compiler.api import compile_file

    root = Path(__file__).resolve().parents[2] / "examples"
    plans = [compile_file(root / "client_report" / "all_clients.flow").plan,
             compile_file(root / "data_pipeline" / "data_pipeline.flow").plan]
    assert schedules_from_plans(plans) == [Schedule("all_clients", "0 9 1 * *"),
                                           Schedule("data_pipeline", "0 6 * * 1")]


@pytest.mark.parametrize("cron, says", [
    ("61 * * * *", "not a valid cron expression"),
    ("* * * *", "has 5 fields"),
    ("*/5 * * * * *", "has 5 fields"),
    ("0 0 31 2 *", "no date ever matches"),
    ("0 9 * * funday", "not a valid cron expression"),
])
def test_a_bad_cron_expression_is_a_clear_error(cron, says):
    with pytest.raises(ScheduleError, match=says) as e:
        Schedule("report", cron)
    assert "flow `report`" in str(e.value) and repr(cron) in str(e.value)
    # the compiler checks the number of fields only: a plan can still hold a bad one
    if cron.count(" ") == 4:
        plan = plan_of(FLOW.replace("*/5 * * * *", cron))
        with pytest.raises(ScheduleError, match=says):
            schedules_from_plans([plan])


def test_ticks_are_utc_and_inclusive_of_now():
    s = Schedule("f", "0 9 * * *")
    nine = DAY0 + 9 * HOUR
    assert s.latest_at_or_before(nine) == nine
    assert s.latest_at_or_before(nine - 0.5) == nine - 86400
    assert s.latest_at_or_before(nine + 0.5) == nine
    assert s.next_after(nine) == nine + 86400
    five = Schedule("f", "*/5 * * * *")
    ticks, more = five.ticks_between(DAY0, DAY0 + HOUR, 100)
    assert ticks == every_tick(DAY0 + 1, DAY0 + HOUR) and not more
    ticks, more = five.ticks_between(DAY0, DAY0 + HOUR, 3)
    assert ticks == [DAY0 + 50 * MIN, DAY0 + 55 * MIN, DAY0 + HOUR] and more


def test_choose_ticks_by_policy():
    due = [100.0, 200.0, 300.0, 400.0]
    assert choose_ticks(due, 410, "latest", max_catch_up=9, grace=5) == ([400.0], due[:3])
    assert choose_ticks(due, 410, "all", max_catch_up=9, grace=5) == (due, [])
    assert choose_ticks(due, 410, "all", max_catch_up=2, grace=5) == (due[2:], due[:2])
    assert choose_ticks(due, 410, "none", max_catch_up=9, grace=10) == ([400.0], due[:3])
    assert choose_ticks(due, 410, "none", max_catch_up=9, grace=9) == ([], due)
    assert choose_ticks([], 410, "latest", max_catch_up=9, grace=5) == ([], [])
    with pytest.raises(ScheduleError):
        choose_ticks(due, 410, "some", max_catch_up=9, grace=5)
    with pytest.raises(ScheduleError, match="catch_up"):
        Scheduler(None, [], lambda s, t: "", owner="w", catch_up="some")


# ------------------------------------------------------------------------- one worker


def test_the_start_point_is_the_first_pass_and_survives_a_restart(tmp_path):
    db = tmp_path / "runs.db"
    w = Worker(db, "w1", [plan_of(FLOW)])
    # first seen at 00:02: 00:00 is the start point (claimed, no run); nothing fires
    first = w.scheduler.run_once(DAY0 + 2 * MIN)
    assert [(f.tick, f.status) for f in first] == [(DAY0, "skipped")]
    assert w.scheduler.run_once(DAY0 + 4 * MIN) == []
    w.close()
    # down before the first tick, back at 00:12: the start point was kept, so the missed
    # 00:05 and 00:10 are caught up on ("latest": 00:10 fires, 00:05 is skipped)
    w = Worker(db, "w1-restarted", [plan_of(FLOW)])
    fired = w.scheduler.run_once(DAY0 + 12 * MIN)
    assert [(f.tick, f.status) for f in fired] == [(DAY0 + 5 * MIN, "skipped"),
                                                    (DAY0 + 10 * MIN, "started")]
    check_exactly_once(w.store, "tick", [DAY0 + 10 * MIN], [DAY0, DAY0 + 5 * MIN],
                       [first, fired])
    assert w.problems == []
    w.close()


def test_a_first_pass_on_a_tick_does_not_fire_it(tmp_path):
    w = Worker(tmp_path / "runs.db", "w1", [plan_of(FLOW)])
    assert [f.status for f in w.scheduler.run_once(DAY0 + 5 * MIN)] == ["skipped"]
    assert w.scheduler.run_once(DAY0 + 9 * MIN) == []
    fired = w.scheduler.run_once(DAY0 + 10 * MIN)  # exactly on the tick: due
    assert [(f.tick, f.status) for f in fired] == [(DAY0 + 10 * MIN, "started")]
    assert w.scheduler.next_tick("tick", DAY0 + 10 * MIN) == DAY0 + 15 * MIN
    w.close()


@pytest.mark.parametrize("catch_up, kw, fires", [
    ("latest", {}, [14]),
    ("all", {}, [11, 12, 13, 14]),
    ("all", {"max_catch_up": 2}, [13, 14]),
    ("none", {"grace": 120}, []),        # 14:00 is 150 s late
    ("none", {"grace": 150}, [14]),
])
def test_catch_up_after_downtime(tmp_path, catch_up, kw, fires):
    plan = plan_of(FLOW.replace("*/5 * * * *", "0 * * * *"))  # hourly
    w = Worker(tmp_path / "runs.db", "w1", [plan], catch_up=catch_up, **kw)
    before = w.scheduler.run_once(DAY0 + 9 * HOUR + 30)
    before += w.scheduler.run_once(DAY0 + 10 * HOUR + 30)
    assert [f.status for f in before] == ["skipped", "started"]
    fired = w.scheduler.run_once(DAY0 + 14 * HOUR + 150)  # down from 10:01 to 14:02
    started = [DAY0 + h * HOUR for h in fires]
    missed = [DAY0 + h * HOUR for h in (11, 12, 13, 14) if h not in fires]
    assert [f.tick for f in fired if f.status == "started"] == started
    assert [f.tick for f in fired if f.status == "skipped"] == missed
    check_exactly_once(w.store, "tick", [DAY0 + 10 * HOUR, *started],
                       [DAY0 + 9 * HOUR, *missed], [before, fired])
    w.close()


def test_a_long_downtime_looks_at_a_bounded_number_of_ticks(tmp_path):
    plan = plan_of(FLOW.replace("*/5 * * * *", "* * * * *"))
    w = Worker(tmp_path / "runs.db", "w1", [plan])
    w.scheduler.run_once(DAY0 + 30)
    days = (SCAN_LIMIT // 1440) + 2  # more minutes than SCAN_LIMIT
    fired = w.scheduler.run_once(DAY0 + days * 86400 + 30)
    assert [f.status for f in fired].count("started") == 1
    assert fired[-1].tick == DAY0 + days * 86400 and fired[-1].status == "started"
    assert len(fired) == SCAN_LIMIT
    assert len(w.store.ticks("tick")) == SCAN_LIMIT + 1
    w.close()


def test_several_schedules_of_one_flow_are_one_set_of_ticks(tmp_path):
    plan = plan_of(FLOW.replace('on schedule "*/5 * * * *"',
                                'on schedule "0 * * * *"\non schedule "30 9 * * *"'))
    w = Worker(tmp_path / "runs.db", "w1", [plan], catch_up="all")
    w.scheduler.run_once(DAY0 + 8 * HOUR + 1)
    fired = w.scheduler.run_once(DAY0 + 10 * HOUR + 1)
    assert [(f.tick - DAY0) / MIN for f in fired] == [9 * 60, 9 * 60 + 30, 10 * 60]
    assert {f.status for f in fired} == {"started"}
    w.close()


# --------------------------------------------------------------------- failed starts


def test_a_refused_start_is_recorded_once_and_never_retried(tmp_path):
    w = Worker(tmp_path / "runs.db", "w1", [plan_of(NEEDS_INPUT), plan_of(FLOW)], inputs={})
    w.scheduler.run_once(DAY0 + 1)
    fired = w.scheduler.run_once(DAY0 + 5 * MIN + 1)
    by_flow = {f.flow: f for f in fired}
    assert by_flow["needs"].status == "refused" and by_flow["needs"].run_id is None
    assert "input `label` is required" in by_flow["needs"].reason
    assert by_flow["tick"].status == "started"  # the other flow goes on
    assert len(w.problems) == 1 and "needs" in w.problems[0] and "refused" in w.problems[0]
    for _ in range(3):  # never retried
        assert w.scheduler.run_once(DAY0 + 6 * MIN) == []
    assert len(w.problems) == 1
    assert w.store.ticks("needs") == [("needs", DAY0, "w1", None),
                                      ("needs", DAY0 + 5 * MIN, "w1", None)]
    assert runs_of(w.store, "needs") == []
    # the next tick is refused once too
    assert [f.status for f in w.scheduler.run_once(DAY0 + 10 * MIN) if f.flow == "needs"] \
        == ["refused"]
    assert len(w.problems) == 2
    w.close()


# "after": the start's writes (its plan among them) roll back with the claim; the engine must
# not keep the plan as stored (Engine.start writes it again inside a caller's transaction)
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_transient_failure_rolls_the_claim_back_and_is_retried(tmp_path, when):
    failures = [RuntimeError("the disk hiccupped")]

    def fail(tick):
        if failures:
            raise failures.pop()

    w = Worker(tmp_path / "runs.db", "w1", [plan_of(FLOW)], catch_up="all",
               **({"fail": fail} if when == "after" else {}))
    if when == "before":  # the start fails before the engine is called
        start = w.start_run

        def start_run(schedule, tick):
            fail(tick)
            return start(schedule, tick)

        w.scheduler.start_run = start_run
    first = w.scheduler.run_once(DAY0 + 1)
    fired = w.scheduler.run_once(DAY0 + 10 * MIN + 1)  # 00:05 and 00:10 due
    assert [(f.tick, f.status) for f in fired] == [(DAY0 + 5 * MIN, "error")]
    assert "RuntimeError: the disk hiccupped" in fired[0].reason
    # neither the claim nor the run the failed start created is there, and 00:10 waits
    assert [r[1] for r in w.store.ticks("tick")] == [DAY0]
    assert runs_of(w.store, "tick") == []
    assert len(w.problems) == 1 and "attempt 1 of 3" in w.problems[0]
    fired2 = w.scheduler.run_once(DAY0 + 10 * MIN + 2)
    assert [(f.tick, f.status) for f in fired2] == [(DAY0 + 5 * MIN, "started"),
                                                    (DAY0 + 10 * MIN, "started")]
    check_exactly_once(w.store, "tick", [DAY0 + 5 * MIN, DAY0 + 10 * MIN], [DAY0],
                       [first, fired, fired2])
    w.close()


def test_a_start_failing_every_time_is_given_up_after_max_attempts(tmp_path):
    def fail(tick):
        raise OSError("the workspace is gone")

    w = Worker(tmp_path / "runs.db", "w1", [plan_of(FLOW)], fail=fail, max_attempts=3)
    w.scheduler.run_once(DAY0 + 1)
    statuses = [[f.status for f in w.scheduler.run_once(DAY0 + 5 * MIN + i)]
                for i in range(1, 6)]
    assert statuses == [["error"], ["error"], ["failed"], [], []]
    assert w.store.ticks("tick") == [("tick", DAY0, "w1", None),
                                     ("tick", DAY0 + 5 * MIN, "w1", None)]
    assert runs_of(w.store, "tick") == []
    assert len(w.problems) == 3 and "given up" in w.problems[-1]
    w.close()


class SimulatedCrash(BaseException):
    """The process dies here (not an Exception: nothing catches it)."""


def test_a_crash_after_the_claim_rolls_back_claim_and_run_together(tmp_path):
    def crash(tick):
        raise SimulatedCrash()

    db = tmp_path / "runs.db"
    crashed = Worker(db, "w1", [plan_of(FLOW)], fail=crash)
    first = crashed.scheduler.run_once(DAY0 + 1)
    with pytest.raises(SimulatedCrash):
        crashed.scheduler.run_once(DAY0 + 5 * MIN + 1)
    # the claim and the run it had created are both gone (one transaction)
    assert [r[1] for r in crashed.store.ticks("tick")] == [DAY0]
    assert runs_of(crashed.store, "tick") == []
    crashed.close()
    # another worker (or this one restarted) fires the tick at its next pass, once
    other = Worker(db, "w2", [plan_of(FLOW)])
    fired = other.scheduler.run_once(DAY0 + 5 * MIN + 2)
    assert [(f.tick, f.status, f.run_id is not None) for f in fired] == \
        [(DAY0 + 5 * MIN, "started", True)]
    check_exactly_once(other.store, "tick", [DAY0 + 5 * MIN], [DAY0], [first, fired])
    other.close()


def test_a_pass_never_raises_when_the_store_cannot_serve(tmp_path):
    w = Worker(tmp_path / "runs.db", "w1", [plan_of(FLOW)])
    w.store.close()
    assert w.scheduler.run_once(DAY0 + 1) == []
    assert len(w.problems) == 1 and "the pass failed" in w.problems[0]
    w.engine.close()


# ------------------------------------------------------------- several workers at once


def simulated_day() -> list[float]:
    """Pass times over one day: every 60 s (7 s past the minute), with the whole service
    down from 10:00:30 to 14:02:30 (no pass), back with a pass at 14:02:30."""
    times = [DAY0 + 7 + i * MIN for i in range(24 * 60)]
    down = [t for t in times if DAY0 + 10 * HOUR + 30 < t < DAY0 + 14 * HOUR + 150]
    return sorted((set(times) - set(down)) | {DAY0 + 14 * HOUR + 150})


def expected_day(catch_up: str, max_catch_up: int = 100) -> tuple[list[float], list[float]]:
    """(started, skipped) of simulated_day() under a policy (grace: 60 s)."""
    before = every_tick(DAY0 + 1, DAY0 + 10 * HOUR)       # 00:05 .. 10:00
    missed = every_tick(DAY0 + 10 * HOUR + 1, DAY0 + 14 * HOUR)  # 10:05 .. 14:00
    after = every_tick(DAY0 + 14 * HOUR + 1, DAY0 + 24 * HOUR - 1)  # 14:05 .. 23:55
    if catch_up == "latest":
        fire, skip = missed[-1:], missed[:-1]
    elif catch_up == "all":
        fire, skip = missed[-max_catch_up:], missed[:-max_catch_up]
    else:  # none: 14:00 is 150 s late, more than the grace
        fire, skip = [], missed
    return before + fire + after, [DAY0, *skip]


@pytest.mark.parametrize("catch_up, max_catch_up", [("latest", 100), ("all", 100),
                                                    ("all", 10), ("none", 100)])
def test_three_threads_fire_every_tick_exactly_once(tmp_path, catch_up, max_catch_up):
    db = tmp_path / "runs.db"
    plan = plan_of(FLOW)
    times = simulated_day()
    now = [times[0]]
    # each worker's clock a little off the others' (as on three machines), all in one tick
    skew = {"w1": 0.0, "w2": 1.5, "w3": 3.0}
    workers = [Worker(db, name, [plan], clock=lambda s=s: now[0] + s, catch_up=catch_up,
                      max_catch_up=max_catch_up, grace=60.0) for name, s in skew.items()]
    barrier = threading.Barrier(len(workers) + 1)
    results: dict[str, list[Fired]] = {w.scheduler.owner: [] for w in workers}
    errors: list[BaseException] = []

    def work(w: Worker) -> None:
        try:
            for _ in times:
                barrier.wait()  # the driver set `now`: every worker races on this pass
                results[w.scheduler.owner].extend(w.scheduler.run_once())
                barrier.wait()  # all done before time moves on
        except BaseException as e:
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    try:
        for t in times:
            now[0] = t
            barrier.wait()
            barrier.wait()
    finally:
        for t in threads:
            t.join()
    assert errors == []
    started, skipped = expected_day(catch_up, max_catch_up)
    check_exactly_once(workers[0].store, "tick", started, skipped, list(results.values()))
    assert all(w.problems == [] for w in workers)
    # the counts: a day of */5 ticks is 288 (00:00 is the start point)
    assert len(started) + len(skipped) == 288
    for w in workers:
        w.close()


def test_a_worker_whose_clock_is_behind_fires_nothing_twice(tmp_path):
    db = tmp_path / "runs.db"
    ahead, behind = (Worker(db, name, [plan_of(FLOW)]) for name in ("ahead", "behind"))
    done = ahead.scheduler.run_once(DAY0 + 1) + ahead.scheduler.run_once(DAY0 + 11 * MIN)
    for t in (DAY0 - HOUR, DAY0 + 1, DAY0 + 5 * MIN, DAY0 + 10 * MIN):  # its clock lags
        done += behind.scheduler.run_once(t)
    assert [(f.tick, f.status) for f in done] == [
        (DAY0, "skipped"), (DAY0 + 5 * MIN, "skipped"), (DAY0 + 10 * MIN, "started")]
    done += behind.scheduler.run_once(DAY0 + 15 * MIN)  # caught up: the next tick is its
    check_exactly_once(ahead.store, "tick", [DAY0 + 10 * MIN, DAY0 + 15 * MIN],
                       [DAY0, DAY0 + 5 * MIN], [done])
    assert ahead.store.ticks("tick")[-1][2] == "behind"
    ahead.close()
    behind.close()


# -- separate processes (spawned: each opens the store itself)


def _process_worker(db: str, owner: str, times: list[float], barrier, out) -> None:
    w = Worker(Path(db), owner, [plan_of(FLOW)])
    fired: list[Fired] = []
    try:
        for t in times:
            barrier.wait()
            fired.extend(w.scheduler.run_once(t + {"p1": 0.0, "p2": 1.0, "p3": 2.0}[owner]))
    finally:
        out.put((owner, [(f.flow, f.tick, f.status, f.run_id, f.reason) for f in fired],
                 w.problems))
        w.close()


def _crashing_worker(db: str, now: float) -> None:
    def die(tick):
        os._exit(3)  # killed with the run created and the tick claimed, before the commit

    w = Worker(Path(db), "doomed", [plan_of(FLOW)], fail=die)
    w.scheduler.run_once(now)


def test_three_processes_fire_every_tick_exactly_once(tmp_path):
    db = tmp_path / "runs.db"
    SQLiteStore(str(db)).close()  # migrated once, before the race
    # six hours: a pass every 150 s, down from 02:00:30 to 04:02:30
    times = [DAY0 + 7 + i * 150.0 for i in range(6 * 24)]
    times = [t for t in times if not DAY0 + 2 * HOUR + 30 < t < DAY0 + 4 * HOUR + 150]
    times = sorted({*times, DAY0 + 4 * HOUR + 150})
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    out = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(str(db), name, times, barrier, out))
             for name in ("p1", "p2", "p3")]
    for p in procs:
        p.start()
    reports = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    fired = [[Fired(*f) for f in r[1]] for r in reports]
    assert all(r[2] == [] for r in reports)
    last = times[-1]
    missed = every_tick(DAY0 + 2 * HOUR + 1, DAY0 + 4 * HOUR)  # 02:05 .. 04:00
    started = [t for t in every_tick(DAY0 + 1, last) if t not in missed] + missed[-1:]
    skipped = [DAY0, *missed[:-1]]
    store = SQLiteStore(str(db))
    check_exactly_once(store, "tick", sorted(started), skipped, fired)
    # 00:00 .. 05:55: 72 ticks; 00:00 the start point, 02:05 .. 03:55 skipped ("latest")
    assert (len(started), len(skipped)) == (48, 24)
    assert len(started) + len(skipped) == len(every_tick(DAY0, last))
    store.close()


def test_a_process_killed_inside_the_transaction_leaves_neither_claim_nor_run(tmp_path):
    db = tmp_path / "runs.db"
    w = Worker(db, "w1", [plan_of(FLOW)])
    first = w.scheduler.run_once(DAY0 + 1)  # the start point
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_crashing_worker, args=(str(db), DAY0 + 5 * MIN + 1))
    p.start()
    p.join(timeout=300)
    assert p.exitcode == 3  # it died inside the pass
    assert [r[1] for r in w.store.ticks("tick")] == [DAY0]
    assert runs_of(w.store, "tick") == []
    fired = w.scheduler.run_once(DAY0 + 5 * MIN + 2)
    assert [(f.tick, f.status) for f in fired] == [(DAY0 + 5 * MIN, "started")]
    check_exactly_once(w.store, "tick", [DAY0 + 5 * MIN], [DAY0], [first, fired])
    w.close()


def test_run_refused_is_the_default_permanent_failure():
    s = Scheduler(None, [], lambda sc, t: "", owner="w")
    assert s.permanent == (RunRefused,)
