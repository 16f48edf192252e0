"""Benchmark `flowc serve`: the inbox over 10,000 pending tasks, and 50 reviewers deciding at once.

The server is the real one (`flowc.server.app.create_app` over a `Service` on a SQLite store
file), served by uvicorn as `flowc serve` does, in a CHILD PROCESS, so the load client (this
process and its threads) never shares the server's interpreter lock. The app is wrapped in one
outer ASGI middleware that adds `Server-Timing: app;dur=MS` to every response: the APP TIME,
from the app receiving the request to the start of its response (routing, the session and
person look-ups, the store's queries and commits, the page's rendering, the wait for a thread
of the server's pool for a sync endpoint). It leaves out uvicorn's HTTP parsing and socket
writes, and the wait for the event loop before the app is called. The ROUND TRIP is what the
load client saw (under load it also includes the client's own threads queueing for their
interpreter: the /healthz calibration row shows that part).

The store is filled before the server starts, directly through the store API: runs of the
compiled examples/refund_approval/refund_approval.flow paused at its `review` gate, each as
`Engine.start` commits it (the run and `run.started`, `proposal`'s result, the gate's task as
runtime/nodes/gate.py opens it: routed to role `support_lead`, its shown values, title, form
fields, prefill, actions and timeout; the gate's waiting result and `gate.opened`), 1,000 per
`store.transaction()`. One task in ten more is routed to role `finance`, which the inbox must
leave out.

1. Inbox with N pending tasks (N = 10,000; --quick: 500) for a person holding the role,
   signed in through the sign-in form, on a quiet server (`worker=False`): GET /inbox (page
   1), GET /inbox?page=100 (the last page when there are fewer), and a filtered view (GET
   /inbox?flow=refund_approval&role=support_lead), one request at a time (after 3 untimed
   ones); each page is checked (its total is N, it lists 50 tasks, its page number).
   Target (the issue's): app time p50 <= 100 ms.
2. R reviewers deciding at once (R = 50; --quick: 10), each its own person with the role,
   its own HTTP client (keep-alive), all released together by a barrier, each deciding K
   distinct pending tasks (K = 20; --quick: 5) one after the other:
   a. through the review page, as a browser does: GET /review/ID (its form's csrf and one-time
      form_id, the prefilled values), then POST the form with action=approve (303: success);
   b. through the JSON API: POST /api/tasks/ID/decision {"action": "approve"} with the
      reviewer's Bearer token (200: success);
   c, d. the same two on a second server over the same store with its worker on
      (`worker=True`): it advances the runs decided so far (their `pay` code node runs in the
      sandbox) while the reviewers decide; measured once it has ended a run.
   First, for calibration, the same clients GET /healthz K times each, all at once.
   Target (the issue's): the decision POSTs' round trip p99 <= 300 ms (by nearest rank), for
   each of a-d (the app time is shown beside it). Hard targets: 0 errors (any other status, a
   refused or failed request), and every decision recorded exactly once: each task decided
   by its reviewer, approved, with exactly one `task.decided` event, its run's audit trail
   verified, its run queued for a worker (or gone on, with the worker on; none failed); the
   store holds as many decided tasks and `task.decided` events as decisions succeeded, and
   the rest still pending.
3. Contention: C tasks (C = 5 of each kind; --quick: 2) each decided by several reviewers at
   the same instant (5; --quick: 3; released by one barrier): through the form, through the
   API, and mixed. Hard target: exactly one winner per task (303 or 200), 409 for each of
   the others, one `task.decided` event; and a winning form sent again gets 409.

Exit status: 1 when a hard (correctness) target fails; a missed latency target only with
--strict (a busy machine makes figures slower, not wrong). The server's log is printed when
something failed.

Usage: python bench/serve.py [--quick] [--strict] [--tasks N] [--reviewers R]
                             [--per-reviewer K] [--no-worker-variant]
"""

from __future__ import annotations

import argparse
import contextlib
import html
import math
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FLOW = EXAMPLES / "refund_approval" / "refund_approval.flow"

INBOX_P50_MS = 100.0   # the target: the inbox page over 10,000 pending tasks
DECIDE_P99_MS = 300.0  # the target: 50 reviewers deciding at once (round trip)
ROLE = "support_lead"
OTHER_ROLE = "finance"
PASSWORD = "bench-serve-password"
PAGE_SIZE = 50          # server/app.py's inbox page
START_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 120


# --------------------------------------------------------------------------------------
# The server, in a child process, with a Server-Timing header
# --------------------------------------------------------------------------------------


