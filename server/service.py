"""The service behind `flowc serve`: the store, the flows it offers, the engines that start runs
and record decisions, and the background loop (the worker: timeouts, escalations, runs to
advance; notifications; schedules; run webhooks).

Requests never run nodes: starting a run or recording a decision commits it (queued) and wakes
the loop, which advances the run. A request is therefore as fast as one store commit, and a
server killed at any point leaves the run queued for the next worker (`flowc worker` or
another server on the same store)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, FlowEntry

__all__ = ["Service", "ServeConfig"]


@dataclass
class ServeConfig:
    project: Path = field(default_factory=Path.cwd)
    store: str | None = None            # a path; None: the default store (./.flowc/runs.db)
    base_url: str = "http://127.0.0.1:8080"
    secret: str | None = None           # signs review links; None: kept in the store's folder
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "flowc@localhost"
    webhook_url: str | None = None      # Slack-compatible: tasks opened, runs ended or paused
    worker: bool = True                 # advance runs in this process
    run_threads: int = 1                # of them, at once (runtime/turn.py; CLI default 4)
    interval: float = 1.0               # seconds between background passes (also woken early)
    replay: str | None = None           # serve recorded model exchanges (demos, tests)
    record: str | None = None           # keep the worker's model exchanges in this file
    session_ttl: float = 12 * 3600.0
    link_ttl: float = 7 * 86400.0
    catch_up: str = "latest"
    schedule_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Any = time.time
    sandbox: Any = None                 # a SandboxPool to share (tests); None: the engine's own
    oidc: Any = None                    # server.oidc.OidcConfig: sign-in with an OIDC provider
    label: str = "flowc serve"          # names the process in the problems it prints
    # runs start on Temporal ({"address", "namespace", "task_queue", "heartbeat"}; None: this
    # process's embedded engine). Decisions on runs bound to Temporal go to their workflows
    # whatever this is (docs/temporal.md).
    temporal: dict | None = None


def _secret_for(store_dir: Path) -> str:
    """The link-signing secret kept beside the store (created 0600 on first use), so links
    stay valid across restarts and across servers sharing the store's folder."""
    path = store_dir / "serve-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


