"""Benchmark flowc's runtime (engine + run store) against LangGraph, with the issue's targets.

What is measured (every figure is the median with the min-max spread over repeats; the
plans are compiled once, outside the timers):

1. Engine overhead per node: a chain of N no-op nodes (N = 1000, --quick: 200) run to the
   end by `Engine.start` on the durable store (`SQLiteStore`, a file in a temp dir), time / N.
   The runtime has no "noop" node kind, so each node is a gate that passes by itself
   (`await human(..., when: false)` chained with `after n{i-1}.approved`): it commits a node
   result and appends a `gate.passed` audit event, which is the engine's per-node durable
   work. Targets: <= 0.3 ms per node, and >= 3x faster than the same chain in LangGraph
   (a `StateGraph` of N nodes each returning a small dict update, compiled with
   `checkpointer=SqliteSaver(sqlite3.connect(path, check_same_thread=False))` and invoked
   once with a `thread_id`). For information: LangGraph without a checkpointer, LangGraph's
   `SqliteSaver` with `PRAGMA synchronous=NORMAL` (the durability setting flowc's store
   uses; `SqliteSaver` itself leaves SQLite's default FULL, an fsync per commit), and flowc
   with `SQLiteStore(path, synchronous="FULL")`.
2. The same chain on the in-memory store (`open_store(":memory:")`): <= 0.1 ms per node
   (issue 21; it was 0.2).
3. Resume latency, in process, on the durable store: the whole `Engine.decide` call for a
   flow whose real (pausing) gate is followed by ONE auto node (decision recorded, run
   advanced, next node run and committed, run finished), and for a flow whose gate is the
   last node. Target: <= 50 ms.
4. Inbox with 10,000 paused runs in the store (created with `Engine.start` of a one-gate flow,
   1,000 runs per `store.transaction()`): `store.list_tasks(status="pending", limit=100)` in
   process (target <= 200 ms), and the whole `python -m flowc inbox --store PATH` command as a
   subprocess, shown next to `python -c pass` (the interpreter's start-up, which the
   command pays too); the process row is for information.
5. Concurrency in one process (issue 21): 200 runs of a 5-node flow of in-process nodes,
   per node, against the same 200 runs one after another on one warmed Engine (the
   baseline): queued at once and advanced by a worker of 4 threads (`resume_interrupted`,
   what `flowc worker` and `flowc serve` do; target <= 1.3x), and started together from 200
   threads on one shared Engine (target <= 1.3x), and (info) each of those threads with its
   own Engine and store. The process is pinned to 2 CPUs when it has more. Also: 0 failures
   (no "database is locked", no `StoreBusy`, every run succeeded).
6. Worker processes on one store: 400 queued runs of the same flow taken by 1 and by 2
   spawned worker processes (`resume_interrupted` until none is left): runs per second,
   target >= 1.7x; with (info) the share of a run's time spent inside the store's write
   transactions, which one process at a time may hold, and the ceiling that share sets.

Ratios are baseline / flowc: above 1 means flowc is faster.

Usage: python bench/runtime.py [--quick] [--strict] [--profile]
    --quick    smaller chain and fewer repeats (finishes well under a minute)
    --strict   exit 1 when a target is missed (otherwise always exit 0)
    --profile  also print the top cProfile entries of measure 1 (durable store)
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

REPO_ROOT = Path(__file__).resolve().parent.parent

PER_NODE_DURABLE_MS = 0.3  # issue 13: durability may not cost more than this
LANGGRAPH_SPEEDUP = 3.0
PER_NODE_MEMORY_MS = 0.1
RESUME_MS = 50.0
INBOX_MS = 200.0
CONCURRENT_RUNS = 200
CONCURRENT_RATIO = 1.3     # issue 21: 200 concurrent runs within 1.3x of the same in sequence
RUN_THREADS = 4            # `flowc worker` / `flowc serve`'s default (FLOWC_RUN_THREADS)
PROCESS_RUNS = 400
PROCESSES_SPEEDUP = 1.7    # issue 21: two worker processes on one store
PAUSED_RUNS = 10_000
PROCESS_TIMEOUT_S = 300


# --------------------------------------------------------------------------------------
# Timings and results
# --------------------------------------------------------------------------------------


from _timing import Timing, spawned_together  # noqa: E402  (bench/ is the script folder)


@dataclass(frozen=True)
class Row:
    measure: str
    flowc: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "info"
    status: str = "-"  # PASS, MISS, N/A or "-" (information only)


def _at_most(value: float | None, target: float) -> str:
    if value is None:
        return "N/A"
    return "PASS" if value <= target else "MISS"


def _at_least(value: float | None, target: float) -> str:
    if value is None:
        return "N/A"
    return "PASS" if value >= target else "MISS"


def _quiet_gc(fn: Callable[[], float]) -> float:
    """Collect garbage before a timed call, so one run does not pay for the previous one."""
    gc.collect()
    return fn()


# --------------------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------------------


def _auto_gate(name: str, after: str | None) -> str:
    text = (f'node {name} = await human(to: role("x"), actions: [approve], '
            f"timeout: 1h -> approve, when: false)")
    if after is not None:
        text += f"\n  after {after}.approved"
    return text


def chain_flow_source(n: int) -> str:
    """`n` gates that pass by themselves, each after the previous one approved."""
    lines = [f'flow chain_{n} version "1.0.0"', ""]
    for i in range(n):
        lines.append(_auto_gate(f"n{i}", f"n{i - 1}" if i else None))
    lines += ["", f"output last: str? = n{n - 1}.outcome", ""]
    return "\n".join(lines)


def gate_flow_source(auto_after: int, pause: bool = True) -> str:
    """A gate (pausing unless `pause` is false) followed by `auto_after` gates that pass by
    themselves."""
    when = "" if pause else ", when: false"
    lines = ['flow resume version "1.0.0"', "",
             'node review = await human(to: role("lead"), actions: [approve], '
             f"timeout: 24h -> approve{when})"]
    prev = "review"
    for i in range(auto_after):
        lines.append(_auto_gate(f"a{i}", prev))
        prev = f"a{i}"
    lines += ["", f"output decision: str? = {prev}.outcome", ""]
    return "\n".join(lines)


def compile_plan(text: str, name: str):
    from flowc.compiler.api import compile_source

    result = compile_source(text, name, base_dir=REPO_ROOT)
    if result.plan is None:
        problems = [d.message for d in result.diagnostics.items][:3]
        raise SystemExit(f"bench/runtime.py: {name} does not compile: {problems}")
    return result.plan


# --------------------------------------------------------------------------------------
# 1 and 2: the no-op chain
# --------------------------------------------------------------------------------------


def run_chain_once(plan, n: int, store_factory: Callable[[], object]) -> float:
    """Milliseconds per node for one `Engine.start` of the chain on a fresh store."""
    from flowc.runtime.engine import Engine

    store = store_factory()
    try:
        engine = Engine(store)
        gc.collect()
        start = time.perf_counter()
        run = engine.start(plan, {})
        elapsed = time.perf_counter() - start
        if run.status != "succeeded":
            raise SystemExit(f"bench/runtime.py: the chain run ended {run.status}: {run.error}")
        return elapsed * 1000.0 / n
    finally:
        store.close()


def measure_chain(plan, n: int, repeat: int, store_factory) -> Timing:
    run_chain_once(plan, n, store_factory)  # warm-up: imports, statement caches
    return Timing(tuple(run_chain_once(plan, n, store_factory) for _ in range(repeat)))


def _file_store_factory(tmp: str, **options):
    from flowc.runtime.store import SQLiteStore

    counter = iter(range(1_000_000))

    def make():
        return SQLiteStore(os.path.join(tmp, f"chain-{next(counter)}.db"), **options)

    return make


def _memory_store_factory():
    from flowc.runtime.store import open_store

    return open_store(":memory:")


class ChainState(TypedDict):
    step: int
    note: str


def _langgraph_step(i: int) -> Callable[[ChainState], dict]:
    def step(state: ChainState) -> dict:
        return {"step": i, "note": "ok"}

    return step


def _langgraph_graph(n: int):
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(ChainState)
    for i in range(n):
        graph.add_node(f"n{i}", _langgraph_step(i))
    graph.add_edge(START, "n0")
    for i in range(1, n):
        graph.add_edge(f"n{i - 1}", f"n{i}")
    graph.add_edge(f"n{n - 1}", END)
    return graph


def langgraph_once(n: int, db_path: str | None, synchronous: str | None = None) -> float:
    """Milliseconds per node for one `invoke` of the LangGraph chain (compiled untimed)."""
    graph = _langgraph_graph(n)
    conn = None
    if db_path is None:
        app = graph.compile()
    else:
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(db_path, check_same_thread=False)
        saver = SqliteSaver(conn)
        saver.setup()  # tables created before the timer, as flowc's store is migrated
        if synchronous is not None:
            conn.execute(f"PRAGMA synchronous = {synchronous}")
        app = graph.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "bench"}, "recursion_limit": n + 10}
    try:
        gc.collect()
        start = time.perf_counter()
        out = app.invoke({"step": -1, "note": ""}, config)
        elapsed = time.perf_counter() - start
        if out.get("step") != n - 1:
            raise SystemExit(f"bench/runtime.py: the LangGraph chain stopped at {out}")
        return elapsed * 1000.0 / n
    finally:
        if conn is not None:
            conn.close()


def measure_langgraph(n: int, repeat: int, tmp: str | None,
                      synchronous: str | None = None) -> Timing:
    counter = iter(range(1_000_000))

    def path():
        return None if tmp is None else os.path.join(tmp, f"lg-{next(counter)}.db")

    langgraph_once(min(n, 5), path(), synchronous)  # warm-up: lazy imports
    return Timing(tuple(langgraph_once(n, path(), synchronous) for _ in range(repeat)))


def langgraph_available() -> tuple[bool, bool]:
    """(langgraph importable, langgraph.checkpoint.sqlite importable)."""
    try:
        import langgraph.graph
    except ImportError:
        return False, False
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
    except ImportError:
        return True, False
    return True, True


def profile_chain(plan, n: int, tmp: str, top: int = 18) -> str:
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    store = SQLiteStore(os.path.join(tmp, "profile.db"))
    try:
        engine = Engine(store)
        profiler = cProfile.Profile()
        profiler.enable()
        engine.start(plan, {})
        profiler.disable()
    finally:
        store.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------------------
# 3: resume latency
# --------------------------------------------------------------------------------------


def measure_resume(plan, repeat: int, db_path: str) -> Timing:
    """Milliseconds for `Engine.decide` on a paused run (start untimed), `repeat` times."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    store = SQLiteStore(db_path)
    try:
        engine = Engine(store)
        samples = []
        for k in range(repeat + 1):  # the first one warms up
            run = engine.start(plan, {})
            if run.status != "paused":
                raise SystemExit(f"bench/runtime.py: the gate did not pause ({run.status})")
            (task,) = store.list_tasks(run_id=run.id)
            gc.collect()
            start = time.perf_counter()
            run = engine.decide(task.id, action="approve", by="bench", roles=("lead",))
            elapsed = time.perf_counter() - start
            if run.status != "succeeded":
                raise SystemExit(f"bench/runtime.py: the resumed run ended {run.status}")
            if k:
                samples.append(elapsed * 1000.0)
        return Timing(tuple(samples))
    finally:
        store.close()