class ServerTiming:
    """Outermost ASGI middleware: `Server-Timing: app;dur=MS`, from receiving the request to
    the start of the response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()

        async def sending(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000.0
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"server-timing", f"app;dur={ms:.3f}".encode())]}
            await send(message)

        return await self.app(scope, receive, sending)


def serve_child(project: str, store: str, port: int, worker: bool) -> int:
    """The server process: what `flowc serve [--no-worker]` runs, plus the timing header."""
    import uvicorn

    from flowc.server.app import create_app
    from flowc.server.service import ServeConfig, Service

    base = f"http://127.0.0.1:{port}"
    service = Service(ServeConfig(project=Path(project), store=store, base_url=base,
                                  worker=worker))
    app = ServerTiming(create_app(service=service))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False,
                server_header=False)
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(project: Path, store: Path, log: Path, *, worker: bool = False):
    """Start the server process; yields its base URL; stops it (SIGTERM, uvicorn's graceful
    shutdown) at the end."""
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log, "a") as err:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-child",
                                 str(project), str(store), str(port),
                                 "worker" if worker else "no-worker"],
                                stdout=err, stderr=subprocess.STDOUT, cwd=str(project))
    try:
        end = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bench/serve.py: the server exited {proc.returncode}:\n"
                                 + log.read_text()[-2000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > end:
                raise SystemExit("bench/serve.py: the server did not start:\n"
                                 + log.read_text()[-2000:])
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------------------
# The store: paused runs at the refund gate, people, tokens
# --------------------------------------------------------------------------------------


@dataclass
class Filled:
    review_tasks: list[str]          # routed to ROLE, oldest first
    other_tasks: int                 # routed to OTHER_ROLE
    seconds: float


def compile_plan():
    from flowc.compiler.api import compile_file

    result = compile_file(FLOW)
    if result.plan is None:
        problems = [d.message for d in result.diagnostics.items][:3]
        raise SystemExit(f"bench/serve.py: {FLOW.name} does not compile: {problems}")
    return result.plan


def fill_store(path: Path, plan, n_tasks: int, project: Path, batch: int = 1000) -> Filled:
    """N paused runs with the gate's task routed to ROLE, and one in ten more routed to
    OTHER_ROLE, interleaved. Each run is what `Engine.start` commits when the run reaches the
    gate (so a worker can take it on): the run and its `run.started` event, `proposal`'s
    result, the gate's task as `runtime/nodes/gate.py` opens it, and the gate's waiting result
    with its `gate.opened` event."""
    from flowc.runtime.store import SQLiteStore

    gate = next(n for n in plan.nodes if n.id == "review")
    cfg = gate.config
    timeout = cfg["timeout"]
    store = SQLiteStore(str(path))
    workspace = str((path.parent / "workspace").resolve())  # the Service's
    filled = Filled([], 0, 0.0)
    try:
        store.put_plan(plan.hash, plan.to_compact_json())
        start = time.perf_counter()
        total = n_tasks + n_tasks // 10
        made = 0
        while made < total:
            with store.transaction():
                for _ in range(min(batch, total - made)):
                    other = made % 11 == 10
                    amount = 20.0 + (made % 480) * 1.25
                    reason = "damaged in transit" if made % 2 else "arrived late"
                    rate = 1.0 if "damaged" in reason else 0.5
                    proposal = {"refund": round(amount * rate, 2),
                                "rule": "full refund for damaged goods" if rate == 1.0
                                else "half refund"}
                    refund = proposal["refund"]
                    order = {"id": f"A-{made:06d}", "amount": amount, "reason": reason}
                    inputs = {"order": order}
                    run = store.create_run(plan.flow.name, plan.hash, inputs, status="paused",
                                           workspace_url=workspace, base_dir=str(project))
                    store.append_audit(run.id, "run.started", "flowc", {
                        "plan_hash": plan.hash, "flow": plan.flow.name, "inputs": inputs})
                    now = time.time()
                    store.finish_node(run.id, "proposal", -1, "succeeded", output=proposal,
                                      started={"attempt": 1, "started_at": now})
                    shown = [order["id"], reason, refund, proposal["rule"]]
                    task = store.create_task(
                        run.id, gate.id, kind="gate",
                        assignees=[{"kind": "role", "name": OTHER_ROLE if other else ROLE}],
                        title=f"Refund {refund} EUR for order {order['id']}?", show=shown,
                        form={"fields": cfg["form"], "values": {"refund": refund},
                              "actions": cfg["actions"], "message": None,
                              "show_labels": cfg.get("show_labels")},
                        deadline=now + timeout["seconds"], timeout_outcome=timeout["then"])
                    store.finish_node(run.id, gate.id, -1, "waiting", audit=[(
                        "gate.opened", "flowc", {
                            "node": gate.id, "item": -1, "task": task.id, "shown": shown,
                            "form": {"refund": refund}, "plan_hash": plan.hash})],
                        started={"attempt": 1, "started_at": now})
                    if other:
                        filled.other_tasks += 1
                    else:
                        filled.review_tasks.append(task.id)
                    made += 1
        filled.seconds = time.perf_counter() - start
        pending = store.count_tasks("pending", roles=[ROLE])
        if pending != n_tasks:
            raise SystemExit(f"bench/serve.py: {pending} pending tasks for {ROLE}, not {n_tasks}")
        return filled
    finally:
        store.close()


def add_people(path: Path, reviewers: int) -> dict[str, str]:
    """The inbox's reader (`lead`) and the reviewers, with the role and a password; an API
    token for each reviewer. Returns {reviewer: token}."""
    from flowc.runtime.store import SQLiteStore
    from flowc.server.auth import new_secret, record_person

    store = SQLiteStore(str(path))
    tokens = {}
    try:
        record_person(store, "lead", [ROLE], password=PASSWORD)
        for i in range(reviewers):
            name = f"reviewer{i:02d}"
            record_person(store, name, [ROLE], password=PASSWORD)
            tokens[name] = "flowc_" + new_secret()
            store.add_api_token(name, tokens[name], label="bench")
        return tokens
    finally:
        store.close()


def make_project(tmp: Path) -> Path:
    project = tmp / "project"
    project.mkdir()
    shutil.copy(EXAMPLES / "flowc.toml", project / "flowc.toml")
    shutil.copy(FLOW, project / FLOW.name)
    return project


# --------------------------------------------------------------------------------------
# HTTP clients: sessions (the cookies are `Secure`), the review form
# --------------------------------------------------------------------------------------


def _keep_cookies(client, response) -> None:
    """Keep the server's `Secure` cookies on http://127.0.0.1 as a browser does (Python's
    cookie jar drops them)."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if "max-age=0" in header.lower() or value in ('""', ""):
            client.cookies.delete(name)
        else:
            client.cookies.set(name, value)