class Service:
    def __init__(self, config: ServeConfig):
        from flowc.runtime.store import default_store_path, open_store

        from .auth import RateLimiter

        self.config = config
        target = str(config.store or default_store_path())
        if target.startswith(("postgresql://", "postgres://")):
            # a database server: this server's own files (uploads, workspace, link secret,
            # version snapshots) stay in the project's .flowc folder
            where = Path(config.project).resolve() / ".flowc" / "server"
            self.store = open_store(target)
        else:
            where = Path(target)
            self.store = None
        where.parent.mkdir(parents=True, exist_ok=True)
        self.store_path = where
        if self.store is None:
            self.store = open_store(str(where))
        self.catalog = Catalog([config.project])
        self.limiter = RateLimiter()                 # per person: 5 in 5 minutes
        self.addr_limiter = RateLimiter(max_failures=30)  # per client address
        self.uploads = where.parent / "uploads"
        self.workspace = str((where.parent / "workspace").resolve())
        self.secret = config.secret or _secret_for(where.parent)
        self.owner = f"serve:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._import_people_json(where.parent / "people.json")
        self.front = self._engine()   # records starts and decisions; never runs a node
        self._worker = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log: list[str] = []      # the loop's last problems (bounded), also on stderr
        self.passes = 0
        from .notify import LinkSigner

        self.signer = LinkSigner(self.secret, clock=config.clock)
        self.oidc = None
        if config.oidc is not None:
            from .oidc import OidcProvider

            self.oidc = OidcProvider(config.oidc, config.base_url.rstrip("/") +
                                     "/signin/oidc/callback", self.secret, clock=config.clock)
        self._version_plans: dict[str, tuple] = {}   # plan hash -> (Plan, entry file)
        self.anchor = self._audit_anchor()
        self._unanchored: set[str] = set()  # runs whose head the anchor has not taken yet
        self._schedule_basis: tuple = ()
        self.notifier = self._notifier()
        self.scheduler = self._scheduler()

    # ---- set-up
    def _engine(self, *, worker: bool = False):
        from flowc.config import load_config
        from flowc.runtime.engine import Engine
        from flowc.runtime.models.router import Models

        models = Models(load_config(self.config.project), replay=self.config.replay,
                        record=self.config.record if worker else None)
        return Engine(self.store, workspace=self.workspace, base_dir=str(self.config.project),
                      models=models, on_error=self._problem, clock=self.config.clock,
                      sandbox=self.config.sandbox, run_threads=self.config.run_threads)

    def _audit_anchor(self):
        """flowc.toml's `[audit] anchor` (None: none, or a file that cannot be read: said)."""
        from flowc.config import ConfigError, load_config
        from flowc.runtime.audit import Anchor

        try:
            url = load_config(self.config.project).audit_anchor
        except ConfigError as e:
            self._problem(f"run heads are not anchored: {e}")
            return None
        return Anchor(url) if url else None

    def anchor_heads(self) -> None:
        """Append the heads of the runs this process extended (decisions, starts, the worker's
        nodes, schedules) to the audit anchor, as `flowc run`/`resume` do. A failure is
        reported; those runs are tried again at the next pass, with any extended since."""
        from flowc.runtime.audit import AnchorError

        if self.anchor is None:
            return
        pending = self._unanchored | self.store.touched_runs()
        if not pending:
            return
        try:
            self.anchor.record(self.store, pending)
        except AnchorError as e:
            self._unanchored = pending
            self._problem(f"{len(pending)} run head(s) not anchored (tried again at the next "
                          f"pass): {e}"[:500])
            return
        self._unanchored = set()

    def _import_people_json(self, path: Path) -> None:
        """People recorded with `flowc people` before the store kept them: their roles are
        taken into the store once (a person already in the store keeps the store's)."""
        try:
            people = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(people, dict):
            return
        for name, roles in people.items():
            if isinstance(name, str) and name.strip() and isinstance(roles, list) and \
                    self.store.get_person(name) is None:
                self.store.set_person(name, roles=[r for r in roles if isinstance(r, str)])

    def _notifier(self):
        from .notify import Notifier, SmtpConfig

        smtp = None
        if self.config.smtp_host:
            smtp = SmtpConfig(host=self.config.smtp_host, port=self.config.smtp_port,
                              sender=self.config.smtp_sender)
        if smtp is None and not self.config.webhook_url:
            return None
        return Notifier(self.store, self.signer, base_url=self.config.base_url, smtp=smtp,
                        webhook_url=self.config.webhook_url, link_ttl=self.config.link_ttl,
                        clock=self.config.clock)

    def _scheduler(self):
        from .schedule import Scheduler, schedules_from_plans

        entries = []
        for name in self.flow_names():
            try:
                entries.append(self.flow_entry(name))
            except Exception as e:  # one flow's bad rows never keep the server from starting
                self._problem(f"flow {name}: its schedule is not started: "
                              f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")
        plans = [e.plan for e in entries if e is not None and e.plan is not None
                 and any(t.get("kind") == "schedule" for t in e.triggers)]
        self._schedule_basis = self._published()
        if not plans:
            return None
        return Scheduler(self.store, schedules_from_plans(plans), self._scheduled_start,
                         owner=self.owner, clock=self.config.clock,
                         catch_up=self.config.catch_up, on_error=self._problem)

    def _scheduled_start(self, schedule, tick: float) -> str:
        from flowc.runtime.engine import RunRefused

        entry = self.flow_entry(schedule.flow)
        if entry is None or entry.plan is None:
            raise RunRefused(entry.errors[0] if entry else f"no flow `{schedule.flow}`")
        inputs = dict(self.config.schedule_inputs.get(schedule.flow, {}))
        run = self._start(entry.plan, inputs, base_dir=str(entry.base_dir),
                          version=entry.version)
        self.wake()
        return run.id

    def _start(self, plan, inputs: dict, **kw):
        """A queued run of `plan`: for this process's worker, or bound to a Temporal workflow
        and started there (refused in one line when Temporal cannot start it: the run is then
        cancelled, never left queued with nobody to advance it)."""
        t = self.config.temporal
        if t is None:
            return self.front.start(plan, inputs, advance=False, **kw)
        from flowc.runtime.engine import RunRefused, cancel_run
        from flowc.runtime.temporal.client import TemporalError, binding, start_run

        def bind(run_id):
            return binding(run_id, t["address"], t["namespace"], t["task_queue"])

        run = self.front.start(plan, inputs, advance=False, bind=bind, **kw)
        try:
            start_run(bind(run.id), run.id, heartbeat_seconds=t.get("heartbeat", 30.0))
        except TemporalError as e:
            cancel_run(self.store, run.id, "flowc")
            raise RunRefused(f"{e} (run {run.id} was cancelled)") from None
        return run

    # ---- which version of a flow runs
    def flow_names(self) -> list[str]:
        """The flows this server offers: those of the project and those with a version."""
        return sorted(set(self.catalog.entries) | {v.flow for v in self.store.list_versions()})

    def flow_entry(self, name: str, version: str | None = None, who=None) -> FlowEntry | None:
        """The flow as a run of it starts now (None: no such flow). A flow with a published
        version runs that version's snapshot; a flow with versions but none published does
        not run (its entry has no plan, and the reason as its error); a flow never versioned
        runs from its file, unless flowc.toml says `[versions] published_only`. `version`
        names a version to run explicitly (a draft, for a person holding a versions role),
        marked as such in the run's `run.started`."""
        from flowc.runtime.versions import VersionError, resolve

        entry = self.catalog.get(name)
        if version is not None:
            if who is None or not ({"drafter", "reviewer", "publisher", "admin"} &
                                   set(who.roles)):
                return FlowEntry(name, Path(name), self.config.project, None, [
                    "running a chosen version takes a versions role (drafter, reviewer, "
                    "publisher)"])
            try:
                chosen = resolve(self.store, name, version)
            except VersionError as e:
                return FlowEntry(name, Path(name), self.config.project, None, [str(e)])
            return self._version_entry(chosen)
        published = self.store.published_version(name)
        if published is not None:
            return self._version_entry(published)
        if self.store.list_versions(name):
            return FlowEntry(name, entry.path if entry else Path(name), self.config.project,
                             None, [f"{name} has versions but none is published (`flowc "
                                    f"versions {name}`)"])
        if self.store.version_chain_head(name) is not None:
            # a version history with no versions left in the table: rows deleted outside
            # flowc; the working copy never runs in their place
            return FlowEntry(name, entry.path if entry else Path(name), self.config.project,
                             None, [f"{name} has a version history but no versions in the "
                                    f"table (`flowc versions {name} --verify`)"])
        if entry is not None and entry.plan is not None and self._published_only():
            return FlowEntry(name, entry.path, entry.base_dir, None, [
                f"{name} has no published version (flowc.toml [versions] published_only)"])
        return entry

    def _published(self) -> tuple:
        """The flows' published versions now: (flow, plan hash), sorted."""
        return tuple(sorted((v.flow, v.hash) for v in self.store.published_versions()))

    def _published_only(self) -> bool:
        from flowc.config import ConfigError, load_config

        try:
            return load_config(self.config.project).published_only
        except ConfigError:
            return False

    def _version_problems(self, v) -> list[str]:
        """What is wrong with a version about to run (empty: nothing): its history's chain
        and its row against that history (status, plan hash, author, snapshot sha256),
        checked at every start (one read of the flow's events); and its stored snapshot
        against that sha256 until its plan is loaded (the plan is then kept by its hash, so
        a snapshot changed later is never what runs)."""
        return self.store.verify_version_chain(
            v.flow, bundles=() if v.hash in self._version_plans else (v.number,))

    def _version_entry(self, v) -> FlowEntry:
        from flowc.compiler.plan import Plan
        from flowc.runtime.versions import VersionError, bundle_plan, materialize

        problems = self._version_problems(v)
        if problems:
            return FlowEntry(v.flow, Path(v.flow), self.config.project, None, [
                f"v{v.number}'s version history does not verify ({problems[0]}; `flowc versions {v.flow} --verify`)"])
        cached = self._version_plans.get(v.hash)
        if cached is None:
            try:
                plan = Plan.model_validate(bundle_plan(self.store, v))
                path = materialize(self.store, v, self.store_path.parent)
            except (VersionError, ValueError) as e:
                return FlowEntry(v.flow, Path(v.flow), self.config.project, None, [
                    f"v{v.number}'s snapshot cannot be loaded ({' '.join(str(e).split())[:200]};"
                    f" `flowc versions {v.flow} --verify`)"])
            if plan.hash != v.hash:
                return FlowEntry(v.flow, Path(v.flow), self.config.project, None, [
                    f"v{v.number}'s snapshot holds another plan than its hash says "
                    f"(`flowc versions {v.flow} --verify`)"])
            cached = self._version_plans[v.hash] = (plan, path)
        plan, path = cached
        return FlowEntry(v.flow, path, path.parent, plan, [], version={
            "number": v.number, "status": v.status, "hash": v.hash})

    # ---- what requests call
    def roles_of(self, name: str) -> tuple[str, ...]:
        person = self.store.get_person(name)
        return person.roles if person else ()

    def start_run(self, entry: FlowEntry, inputs: dict, by: str | None = None) -> Any:
        run = self._start(entry.plan, inputs, by=by,
                          base_dir=str(entry.base_dir) if entry.version else None,
                          version=entry.version)
        self.wake()
        return run

    def bound(self, task_id: str) -> dict | None:
        """The Temporal workflow that orchestrates this task's run, if one does."""
        task = self.store.get_task(task_id)
        return self.store.run_engine(task.run_id) if task is not None else None

    def decide(self, task_id: str, who, **kw) -> Any:
        bound = self.bound(task_id)
        if bound is not None:  # the decision is the workflow's update (checked, then recorded)
            return self._decide_on_temporal(task_id, bound, who, **kw)
        run = self.front.decide(task_id, by=who.name, roles=who.roles, advance=False, **kw)
        self.wake()
        return run

    def _decide_on_temporal(self, task_id: str, bound: dict, who, **kw) -> Any:
        from flowc.runtime.decisions import DecisionRefused
        from flowc.runtime.temporal.client import TemporalError, decide_task

        task = self.store.get_task(task_id)
        try:
            decide_task(bound, task, by=who.name, roles=who.roles,
                        address=(self.config.temporal or {}).get("address"), **kw)
        except TemporalError as e:
            raise DecisionRefused(f"not recorded: {e}") from None
        return self.store.get_run(task.run_id)

    def wake(self) -> None:
        self._wake.set()

    def _problem(self, *args) -> None:
        text = " ".join(str(a) for a in args)
        self.log.append(text)
        del self.log[:-200]
        print(f"{self.config.label}: {text}", file=sys.stderr, flush=True)

    # ---- the background loop
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="flowc-serve-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with contextlib.suppress(Exception):  # the heads of the last requests and pass
            self.anchor_heads()
        if self._worker is not None:
            with contextlib.suppress(Exception):
                self._worker.close()
        with contextlib.suppress(Exception):
            self.front.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.run_pass()
            self._wake.wait(self.config.interval)

    PARTS = ("schedule", "worker", "notify", "webhooks")

    def run_pass(self, parts: tuple[str, ...] = PARTS) -> None:
        """One pass: schedules, due timeouts and escalations, runs to advance, notifications,
        run webhooks (those of `parts`: `flowc worker` runs the others itself). Each part's
        failure is reported and the others go on."""
        from .webhooks import post_run_events

        steps = []
        if "schedule" in parts and self._published() != self._schedule_basis:
            self.scheduler = self._scheduler()  # a version was published: its schedules now
        if self.scheduler is not None and "schedule" in parts:
            steps.append(("schedule", self.scheduler.run_once))
        if self.config.worker and "worker" in parts:
            steps.append(("worker", self._work))
        if self.notifier is not None and "notify" in parts:
            steps.append(("notify", self.notifier.run_once))
        if self.config.webhook_url and "webhooks" in parts:
            steps.append(("webhooks", lambda: post_run_events(
                self.store, self.config.webhook_url, self.config.base_url)))
        if self.anchor is not None:  # last: the heads this pass (and requests) made
            steps.append(("anchor", self.anchor_heads))
        for name, step in steps:
            if self._stop.is_set():
                return
            try:
                step()
            except Exception as e:  # reported; the loop goes on
                self._problem(f"{name} pass failed: {type(e).__name__}: {e}"[:500])
        self.passes += 1

    def _work(self) -> None:
        if self._worker is None:
            self._worker = self._engine(worker=True)
        self._worker.fire_due()
        for _ in range(20):  # bounded: the next pass takes what is left
            if self._stop.is_set() or not self._worker.resume_interrupted(limit=10):
                break
