"""`on schedule "CRON"` triggers: each tick of a flow's schedule starts one run, exactly once,
however many workers (threads, processes, servers) share the store.

Ticks
    A cron expression has the five fields of the compiler (minute hour day-of-month month
    day-of-week) and is read in UTC (croniter; when both day fields are restricted, a day
    matching either one is a tick, as in Vixie cron). A tick is the epoch second it falls on.
    A flow with several `on schedule` lines has the union of their ticks (a second on which
    two of them fall is one tick, one run).

What a pass does (`Scheduler.run_once(now)`), for each flow with a schedule
    When the flow's last claimed tick is known and no tick of it falls after that and at or
    before `now`, nothing (and no write lock is taken). Else, in one write transaction of the
    store (`BEGIN IMMEDIATE`: the passes of all workers on the store take turns, so each
    decides from what the others committed):
    1. `last` = the latest tick of the flow claimed so far (`store.last_tick`).
    2. The start point. A flow with no claimed tick yet (a schedule seen for the first time)
       claims the most recent tick at or before `now` *without* a run, as the point from
       which it counts. Nothing at or before the first pass that sees a schedule ever fires;
       the first run is the first tick after it. Because the start point is in the store,
       a server that goes down before that first tick catches up on it when it comes back,
       like any other missed tick, and a second worker never picks another start point.
    3. The due ticks: those after `last` and at or before `now`, oldest first. In normal
       operation (passes every second or so, ticks at least a minute apart) that is zero or
       one tick. More than one means the scheduler did not run for a while (downtime, or a
       pass held up), and the catch-up policy decides which of them fire:
         "latest"  (the default) the most recent due tick fires; the older ones are recorded
                   as skipped. At most one run per flow per pass.
         "all"     every due tick fires, oldest first, up to `max_catch_up` of them (the most
                   recent ones); older ones are recorded as skipped.
         "none"    the most recent due tick fires only if it is at most `grace` seconds old
                   (`now - tick <= grace`); every other due tick is recorded as skipped.
       A skipped tick is claimed with no run (its `run_id` stays NULL), so it is never fired
       later either. At most `SCAN_LIMIT` (or `max_catch_up`, if larger) of the most recent
       due ticks are looked at in one pass; after a longer downtime the older ones are
       neither fired nor recorded (the log says how many at least).
    4. Each tick to fire is claimed (`store.claim_tick`) and started (`start_run(schedule,
       tick) -> run id`, which creates the queued run: `engine.start(..., advance=False)`)
       and linked (`store.set_tick_run`) in one savepoint of that transaction, so the claim
       and the run commit together or not at all: a worker killed half-way leaves neither,
       and the tick fires at the next pass of any worker. `start_run` must write to the store
       on the calling thread (its writes join the transaction; another thread of the same
       process would wait for the write lock this one holds).

When a start fails
    A refusal (`RunRefused` by default, `permanent=`: e.g. the flow's required inputs are not
    configured) is permanent: what the start wrote is rolled back, but the tick stays
    claimed, with no run, the error is reported once (`on_error(line)`, by default a
    warning on the `flowc.serve.schedule` logger) and it is never retried. Any other exception is taken as transient: the savepoint rolls the
    claim back with whatever the start wrote, the error is reported, the flow's later due
    ticks wait (they are not claimed past it), and the next pass tries the tick again. After
    `max_attempts` failures in a row of the same tick in one Scheduler, the tick is claimed
    with no run and reported as given up ("failed"): it is never retried forever. (Each
    worker counts its own attempts.) A pass never raises an `Exception` (a store that cannot
    serve is reported per flow and the other flows go on); a `BaseException` (a kill, a
    `KeyboardInterrupt`) rolls back the flow's open transaction and propagates.

Exactly once
    `schedule_ticks` has one row per (flow, tick), inserted with `ON CONFLICT DO NOTHING`, and
    a run is only started by the worker whose insert won, in the same commit. Every due tick
    thus ends as exactly one row: with the run it started, or skipped/refused/given up (no
    run). Clocks of different workers may differ: a worker whose clock is behind finds
    nothing due that the others did not already claim.

The store's `schedule_ticks` rows say which ticks fired (`run_id`) and which did not (NULL);
why a tick has no run (start point, skipped, refused, given up) is what `run_once` returns
(`Fired.status`, `Fired.reason`) and what is logged / reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from croniter import CroniterBadDateError, CroniterError, croniter

__all__ = [
    "CATCH_UP_POLICIES",
    "SCAN_LIMIT",
    "Fired",
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "choose_ticks",
    "schedules_from_plans",
]

_log = logging.getLogger("flowc.serve.schedule")

CATCH_UP_POLICIES = ("latest", "all", "none")
CatchUp = Literal["latest", "all", "none"]
# the most recent due ticks one pass looks at, per flow (more only when max_catch_up is larger)
SCAN_LIMIT = 10_000
# the status of a tick a pass dealt with (see Fired)
Status = Literal["started", "skipped", "refused", "failed", "error"]


class ScheduleError(ValueError):
    """A schedule that cannot be used: a bad cron expression, a bad option."""


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _iso(epoch: float) -> str:
    return _utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Schedule:
    """One `on schedule "CRON"` trigger of a flow (the cron expression checked on creation)."""

    flow: str
    cron: str

    def __post_init__(self) -> None:
        if not isinstance(self.flow, str) or not self.flow:
            raise ScheduleError("a schedule needs the name of its flow")
        where = f"flow `{self.flow}`: schedule {self.cron!r}"
        if not isinstance(self.cron, str):
            raise ScheduleError(f"{where}: a schedule is a cron string")
        cron = " ".join(self.cron.split())
        if len(cron.split()) != 5:
            raise ScheduleError(f"{where}: a cron schedule has 5 fields (minute hour "
                                f"day-of-month month day-of-week), this one has "
                                f"{len(cron.split())}")
        try:
            croniter(cron, _utc(0.0)).get_next(float)
        except CroniterBadDateError:
            raise ScheduleError(f"{where}: no date ever matches it") from None
        except (CroniterError, ValueError, KeyError) as e:
            raise ScheduleError(f"{where} is not a valid cron expression: {e}") from None
        object.__setattr__(self, "cron", cron)

    def next_after(self, t: float) -> float:
        """The first tick strictly after `t`."""
        return croniter(self.cron, _utc(t)).get_next(float)

    def latest_at_or_before(self, t: float) -> float | None:
        """The most recent tick at or before `t` (None: none in croniter's search range)."""
        try:
            before = croniter(self.cron, _utc(t)).get_prev(float)  # strictly before t
        except CroniterBadDateError:
            return None
        after = self.next_after(before)
        return after if after <= t else before

    def ticks_between(self, lo: float, hi: float, limit: int) -> tuple[list[float], bool]:
        """The most recent `limit` ticks in (lo, hi], oldest first, and whether there are
        older ones in the range too."""
        out: list[float] = []
        t = self.latest_at_or_before(hi)
        if t is None or t <= lo:
            return out, False
        it = croniter(self.cron, _utc(t))
        while t is not None and t > lo and len(out) < limit:
            out.append(t)
            try:
                t = it.get_prev(float)
            except CroniterBadDateError:
                t = None
        out.reverse()
        return out, t is not None and t > lo


def schedules_from_plans(plans: Iterable[Any]) -> list[Schedule]:
    """The schedules of compiled plans (`compiler.plan.Plan`, or its JSON as a dict): one
    `Schedule` per `on schedule` trigger. A bad cron expression raises ScheduleError."""
    out: list[Schedule] = []
    for plan in plans:
        if isinstance(plan, dict):
            meta = plan.get("flow") or {}
            name, triggers = meta.get("name"), meta.get("triggers") or []
        else:
            name, triggers = plan.flow.name, plan.flow.triggers
        for trigger in triggers:
            if trigger.get("kind") == "schedule":
                schedule = Schedule(name, trigger.get("cron"))
                if schedule not in out:
                    out.append(schedule)
    return out


@dataclass(frozen=True)
class Fired:
    """What one pass did with one tick of a flow.

    status: "started"  claimed, and `run_id` started (a queued run)
            "skipped"  claimed with no run: the start point, or passed over by catch-up
            "refused"  claimed with no run: the start was refused (permanent; `reason`)
            "failed"   claimed with no run: the start failed `max_attempts` times (`reason`)
            "error"    NOT claimed: the start failed (`reason`); tried again next pass"""

    flow: str
    tick: float
    status: Status
    run_id: str | None = None
    reason: str | None = None

    @property
    def when(self) -> str:
        """The tick as ISO 8601 UTC text."""
        return _iso(self.tick)


def choose_ticks(due: Sequence[float], now: float, catch_up: str, *, max_catch_up: int,
                 grace: float) -> tuple[list[float], list[float]]:
    """(ticks to fire, ticks to skip) of the due ticks (oldest first), by the catch-up
    policy (see the module's docstring)."""
    due = list(due)
    if not due:
        return [], []
    if catch_up == "latest":
        return due[-1:], due[:-1]
    if catch_up == "all":
        return due[-max_catch_up:], due[:-max_catch_up]
    if catch_up == "none":
        if now - due[-1] <= grace:
            return due[-1:], due[:-1]
        return [], due
    raise ScheduleError(f"catch_up must be one of {', '.join(CATCH_UP_POLICIES)}, "
                        f"not {catch_up!r}")


class Scheduler:
    """Fires the ticks of `schedules` (module docstring): `run_once(now=None)` is one pass.

    `start_run(schedule, tick) -> run id` creates the run (on the calling thread, in the
    transaction the pass holds); `owner` names this worker in the claims; `clock` gives
    "now" (epoch seconds, timezone.utc); `catch_up`: "latest" | "all" | "none"; `max_catch_up`: the
    most ticks "all" fires in one pass; `grace`: how late a tick may be and still fire under
    "none"; `max_attempts`: how many transient failures of one tick before it is given up;
    `permanent`: the exceptions that refuse a tick for good (default: `RunRefused`);
    `on_error(line)`: problems (refused, failed, transient errors), default: logged."""

    def __init__(self, store, schedules: Iterable[Schedule],
                 start_run: Callable[[Schedule, float], str], *, owner: str,
                 clock: Callable[[], float] = time.time, catch_up: CatchUp | str = "latest",
                 max_catch_up: int = 100, grace: float = 300.0, max_attempts: int = 3,
                 permanent: tuple[type[BaseException], ...] | None = None,
                 on_error: Callable[[str], Any] | None = None):
        if catch_up not in CATCH_UP_POLICIES:
            raise ScheduleError(f"catch_up must be one of {', '.join(CATCH_UP_POLICIES)}, "
                                f"not {catch_up!r}")
        if not isinstance(owner, str) or not owner:
            raise ScheduleError("a scheduler needs an owner (the name of this worker)")
        if int(max_catch_up) < 1 or int(max_attempts) < 1 or grace < 0:
            raise ScheduleError("max_catch_up and max_attempts must be at least 1, grace >= 0")
        if permanent is None:
            from flowc.runtime.engine import RunRefused

            permanent = (RunRefused,)
        self.store = store
        self.schedules = tuple(schedules)
        self.start_run = start_run
        self.owner = owner
        self.clock = clock
        self.catch_up = catch_up
        self.max_catch_up = int(max_catch_up)
        self.grace = float(grace)
        self.max_attempts = int(max_attempts)
        self.permanent = permanent
        self.on_error = on_error
        self._by_flow: dict[str, list[Schedule]] = {}
        for s in self.schedules:
            self._by_flow.setdefault(s.flow, []).append(s)
        self._attempts: dict[tuple[str, float], int] = {}  # transient failures of a tick

    @property
    def flows(self) -> list[str]:
        return list(self._by_flow)

    def next_tick(self, flow: str, now: float | None = None) -> float | None:
        """When the flow's schedule next comes due after `now` (None: not a scheduled flow)."""
        now = float(self.clock() if now is None else now)
        ticks = [s.next_after(now) for s in self._by_flow.get(flow, ())]
        return min(ticks) if ticks else None

    def run_once(self, now: float | None = None) -> list[Fired]:
        """One pass over every scheduled flow: what it did, flow by flow, oldest tick first.
        Never raises an Exception: a flow whose pass failed is reported and the others go on."""
        now = float(self.clock() if now is None else now)
        done: list[Fired] = []
        for flow, schedules in self._by_flow.items():
            try:
                fired, problems = self._pass(flow, schedules, now)
            except Exception as e:  # the store could not serve: nothing of this flow committed
                fired, problems = [], [f"schedule of `{flow}`: the pass failed (tried again "
                                       f"at the next pass): {type(e).__name__}: {e}"]
            done.extend(fired)
            for line in problems:  # after the commit: what is reported is what happened
                self._report(line)
        return done

    # -- one flow's pass, in one transaction
    def _pass(self, flow: str, schedules: list[Schedule],
              now: float) -> tuple[list[Fired], list[str]]:
        """(what was done, problems to report), once the flow's transaction committed."""
        out: list[Fired] = []
        problems: list[str] = []
        notes: list[str] = []
        # Without the write lock first: ticks claimed only grow, so when nothing is due after
        # the last tick read here, nothing is due after the one under the lock either.
        seen = self.store.last_tick(flow)
        if seen is not None and min(s.next_after(seen) for s in schedules) > now:
            return out, problems
        with self.store.transaction():
            last = self.store.last_tick(flow)
            if last is None:
                # the start point: the latest tick at or before now (or now itself, when
                # croniter finds none), claimed with no run
                start = max((t for s in schedules
                             if (t := s.latest_at_or_before(now)) is not None), default=now)
                if self.store.claim_tick(flow, start, self.owner):
                    out.append(Fired(flow, start, "skipped", reason="the schedule's start "
                                     "point (the ticks after it fire)"))
                return out, problems
            for key in [k for k in self._attempts if k[0] == flow and k[1] <= last]:
                del self._attempts[key]  # settled by another worker meanwhile
            limit = max(SCAN_LIMIT, self.max_catch_up)
            due, more = self._due(schedules, last, now, limit)
            fire, skip = choose_ticks(due, now, self.catch_up, max_catch_up=self.max_catch_up,
                                      grace=self.grace)
            for tick in skip:
                if self.store.claim_tick(flow, tick, self.owner):
                    out.append(Fired(flow, tick, "skipped", reason=f"missed (catch-up "
                                     f"{self.catch_up!r})"))
            if skip or more:
                notes.append(f"schedule of `{flow}`: {len(skip)}{'+' if more else ''} missed "
                             f"tick(s) skipped (catch-up {self.catch_up!r}; "
                             f"{_iso(skip[0]) if skip else '...'} .. "
                             f"{_iso(skip[-1]) if skip else '...'})"
                             + (f"; older ones beyond the last {limit} are not recorded"
                                if more else ""))
            for tick in fire:
                result = self._fire(flow, self._schedule_of(schedules, tick), tick, problems)
                if result is not None:
                    out.append(result)
                    if result.status == "error":
                        break  # later ticks wait: this one is tried again first
        for line in notes:
            _log.info(line)
        return out, problems

    @staticmethod
    def _due(schedules: list[Schedule], last: float, now: float,
             limit: int) -> tuple[list[float], bool]:
        ticks: set[float] = set()
        more = False
        for s in schedules:
            found, older = s.ticks_between(last, now, limit)
            ticks.update(found)
            more = more or older
        due = sorted(ticks)
        if len(due) > limit:
            due, more = due[-limit:], True
        return due, more

    @staticmethod
    def _schedule_of(schedules: list[Schedule], tick: float) -> Schedule:
        if len(schedules) == 1:
            return schedules[0]
        for s in schedules:
            if s.latest_at_or_before(tick) == tick:
                return s
        return schedules[0]

    def _fire(self, flow: str, schedule: Schedule, tick: float,
              problems: list[str]) -> Fired | None:
        """Claim `tick` and start its run in one savepoint; None: another worker has it."""
        key = (flow, tick)
        refused: BaseException | None = None
        try:
            with self.store.transaction():
                if not self.store.claim_tick(flow, tick, self.owner):
                    return None
                try:
                    with self.store.transaction():  # what a refused start wrote is undone
                        run_id = self.start_run(schedule, tick)
                        if not isinstance(run_id, str) or not run_id:
                            raise TypeError(f"start_run returned {run_id!r}, not a run id")
                        self.store.set_tick_run(flow, tick, run_id)
                except self.permanent as e:
                    refused = e  # the claim stays: recorded once, never retried
        except Exception as e:  # rolled back to the savepoint: no claim, no run
            reason = f"{type(e).__name__}: {e}"
            attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
            if attempts < self.max_attempts:
                problems.append(f"schedule of `{flow}`: the run for {_iso(tick)} could not "
                                f"start (attempt {attempts} of {self.max_attempts}, tried "
                                f"again at the next pass): {reason}")
                return Fired(flow, tick, "error", reason=reason)
            del self._attempts[key]
            if not self.store.claim_tick(flow, tick, self.owner):
                return None
            problems.append(f"schedule of `{flow}`: the run for {_iso(tick)} could not start "
                            f"after {attempts} attempts; the tick is given up: {reason}")
            return Fired(flow, tick, "failed", reason=reason)
        self._attempts.pop(key, None)
        if refused is not None:
            reason = str(refused) or type(refused).__name__
            problems.append(f"schedule of `{flow}`: the run for {_iso(tick)} was refused "
                            f"(not retried): {reason}")
            return Fired(flow, tick, "refused", reason=reason)
        return Fired(flow, tick, "started", run_id=run_id)

    def _report(self, line: str) -> None:
        if self.on_error is None:
            _log.warning(line)
            return
        try:
            self.on_error(line)
        except Exception:  # a reporter that fails must not stop the scheduler
            _log.warning(line)