def new_client(base: str):
    import httpx

    c = httpx.Client(base_url=base, follow_redirects=False, timeout=REQUEST_TIMEOUT_S)
    c.event_hooks["response"] = [lambda r: _keep_cookies(c, r)]
    return c


def signed_in(base: str, name: str):
    """A client with a web session, through the sign-in form (its CSRF token and cookie)."""
    c = new_client(base)
    page = c.get("/signin")
    r = c.post("/signin", data={"csrf": _hidden(page.text, "csrf"), "name": name,
                                "password": PASSWORD})
    if r.status_code != 303:
        raise SystemExit(f"bench/serve.py: {name} could not sign in: {r.status_code} "
                         f"{r.text[:300]}")
    return c


def _hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    if m is None:
        raise ValueError(f"no `{name}` field in the page")
    return html.unescape(m.group(1))


_INPUT = re.compile(r"<input\b[^>]*>")
_ATTR = re.compile(r'(\w[\w.-]*)="([^"]*)"')


def form_data(page: str, action: str) -> dict[str, str]:
    """What a browser sends for the decision form: its inputs (hidden fields, prefilled
    values), an empty reason, and the button pressed."""
    start = page.find('data-testid="decide-form"')
    end = page.find("</form>", start)
    if start < 0 or end < 0:
        raise ValueError("no decision form in the page")
    data = {}
    for tag in _INPUT.findall(page[start:end]):
        attrs = dict(_ATTR.findall(tag))
        if "name" in attrs and attrs.get("type") != "checkbox":
            data[attrs["name"]] = html.unescape(attrs.get("value", ""))
    if "csrf" not in data or "form_id" not in data:
        raise ValueError("the decision form has no csrf or form_id")
    data["reason"] = ""
    data["action"] = action
    return data