# --------------------------------------------------------------------------------------
# 4: inbox over many paused runs
# --------------------------------------------------------------------------------------


def fill_paused_runs(plan, db_path: str, count: int, batch: int = 1000) -> float:
    """Start `count` runs that pause on a gate; returns the seconds it took."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    store = SQLiteStore(db_path)
    try:
        engine = Engine(store)
        start = time.perf_counter()
        done = 0
        while done < count:
            with store.transaction():
                for _ in range(min(batch, count - done)):
                    engine.start(plan, {})
                    done += 1
        elapsed = time.perf_counter() - start
        pending = store.list_tasks(status="pending", limit=count + 1)
        if len(pending) != count:
            raise SystemExit(f"bench/runtime.py: {len(pending)} pending tasks, not {count}")
        return elapsed
    finally:
        store.close()


def measure_inbox_in_process(db_path: str, repeat: int) -> tuple[Timing, float]:
    """(warm `list_tasks` ms, cold ms: a freshly opened store's first call)."""
    from flowc.runtime.store import SQLiteStore

    start = time.perf_counter()
    store = SQLiteStore(db_path)
    tasks = store.list_tasks(status="pending", limit=100)
    cold = (time.perf_counter() - start) * 1000.0
    try:
        if len(tasks) != 100:
            raise SystemExit(f"bench/runtime.py: inbox listed {len(tasks)} tasks, not 100")
        samples = []
        for _ in range(repeat):
            gc.collect()
            t0 = time.perf_counter()
            store.list_tasks(status="pending", limit=100)
            samples.append((time.perf_counter() - t0) * 1000.0)
        return Timing(tuple(samples)), cold
    finally:
        store.close()


def _timed_process(cmd: list[str], cwd: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                          timeout=PROCESS_TIMEOUT_S)
    return (time.perf_counter() - start) * 1000.0, proc


def measure_inbox_process(db_path: str, repeat: int, cwd: str) -> tuple[Timing | None,
                                                                         Timing, str | None]:
    """(`flowc inbox` ms, `python -c pass` ms, a problem or None), alternating the two."""
    inbox = [sys.executable, "-m", "flowc", "inbox", "--store", db_path]
    bare = [sys.executable, "-c", "pass"]
    _, probe = _timed_process(inbox, cwd)  # untimed: fills the OS file cache
    problem = None
    if probe.returncode != 0:
        problem = f"`flowc inbox` exited {probe.returncode}: {probe.stderr.strip()[-300:]}"
    elif len(probe.stdout.splitlines()) != 101 or \
            not probe.stdout.splitlines()[-1].startswith("showing 1-100 of "):
        problem = (f"`flowc inbox` printed {len(probe.stdout.splitlines())} lines, not 100 "
                   "tasks and a `showing 1-100 of ...` line")
    _timed_process(bare, cwd)
    inbox_ms, bare_ms = [], []
    for _ in range(repeat):
        if problem is None:
            inbox_ms.append(_timed_process(inbox, cwd)[0])
        bare_ms.append(_timed_process(bare, cwd)[0])
    return (Timing(tuple(inbox_ms)) if problem is None else None), Timing(tuple(bare_ms)), problem


# --------------------------------------------------------------------------------------
# 5: concurrent runs
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def pinned_to(cpus: int):
    """Pin this thread (and the threads it starts) to `cpus` CPUs when it has more."""
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    if len(before) <= cpus:
        yield len(before)
        return
    os.sched_setaffinity(0, set(sorted(before)[:cpus]))
    try:
        yield cpus
    finally:
        os.sched_setaffinity(0, before)


@dataclass(frozen=True)
class ConcurrentResult:
    seconds: float
    failures: int
    locked: int
    not_succeeded: int
    first_error: str | None


def sequence_ms_per_node(plan, db_path: str, runs: int, nodes: int) -> float:
    """`runs` runs one after another on one warmed Engine: ms per node (the baseline)."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    with contextlib.closing(SQLiteStore(db_path)) as store:
        engine = Engine(store)
        engine.start(plan, {})  # warm: imports, the plan stored, statement caches
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(runs):
            run = engine.start(plan, {})
            assert run.status == "succeeded", run.error
        return (time.perf_counter() - t0) * 1000 / (runs * nodes)


def worker_ms_per_node(plan, db_path: str, runs: int, nodes: int, threads: int) -> float:
    """`runs` runs queued at once (`Engine.start(advance=False)`), then taken and advanced as
    `flowc worker` and `flowc serve` do (`resume_interrupted`, `threads` at once): ms per
    node, from the first claim to the last run's end."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    with contextlib.closing(SQLiteStore(db_path)) as store:
        engine = Engine(store, run_threads=threads)
        engine.start(plan, {})
        ids = [engine.start(plan, {}, advance=False).id for _ in range(runs)]
        gc.collect()
        t0 = time.perf_counter()
        done = engine.resume_interrupted(limit=runs)
        elapsed = time.perf_counter() - t0
        assert done == ids, (len(done), len(ids))
        assert all(store.get_run(i).status == "succeeded" for i in ids)
        return elapsed * 1000 / (runs * nodes)


def measure_concurrent(plan, db_path: str, threads: int, shared: bool = True
                       ) -> ConcurrentResult:
    """`threads` runs started together, each from its own thread: on one shared Engine and
    store (`shared`), or each thread with its own `Engine(SQLiteStore(path))`."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    first = SQLiteStore(db_path)  # created and migrated before the threads start
    engine = Engine(first)
    engine.start(plan, {})  # warm, as the baseline is
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    statuses: list[str] = []
    unsucceeded: list[str] = []  # why a run did not succeed, for the note
    lock = threading.Lock()

    def worker():
        store = None
        try:
            barrier.wait()
            if shared:
                run = engine.start(plan, {})
            else:
                store = SQLiteStore(db_path)
                run = Engine(store).start(plan, {})
            with lock:
                statuses.append(run.status)
                if run.status != "succeeded":
                    unsucceeded.append(f"run {run.status}: {run.error}")
        except BaseException as exc:  # counted, not raised: the count is the result
            with lock:
                errors.append(exc)
        finally:
            if store is not None:
                store.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    gc.collect()
    start = time.perf_counter()
    barrier.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    first.close()
    locked = sum(1 for e in errors
                 if "locked" in str(e).lower() or type(e).__name__ == "StoreBusy")
    return ConcurrentResult(
        seconds=elapsed, failures=len(errors), locked=locked,
        not_succeeded=sum(1 for s in statuses if s != "succeeded"),
        first_error=(f"{type(errors[0]).__name__}: {errors[0]}" if errors
                     else unsucceeded[0] if unsucceeded else None))


# --------------------------------------------------------------------------------------
# 6: worker processes on one store
# --------------------------------------------------------------------------------------


def _worker_process(db: str, go, conn) -> None:
    """A `flowc worker` pass in a process of its own: takes queued runs until none is left."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    with contextlib.closing(SQLiteStore(db)) as store:
        engine = Engine(store, run_threads=1)
        store.get_run("warm")
        conn.send("ready")
        go.wait()
        t0, count = time.time(), 0
        while got := engine.resume_interrupted(limit=10):
            count += len(got)
        conn.send((t0, time.time(), count))


def processes_runs_per_second(plan, db: str, runs: int, processes: int) -> float:
    """`runs` queued runs of `plan` taken by `processes` worker processes (spawned, warmed,
    started together) on one store: runs per second from the first start to the last end."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    with contextlib.closing(SQLiteStore(db)) as store:
        engine = Engine(store)
        for _ in range(runs):
            engine.start(plan, {}, advance=False)
    spans = spawned_together(_worker_process, [(db,)] * processes)
    assert sum(c for _, _, c in spans) == runs, spans
    return runs / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans))


def write_share(plan, db_path: str, runs: int) -> float:
    """The share of a run's time spent inside the store's write transactions (one writer at
    a time per store file: the part that no second process can overlap)."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    inside = [0.0]
    with contextlib.closing(SQLiteStore(db_path)) as store:
        real = store.transaction

        @contextlib.contextmanager
        def timed():
            outer = not store.in_transaction()
            t0 = time.perf_counter()
            try:
                with real() as tx:
                    yield tx
            finally:
                if outer:
                    inside[0] += time.perf_counter() - t0

        store.transaction = timed
        engine = Engine(store)
        engine.start(plan, {})
        inside[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(runs):
            engine.start(plan, {})
        return inside[0] / (time.perf_counter() - t0)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    headers = Row("measure", "flowc", "baseline", "ratio", "target", "result")
    table = [headers, *rows]
    cols = ("measure", "flowc", "baseline", "ratio", "target", "status")
    widths = [max(len(getattr(r, c)) for r in table) for c in cols]
    for k, r in enumerate(table):
        cells = [getattr(r, c) for c in cols]
        line = "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths)))
        print(line.rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def _speedup(baseline: Timing | None, flowc: Timing) -> float | None:
    if baseline is None or flowc.median <= 0:
        return None
    return baseline.median / flowc.median


def _x(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="200-node chain, fewer repeats (well under a minute)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", metavar="PATH", default=None,
                        help="also write the table to PATH (bench/results/runtime.md is the "
                        "README's; python scripts/figures.py pastes it)")
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile's top entries for measure 1 (durable store)")
    args = parser.parse_args(argv)

    n = 200 if args.quick else 1000
    repeat = 3 if args.quick else 5
    resume_repeat = 15 if args.quick else 50
    inbox_repeat = 20 if args.quick else 50
    process_repeat = 3 if args.quick else 5
    conc_repeat = 1 if args.quick else 3
    has_langgraph, has_saver = langgraph_available()

    wall = time.perf_counter()
    print(f"flowc runtime benchmark ({'quick' if args.quick else 'full'}): chain of {n} nodes, "
          f"{repeat} repeats; Python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs; sqlite {sqlite3.sqlite_version}", flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="flowc-bench-runtime-") as tmp:
        chain = compile_plan(chain_flow_source(n), f"chain_{n}.flow")

        # 1. durable store, and LangGraph on the same chain
        durable = measure_chain(chain, n, repeat, _file_store_factory(tmp))
        durable_full = measure_chain(chain, n, repeat,
                                     _file_store_factory(tmp, synchronous="FULL"))
        print("  measured 1: flowc chain (durable store)", flush=True)
        lg_saver = lg_saver_normal = lg_plain = None
        if has_langgraph:
            lg_plain = measure_langgraph(n, repeat, None)
            if has_saver:
                lg_saver = measure_langgraph(n, repeat, tmp)
                lg_saver_normal = measure_langgraph(n, repeat, tmp, synchronous="NORMAL")
            else:
                notes.append("langgraph-checkpoint-sqlite is not installed: "
                             "pip install langgraph-checkpoint-sqlite")
        else:
            notes.append("langgraph is not installed: the LangGraph rows are n/a")
        print("  measured 1: LangGraph chain", flush=True)
        rows.append(Row(f"1 per node, durable store, {n}-node chain (ms)", durable.cell(3),
                        target=f"<= {PER_NODE_DURABLE_MS:g} ms",
                        status=_at_most(durable.median, PER_NODE_DURABLE_MS)))
        speed = _speedup(lg_saver, durable)
        rows.append(Row("1 vs LangGraph + SqliteSaver (ms/node)", durable.cell(3),
                        lg_saver.cell(3) if lg_saver else "not installed", _x(speed),
                        f">= {LANGGRAPH_SPEEDUP:g}x", _at_least(speed, LANGGRAPH_SPEEDUP)))
        rows.append(Row("1 (info) LangGraph SqliteSaver, synchronous=NORMAL", durable.cell(3),
                        lg_saver_normal.cell(3) if lg_saver_normal else "not installed",
                        _x(_speedup(lg_saver_normal, durable))))
        rows.append(Row("1 (info) LangGraph, no checkpointer", durable.cell(3),
                        lg_plain.cell(3) if lg_plain else "not installed",
                        _x(_speedup(lg_plain, durable))))
        rows.append(Row('1 (info) flowc store synchronous="FULL"', durable_full.cell(3),
                        lg_saver.cell(3) if lg_saver else "not installed",
                        _x(_speedup(lg_saver, durable_full))))

        # 2. in-memory store
        memory = measure_chain(chain, n, repeat, _memory_store_factory)
        print("  measured 2: flowc chain (in-memory store)", flush=True)
        rows.append(Row(f"2 per node, in-memory store, {n}-node chain (ms)", memory.cell(3),
                        target=f"<= {PER_NODE_MEMORY_MS:g} ms",
                        status=_at_most(memory.median, PER_NODE_MEMORY_MS)))

        # 3. resume latency
        then_one = measure_resume(compile_plan(gate_flow_source(1), "resume1.flow"),
                                  resume_repeat, os.path.join(tmp, "resume1.db"))
        last = measure_resume(compile_plan(gate_flow_source(0), "resume0.flow"),
                              resume_repeat, os.path.join(tmp, "resume0.db"))
        print("  measured 3: resume latency", flush=True)
        rows.append(Row("3 decide -> gate's next node run, finished (ms)", then_one.cell(2),
                        target=f"<= {RESUME_MS:g} ms", status=_at_most(then_one.median,
                                                                       RESUME_MS)))
        rows.append(Row("3 decide, gate is the last node (ms)", last.cell(2),
                        target=f"<= {RESUME_MS:g} ms", status=_at_most(last.median, RESUME_MS)))

        # 4. inbox over 10,000 paused runs
        inbox_db = os.path.join(tmp, "inbox.db")
        fill_s = fill_paused_runs(compile_plan(gate_flow_source(0), "inbox.flow"), inbox_db,
                                  PAUSED_RUNS)
        print(f"  measured 4: {PAUSED_RUNS} paused runs created in {fill_s:.1f} s", flush=True)
        warm, cold = measure_inbox_in_process(inbox_db, inbox_repeat)
        rows.append(Row(f"4 list_tasks(pending, 100), {PAUSED_RUNS} paused (ms)", warm.cell(2),
                        target=f"<= {INBOX_MS:g} ms", status=_at_most(warm.median, INBOX_MS)))
        rows.append(Row("4 same, first call on a freshly opened store (ms)", f"{cold:.2f}",
                        target=f"<= {INBOX_MS:g} ms", status=_at_most(cold, INBOX_MS)))
        proc_t, bare_t, problem = measure_inbox_process(inbox_db, process_repeat, tmp)
        if problem:
            notes.append(problem)
        rows.append(Row("4 (info) `python -m flowc inbox` process (ms)",
                        proc_t.cell(0) if proc_t else "failed",
                        bare_t.cell(0) + " (python -c pass)",
                        f"+{proc_t.median - bare_t.median:.0f} ms" if proc_t else "n/a"))
        print("  measured 4: inbox", flush=True)

        # 5. concurrent runs in one process, against the same runs in sequence
        five = compile_plan(gate_flow_source(4, pause=False), "concurrent.flow")
        with pinned_to(2) as cpus:
            seq = Timing(tuple(sequence_ms_per_node(five, os.path.join(tmp, f"s{k}.db"),
                                                    CONCURRENT_RUNS, 5)
                               for k in range(conc_repeat)))
            pooled = Timing(tuple(worker_ms_per_node(five, os.path.join(tmp, f"w{k}.db"),
                                                     CONCURRENT_RUNS, 5, RUN_THREADS)
                                  for k in range(conc_repeat)))
            threaded = [measure_concurrent(five, os.path.join(tmp, f"t{k}.db"),
                                           CONCURRENT_RUNS) for k in range(conc_repeat)]
            own = measure_concurrent(five, os.path.join(tmp, "own.db"), CONCURRENT_RUNS,
                                     shared=False)
        print("  measured 5: concurrent runs", flush=True)
        per_thread = Timing(tuple(c.seconds * 1000 / (CONCURRENT_RUNS * 5) for c in threaded))
        rows.append(Row(f"5 {CONCURRENT_RUNS} runs in sequence, one engine (ms/node)",
                        seq.cell(3), ratio="baseline"))
        rows.append(Row(f"5 {CONCURRENT_RUNS} runs queued at once, a worker of {RUN_THREADS} "
                        "threads (ms/node)", pooled.cell(3), seq.cell(3),
                        f"{pooled.median / seq.median:.2f}x", f"<= {CONCURRENT_RATIO:g}x",
                        _at_most(pooled.median / seq.median, CONCURRENT_RATIO)))
        rows.append(Row(f"5 {CONCURRENT_RUNS} runs started at once, a thread each, one engine "
                        "(ms/node)", per_thread.cell(3), seq.cell(3),
                        f"{per_thread.median / seq.median:.2f}x", f"<= {CONCURRENT_RATIO:g}x",
                        _at_most(per_thread.median / seq.median, CONCURRENT_RATIO)))
        rows.append(Row("5 (info) the same, each thread its own Engine and store (ms/node)",
                        f"{own.seconds * 1000 / (CONCURRENT_RUNS * 5):.3f}", seq.cell(3),
                        f"{own.seconds * 1000 / (CONCURRENT_RUNS * 5) / seq.median:.2f}x"))
        bad = sum(c.failures + c.not_succeeded for c in (*threaded, own))
        rows.append(Row(f"5 runs started from {CONCURRENT_RUNS} threads, failures", str(bad),
                        target="0", status="PASS" if bad == 0 else "MISS"))
        if cpus is not None:
            notes.append(f"measure 5 ran on {cpus} CPU(s), 5 nodes per run")
        for c in (*threaded, own):
            if c.first_error:
                notes.append(f"measure 5: {c.failures} errors ({c.locked} locked/busy), "
                             f"{c.not_succeeded} runs not succeeded; first: {c.first_error}")
                break

        # 6. worker processes on one store
        one = Timing(tuple(processes_runs_per_second(five, os.path.join(tmp, f"p1{k}.db"),
                                                     PROCESS_RUNS, 1)
                           for k in range(conc_repeat)))
        two = Timing(tuple(processes_runs_per_second(five, os.path.join(tmp, f"p2{k}.db"),
                                                     PROCESS_RUNS, 2)
                           for k in range(conc_repeat)))
        share = write_share(five, os.path.join(tmp, "share.db"), CONCURRENT_RUNS)
        print("  measured 6: worker processes", flush=True)
        rows.append(Row("6 2 worker processes on one store (runs/s)", two.cell(0), one.cell(0),
                        f"{two.median / one.median:.2f}x", f">= {PROCESSES_SPEEDUP:g}x",
                        _at_least(two.median / one.median, PROCESSES_SPEEDUP)))
        rows.append(Row("6 (info) a run's time inside the store's write transactions",
                        f"{share:.0%}", ratio=f"at most {1 / (share + (1 - share) / 2):.2f}x "
                        "with 2 processes"))

        profile = profile_chain(chain, n, tmp) if args.profile else None

    print()
    print("Runtime benchmark, median [min-max] (ratio = baseline / flowc, above 1: flowc faster)")
    print_table(rows)
    for note in notes:
        print(f"note: {note}")
    if profile:
        print()
        print(f"cProfile of measure 1 (durable store, {n} nodes), by own time:")
        print(profile)
    print(f"total bench time {time.perf_counter() - wall:.1f} s")
    if args.markdown:
        from _figures import markdown_table, write_markdown

        write_markdown(args.markdown, __file__, argv, markdown_table(
            ["measure", "flowc", "baseline", "ratio", "target", "status"],
            [[r.measure, r.flowc, r.baseline, r.ratio, r.target, r.status] for r in rows])
            + "".join(f"\n\n{note[0].upper()}{note[1:]}." for note in notes))
    missed = [r.measure for r in rows if r.status in ("MISS", "N/A")]
    if missed:
        print("targets missed or not measured: " + "; ".join(missed))
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