def server_ms(response) -> float | None:
    m = re.search(r"app;dur=([0-9.]+)", response.headers.get("server-timing", ""))
    return float(m.group(1)) if m else None


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (p50 is the median)."""
    if q == 50:
        return statistics.median(samples)
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Row:
    measure: str
    n: str = ""
    p50: str = "-"
    p99: str = "-"
    target: str = "info"
    status: str = "-"   # PASS / MISS (a figure) / FAIL (correctness) / "-" (information)


def timing_row(measure: str, samples: list[float], target: float | None = None,
               at: int = 50) -> Row:
    """A latency row; `target`: the bound on the `at` percentile (50 or 99)."""
    if not samples:
        return Row(measure, "0", "n/a", "n/a", f"p{at} <= {target:g} ms" if target else "info",
                   "FAIL" if target else "-")
    p50, p99 = pct(samples, 50), pct(samples, 99)
    if target is None:
        return Row(measure, str(len(samples)), f"{p50:.1f}", f"{p99:.1f}")
    return Row(measure, str(len(samples)), f"{p50:.1f}", f"{p99:.1f}",
               f"p{at} <= {target:g} ms", "PASS" if pct(samples, at) <= target else "MISS")


def check_row(measure: str, value: int | str, ok: bool, target: str) -> Row:
    return Row(measure, str(value), target=target, status="PASS" if ok else "FAIL")


def print_table(rows: list[Row]) -> None:
    cols = ("measure", "n", "p50", "p99", "target", "status")
    table = [Row("measure", "n", "p50 ms", "p99 ms", "target", "result"), *rows]
    widths = [max(len(getattr(r, c)) for r in table) for c in cols]
    for k, r in enumerate(table):
        cells = [getattr(r, c) for c in cols]
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(cells, widths))).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


# --------------------------------------------------------------------------------------
# 1: the inbox
# --------------------------------------------------------------------------------------


@dataclass
class Views:
    rows: list[Row]
    problems: list[str]


def measure_inbox(base: str, n_tasks: int, repeat: int) -> Views:
    client = signed_in(base, "lead")
    pages = max(1, math.ceil(n_tasks / PAGE_SIZE))
    deep = min(100, pages)
    views = [("GET /inbox (page 1)", "/inbox", 1),
             (f"GET /inbox?page={deep}" + ("" if deep == 100 else " (the last)"),
              f"/inbox?page={deep}", deep),
             (f"GET /inbox?flow=refund_approval&role={ROLE}",
              f"/inbox?flow=refund_approval&role={ROLE}", 1)]
    rows, problems = [], []
    try:
        for label, url, page in views:
            shown = min(PAGE_SIZE, n_tasks - (page - 1) * PAGE_SIZE)
            server, trip = [], []
            for k in range(repeat + 3):
                t0 = time.perf_counter()
                r = client.get(url)
                elapsed = (time.perf_counter() - t0) * 1000.0
                problem = None
                if r.status_code != 200:
                    problem = f"{url}: status {r.status_code}"
                elif f'data-testid="total">{n_tasks} pending' not in r.text:
                    m = re.search(r'data-testid="total">([^<]*)<', r.text)
                    problem = f"{url}: total {m.group(1) if m else '?'}, not {n_tasks} pending"
                elif (listed := r.text.count('href="/review/')) != shown or \
                        f"page {page} of {pages}" not in r.text:
                    problem = (f"{url}: {listed} tasks listed, not {shown} (or not page "
                               f"{page} of {pages})")
                if problem:
                    problems.append(problem)
                    break
                if k >= 3:
                    server.append(server_ms(r))
                    trip.append(elapsed)
            rows.append(timing_row(f"1 {label}: app time", server, INBOX_P50_MS))
            rows.append(timing_row("     same, round trip", trip))
    finally:
        client.close()
    return Views(rows, problems)


# --------------------------------------------------------------------------------------
# 2 and 3: reviewers deciding
# --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one decision request got."""
    task: str
    reviewer: str
    via: str                # "form" | "api"
    status: int | None      # None: the request failed
    server_ms: float | None
    trip_ms: float
    problem: str | None = None


@dataclass
class Reviewer:
    name: str
    token: str
    client: object = None   # httpx.Client with a session


def _ready(ready) -> bool:
    try:
        ready()
        return True
    except threading.BrokenBarrierError:
        return False


def decide_via_form(rv: Reviewer, task: str, *, ready=None) -> tuple[Outcome, float | None,
                                                                         dict | None]:
    """GET the review page, POST its form (approve). `ready`: called between the two (the
    contention barrier). Returns (the POST's outcome, the GET's server ms, the form sent)."""
    c = rv.client
    try:
        page = c.get(f"/review/{task}")
        if page.status_code != 200:
            return Outcome(task, rv.name, "form", None, None, 0.0,
                           f"review page {page.status_code}"), None, None
        data = form_data(page.text, "approve")
    except Exception as e:  # counted as an error: the count is the result
        return Outcome(task, rv.name, "form", None, None, 0.0,
                       f"review page: {type(e).__name__}: {e}"), None, None
    if ready is not None and not _ready(ready):
        return Outcome(task, rv.name, "form", None, None, 0.0, "the contest was called off"), \
            None, None
    t0 = time.perf_counter()
    try:
        r = c.post(f"/review/{task}", data=data)
    except Exception as e:
        return Outcome(task, rv.name, "form", None, None,
                       (time.perf_counter() - t0) * 1000.0,
                       f"{type(e).__name__}: {e}"), server_ms(page), data
    trip = (time.perf_counter() - t0) * 1000.0
    problem = None
    if r.status_code == 303 and not r.headers.get("location", "").endswith("?done=1"):
        problem = f"303 to {r.headers.get('location')}"
    return Outcome(task, rv.name, "form", r.status_code, server_ms(r), trip, problem), \
        server_ms(page), data


def decide_via_api(rv: Reviewer, task: str, *, ready=None) -> Outcome:
    c = rv.client
    if ready is not None and not _ready(ready):
        return Outcome(task, rv.name, "api", None, None, 0.0, "the contest was called off")
    t0 = time.perf_counter()
    try:
        r = c.post(f"/api/tasks/{task}/decision", json={"action": "approve"},
                   headers={"authorization": f"Bearer {rv.token}"})
    except Exception as e:
        return Outcome(task, rv.name, "api", None, None, (time.perf_counter() - t0) * 1000.0,
                       f"{type(e).__name__}: {e}")
    trip = (time.perf_counter() - t0) * 1000.0
    problem = None
    if r.status_code == 200:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            body = r.json()
            if body["task"]["status"] != "decided" or body["task"]["decided_by"] != rv.name:
                problem = f"200 with task {body['task']['status']} by {body['task']['decided_by']}"
    return Outcome(task, rv.name, "api", r.status_code, server_ms(r), trip, problem)


def ping(rv: Reviewer, _task: str) -> Outcome:
    """GET /healthz: the load client and HTTP alone (the calibration of the round trips)."""
    t0 = time.perf_counter()
    try:
        r = rv.client.get("/healthz")
    except Exception as e:
        return Outcome("-", rv.name, "healthz", None, None, (time.perf_counter() - t0) * 1000.0,
                       f"{type(e).__name__}: {e}")
    return Outcome("-", rv.name, "healthz", r.status_code, server_ms(r),
                   (time.perf_counter() - t0) * 1000.0)


@dataclass
class Load:
    via: str                # form | api | healthz
    worker: bool            # the server advanced runs meanwhile
    outcomes: list[Outcome]
    page_ms: list[float]    # the review pages' server time (form path)
    seconds: float

    @property
    def ok_status(self) -> int:
        return 303 if self.via == "form" else 200

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != self.ok_status or o.problem]


def run_load(reviewers: list[Reviewer], work: dict[str, list[str]], via: str, *,
             worker: bool = False) -> Load:
    """Every reviewer decides its tasks (or pings), one after the other, all reviewers at
    once (released together by a barrier)."""
    barrier = threading.Barrier(len(reviewers) + 1)
    outcomes: list[Outcome] = []
    page_ms: list[float] = []
    lock = threading.Lock()

    def one(rv: Reviewer):
        mine, pages = [], []
        barrier.wait()
        for task in work[rv.name]:
            if via == "form":
                o, page, _ = decide_via_form(rv, task)
                if page is not None:
                    pages.append(page)
            elif via == "api":
                o = decide_via_api(rv, task)
            else:
                o = ping(rv, task)
            mine.append(o)
        with lock:
            outcomes.extend(mine)
            page_ms.extend(pages)

    threads = [threading.Thread(target=one, args=(rv,), daemon=True) for rv in reviewers]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return Load(via, worker, outcomes, page_ms, time.perf_counter() - start)


@dataclass
class Contest:
    task: str
    kind: str               # form | api | mixed
    outcomes: list[Outcome]

    def winners(self) -> list[Outcome]:
        return [o for o in self.outcomes
                if o.status == (303 if o.via == "form" else 200) and not o.problem]

    def problem(self) -> str | None:
        won = self.winners()
        lost = [o for o in self.outcomes if o not in won]
        if len(won) != 1:
            return f"{self.kind} contest on {self.task}: {len(won)} winners"
        bad = [o for o in lost if o.status != 409]
        if bad:
            return (f"{self.kind} contest on {self.task}: a loser got {bad[0].status} "
                    f"{bad[0].problem or ''}".rstrip())
        return None


def run_contest(contestants: list[Reviewer], task: str, kind: str) -> tuple[Contest, dict]:
    """Every contestant decides `task` at the same instant. Returns the contest and the
    winning form (when a form won), to send again."""
    barrier = threading.Barrier(len(contestants))
    outcomes: list[Outcome] = []
    forms: dict[str, dict] = {}
    lock = threading.Lock()

    def go(i: int, rv: Reviewer):
        via = kind if kind != "mixed" else ("form" if i % 2 == 0 else "api")
        if via == "form":
            o, _, data = decide_via_form(rv, task, ready=barrier.wait)
            if o.status is None and data is None:  # the page failed: release the others
                barrier.abort()
        else:
            o = decide_via_api(rv, task, ready=barrier.wait)
            data = None
        with lock:
            outcomes.append(o)
            if data is not None:
                forms[rv.name] = data

    threads = [threading.Thread(target=go, args=(i, rv), daemon=True)
               for i, rv in enumerate(contestants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    contest = Contest(task, kind, outcomes)
    won = contest.winners()
    form = forms.get(won[0].reviewer) if len(won) == 1 and won[0].via == "form" else None
    return contest, form


def runs_ended(path: Path, wait: float = 0.0) -> int:
    """How many runs have ended (succeeded or failed); with `wait`, first wait (that many
    seconds at most) until the worker has ended one: it is running, and busy."""
    end = time.monotonic() + wait
    while True:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            (n,) = conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('succeeded', "
                                "'failed')").fetchone()
        finally:
            conn.close()
        if n or time.monotonic() >= end:
            return n
        time.sleep(0.2)


# --------------------------------------------------------------------------------------
# Verification, in the store, after the server stopped
# --------------------------------------------------------------------------------------


@dataclass
class Verified:
    problems: list[str]
    succeeded: int          # decided runs a worker took to their end
    failed: int             # ... and those that failed (a worker's problem: none expected)


def verify(path: Path, decided: dict[str, str], n_tasks: int, *, worker: bool) -> Verified:
    """Every decision recorded once: `decided` maps each task to its one winner. Without a
    worker each decided run is queued (for a worker); with one it may also have gone on."""
    from flowc.runtime.store import SQLiteStore

    problems = []
    may_be = {"queued", "running", "succeeded", "failed"} if worker else {"queued"}
    ended = Counter()
    store = SQLiteStore(str(path))
    try:
        for task_id, who in decided.items():
            t = store.get_task(task_id)
            if t is None or t.status != "decided" or t.decided_by != who or \
                    (t.decision or {}).get("outcome") != "approved":
                problems.append(f"task {task_id}: {t and t.status} by {t and t.decided_by}, "
                                f"not approved by {who}")
                continue
            events = [e for e in store.audit_events(t.run_id) if e.kind == "task.decided"]
            if len(events) != 1 or events[0].actor != who or \
                    (events[0].payload or {}).get("task") != task_id:
                problems.append(f"task {task_id}: {len(events)} task.decided events")
            run = store.get_run(t.run_id)
            if run is None or run.status not in may_be:
                problems.append(f"task {task_id}: its run is {run and run.status}")
            elif run.status in ("succeeded", "failed"):
                ended[run.status] += 1
            check = store.verify_audit(t.run_id)
            if not check.ok:
                problems.append(f"task {task_id}: its run's audit trail does not verify: "
                                f"{check.problems[:1]}")
        n_decided = store.count_tasks("decided")
        if n_decided != len(decided):
            problems.append(f"{n_decided} tasks decided in the store, {len(decided)} decisions "
                            "succeeded")
        n_pending = store.count_tasks("pending", roles=[ROLE])
        if n_pending != n_tasks - len(decided):
            problems.append(f"{n_pending} tasks still pending, not {n_tasks - len(decided)}")
    finally:
        store.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (events,) = conn.execute(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'task.decided'").fetchone()
    finally:
        conn.close()
    if events != len(decided):
        problems.append(f"{events} task.decided events in the store, {len(decided)} decisions")
    return Verified(problems, ended["succeeded"], ended["failed"])


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


_VIA = {"form": "form POST /review/ID approve", "api": "POST /api/tasks/ID/decision"}


def load_rows(tag: str, load: Load, n_reviewers: int) -> list[Row]:
    """The rows of one decision load: round trip, app time, errors, throughput."""
    where = "worker on" if load.worker else "worker off"
    sent = len(load.outcomes)
    rows = [timing_row(f"{tag} {_VIA[load.via]}, {where}: round trip",
                       [o.trip_ms for o in load.outcomes if o.status is not None],
                       DECIDE_P99_MS, at=99),
            timing_row("     same, app time (Server-Timing)",
                       [o.server_ms for o in load.outcomes if o.server_ms is not None])]
    if load.via == "form":
        rows.append(timing_row("     GET /review/ID before it, app time", load.page_ms))
    rows.append(check_row(f"     errors of {sent} decisions sent", len(load.errors),
                          not load.errors, "0"))
    rows.append(Row(f"     decisions per second, {n_reviewers} reviewers",
                    f"{sent / load.seconds:.0f}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-child"]:
        return serve_child(argv[1], argv[2], int(argv[3]), argv[4] == "worker")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="500 tasks, 10 reviewers deciding 5 each (the test suite's form)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 also when a latency target is missed")
    parser.add_argument("--tasks", type=int, help="pending tasks (default 10,000; quick 500)")
    parser.add_argument("--reviewers", type=int, help="concurrent reviewers (50; quick 10)")
    parser.add_argument("--per-reviewer", type=int,
                        help="decisions per reviewer and load (20; quick 5)")
    parser.add_argument("--markdown", metavar="PATH", default=None,
                        help="also write the table to PATH (bench/results/serve.md is the "
                        "README's; python scripts/figures.py pastes it)")
    parser.add_argument("--no-worker-variant", action="store_true",
                        help="skip 2c/2d (deciding while the server's worker advances runs)")
    args = parser.parse_args(argv)

    n_tasks = args.tasks or (500 if args.quick else 10_000)
    n_reviewers = args.reviewers or (10 if args.quick else 50)
    per = args.per_reviewer or (5 if args.quick else 20)
    repeat = 20 if args.quick else 100
    contests = 2 if args.quick else 5
    contestants = min(n_reviewers, 3 if args.quick else 5)
    with_worker = not args.no_worker_variant
    needed = (4 if with_worker else 2) * n_reviewers * per + 3 * contests
    if needed > n_tasks:
        parser.error(f"{needed} decisions need at least {needed} tasks")

    wall = time.perf_counter()
    print(f"flowc serve benchmark ({'quick' if args.quick else 'full'}): {n_tasks} pending "
          f"tasks, {n_reviewers} reviewers x {per} decisions per load; Python "
          f"{sys.version.split()[0]}; {os.cpu_count()} CPUs; sqlite {sqlite3.sqlite_version}",
          flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    problems: list[str] = []
    loads: list[tuple[str, Load]] = []
    decided: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="flowc-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        project = make_project(tmp)
        store = tmp / "store" / "runs.db"
        store.parent.mkdir()
        log = tmp / "server.log"
        filled = fill_store(store, compile_plan(), n_tasks, project)
        tokens = add_people(store, n_reviewers)
        print(f"  filled: {n_tasks} + {filled.other_tasks} ({OTHER_ROLE}) pending tasks in "
              f"{filled.seconds:.1f} s", flush=True)
        queue = iter(filled.review_tasks)
        reviewers = [Reviewer(name, tok) for name, tok in tokens.items()]

        def decide_all(tag: str, via: str, worker: bool) -> None:
            work = {rv.name: [next(queue) for _ in range(per)] for rv in reviewers}
            load = run_load(reviewers, work, via, worker=worker)
            loads.append((tag, load))
            for o in load.outcomes:
                if o.status == load.ok_status and not o.problem:
                    decided[o.task] = o.reviewer
            print(f"  measured {tag}: {len(load.outcomes)} decisions via {via} in "
                  f"{load.seconds:.1f} s", flush=True)

        try:
            with server_process(project, store, log) as base:
                # 1. the inbox, on a quiet server
                inbox = measure_inbox(base, n_tasks, repeat)
                rows += inbox.rows
                problems += inbox.problems
                rows.append(check_row("1 inbox pages as expected (total, rows, page)",
                                      len(inbox.problems), not inbox.problems, "0 wrong"))
                print("  measured 1: inbox", flush=True)

                # 2. reviewers deciding at once, through the form then through the API
                start = time.perf_counter()
                for rv in reviewers:
                    rv.client = signed_in(base, rv.name)
                print(f"  {n_reviewers} reviewers signed in in "
                      f"{time.perf_counter() - start:.1f} s", flush=True)
                calib = run_load(reviewers, {rv.name: ["-"] * per for rv in reviewers},
                                 "healthz")
                rows.append(timing_row(f"2 (calibration) GET /healthz, {n_reviewers} clients "
                                       "at once: round trip",
                                       [o.trip_ms for o in calib.outcomes
                                        if o.status is not None]))
                decide_all("2a", "form", False)
                decide_all("2b", "api", False)

                # 3. contention: one winner per task
                results: list[Contest] = []
                resent: list[tuple[str, int | None]] = []
                for kind in ("form", "api", "mixed"):
                    for k in range(contests):
                        group = [reviewers[(k * contestants + j) % n_reviewers]
                                 for j in range(contestants)]
                        task = next(queue)
                        contest, form = run_contest(group, task, kind)
                        results.append(contest)
                        won = contest.winners()
                        if len(won) == 1:
                            decided[task] = won[0].reviewer
                        if form is not None and not resent:  # a winning form sent again
                            owner = next(rv for rv in group if rv.name == won[0].reviewer)
                            r = owner.client.post(f"/review/{task}", data=form)
                            resent.append((task, r.status_code))
                print(f"  measured 3: {len(results)} contested tasks", flush=True)

            if with_worker:
                # 2c, 2d: the same while the server's worker advances the decided runs
                with server_process(project, store, log, worker=True) as base:
                    for rv in reviewers:
                        old, rv.client = rv.client, new_client(base)
                        rv.client.cookies.update(old.cookies)  # the same sessions
                        old.close()
                    before = runs_ended(store, wait=START_TIMEOUT_S)  # the worker is busy
                    decide_all("2c", "form", True)
                    decide_all("2d", "api", True)
                    during = runs_ended(store) - before
        finally:
            for rv in reviewers:
                if rv.client is not None:
                    with contextlib.suppress(Exception):
                        rv.client.close()

        for tag, load in loads:
            rows += load_rows(tag, load, n_reviewers)
            for o in load.errors[:3]:
                problems.append(f"{tag} decision of {o.task} by {o.reviewer}: status "
                                f"{o.status} {o.problem or ''}".rstrip())
            if load.errors:
                notes.append(f"{tag} errors by status: "
                             f"{dict(Counter(o.status for o in load.errors))}")
        bad = [p for c in results if (p := c.problem())]
        problems += bad
        rows.append(check_row(f"3 contested tasks ({contestants} reviewers each): one winner, "
                              "409s", f"{len(results) - len(bad)}/{len(results)}", not bad,
                              "all"))
        if resent:
            task, status = resent[0]
            rows.append(check_row("3 a winning form sent again: 409", str(status),
                                  status == 409, "409"))
            if status != 409:
                problems.append(f"the winning form of {task} sent again got {status}")
        checked = verify(store, decided, n_tasks, worker=with_worker)
        problems += checked.problems[:10]
        sent = sum(len(load.outcomes) for _, load in loads) + len(results)
        rows.append(check_row(f"2+3 decisions recorded exactly once ({len(decided)} of {sent})",
                              len(checked.problems) + (sent - len(decided)),
                              not checked.problems and len(decided) == sent, "0 wrong"))
        if with_worker:
            rows.append(Row("2c/2d (info) runs the worker finished during 2c and 2d",
                            str(during)))
            rows.append(check_row(f"2c/2d decided runs the worker took to their end: "
                                  f"{checked.succeeded}; failed", checked.failed,
                                  checked.failed == 0, "0"))
        if problems or checked.failed:
            tail = log.read_text()[-3000:].strip()
            if tail:
                notes.append("the server's log ends with:\n" + tail)

    print()
    print("Serve benchmark (ms; p99 by nearest rank). App time: the app's time from receiving a "
          "request\nto starting its response (Server-Timing); round trip: as the load client saw "
          "it.")
    print_table(rows)
    for problem in problems[:20]:
        print(f"problem: {problem}")
    for note in notes:
        print(f"note: {note}")
    print(f"total bench time {time.perf_counter() - wall:.1f} s")
    if args.markdown:
        from _figures import markdown_table, write_markdown

        write_markdown(args.markdown, __file__, argv, markdown_table(
            ["measure", "n", "p50 ms", "p99 ms", "target", "status"],
            [[r.measure.strip(), r.n, r.p50, r.p99, r.target, r.status] for r in rows])
            + "\n\nApp time: the app's time from receiving a request to starting its response "
            "(Server-Timing); round trip: as the load client on the same machine saw it; p99 "
            "by nearest rank.")
    failed = [r.measure.strip() for r in rows if r.status == "FAIL"]
    missed = [r.measure.strip() for r in rows if r.status == "MISS"]
    if failed:
        print("correctness targets FAILED: " + "; ".join(failed))
    if missed:
        print("latency targets missed: " + "; ".join(missed)
              + ("" if args.strict else " (exit 0: figures; --strict fails on them)"))
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
