"""How runs on Temporal scale with worker processes, side by side with the embedded engine.

What is measured, on this machine, in one run (a real `temporal server start-dev`, in memory,
started by the benchmark; real `flowc worker --engine temporal` processes; one SQLite store
file they all share):

1. Throughput: R runs of a 20-node flow of in-process nodes (gates that pass by themselves,
   each committing its result and an audit event: bench/runtime.py's chain) started at once
   on Temporal, with 1, 2 and 4 worker processes polling one task queue: runs per second,
   from the first start to the last end (median [min-max] over the repeats).
   Baseline in the same run: the embedded engine, the same R runs one after another in one
   process (`Engine.start`), and 2 embedded processes sharing them.
2. Per-node overhead: one run at a time on 1 Temporal worker, its whole latency (workflow
   start, the advance activity, the workflow's end, seen in the store) / 20 nodes, against the
   embedded engine's `Engine.start` of the same run / 20; the ratio is Temporal / embedded.

Where the ceiling is: printed with the figures (the CPU time of the dev server and of the
workers, read from /proc, over the throughput runs).

Usage: python bench/scale.py [--quick] [--runs R] [--repeat N] [--workers 1,2,4]
                            [--markdown PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _timing import Timing, positive_int, spawned_together

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the dev server and worker helpers

NODES = 20


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _plan():
    from runtime import chain_flow_source, compile_plan

    return compile_plan(chain_flow_source(NODES), "chain.flow")


def embedded_runs(plan, db: str, runs: int) -> float:
    """Runs per second of `runs` runs one after another in this process."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    with contextlib.closing(SQLiteStore(db)) as store:
        engine = Engine(store)
        t0 = time.perf_counter()
        for _ in range(runs):
            run = engine.start(plan, {})
            assert run.status == "succeeded", run.error
        return runs / (time.perf_counter() - t0)


def _embedded_child(plan_json: str, db: str, runs: int, go, conn) -> None:
    from flowc.compiler.plan import Plan
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    plan = Plan.model_validate_json(plan_json)
    with contextlib.closing(SQLiteStore(db)) as store:
        engine = Engine(store)
        engine.start(plan, {})  # warm: imports, statement caches
        conn.send("ready")
        go.wait()
        t0 = time.time()
        for _ in range(runs):
            run = engine.start(plan, {})
            assert run.status == "succeeded", run.error
        conn.send((t0, time.time()))


def embedded_processes(plan, db: str, runs: int, processes: int) -> float:
    """Runs per second of `runs` runs split over `processes` embedded processes on one store,
    from the first start to the last end (each process warmed and started together)."""
    plan_json = plan.model_dump_json(by_alias=True)
    spans = spawned_together(_embedded_child,
                             [(plan_json, db, runs // processes)] * processes)
    return (runs // processes) * processes / (max(e for _, e in spans) -
                                              min(s for s, _ in spans))


class OnTemporal:
    """Runs created in the store, bound and started as workflows by this process."""

    def __init__(self, server, db: str, plan):
        from flowc.runtime.engine import Engine
        from flowc.runtime.store import SQLiteStore

        self.server, self.db = server, db
        self.store = SQLiteStore(db)
        self.engine = Engine(self.store)
        self.plan = plan

    def start(self, queue: str, count: int) -> list[str]:
        from flowc.runtime.temporal.client import binding, connect

        ids = []
        for _ in range(count):
            run = self.engine.start(self.plan, {}, advance=False, bind=lambda rid: binding(
                rid, self.server.address, task_queue=queue))
            ids.append(run.id)

        async def go():
            client = await connect(self.server.address)
            await asyncio.gather(*(client.start_workflow(
                "flowc.run", {"run_id": rid, "heartbeat_seconds": 30},
                id=f"flowc-run-{rid}", task_queue=queue) for rid in ids))
        asyncio.run(go())
        return ids

    def wait(self, ids: list[str], timeout: float = 600.0) -> None:
        end = time.monotonic() + timeout
        left = set(ids)
        while left:
            for rid in list(left):
                run = self.store.get_run(rid)
                if run.status in ("succeeded", "failed", "cancelled"):
                    assert run.status == "succeeded", (rid, run.status, run.error)
                    left.discard(rid)
            if time.monotonic() > end:
                raise SystemExit(f"bench/scale.py: {len(left)} runs did not end")
            time.sleep(0.005)


def temporal_throughput(on: OnTemporal, workers: int, runs: int, folder: Path) -> tuple:
    from temporalkit import Worker

    queue = f"scale-{uuid.uuid4().hex[:8]}"
    procs = [Worker(on.server.address, queue, on.db, folder, "--concurrency", "4",
                    log=folder / f"w-{queue}-{i}.log") for i in range(workers)]
    try:
        for w in procs:
            w.wait_ready()
        on.wait(on.start(queue, 2))  # warm: each worker's first workflow and activity
        server_cpu0 = _cpu_seconds(on.server.proc.pid)
        worker_cpu0 = sum(_cpu_seconds(w.proc.pid) for w in procs)
        t0 = time.perf_counter()
        on.wait(on.start(queue, runs))
        elapsed = time.perf_counter() - t0
        server_cpu = _cpu_seconds(on.server.proc.pid) - server_cpu0
        worker_cpu = sum(_cpu_seconds(w.proc.pid) for w in procs) - worker_cpu0
        return runs / elapsed, server_cpu / elapsed, worker_cpu / elapsed
    finally:
        for w in procs:
            w.stop()


def temporal_latency(on: OnTemporal, count: int, folder: Path) -> Timing:
    from temporalkit import Worker

    queue = f"latency-{uuid.uuid4().hex[:8]}"
    with Worker(on.server.address, queue, on.db, folder, log=folder / "latency.log"):
        on.wait(on.start(queue, 1))
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            on.wait(on.start(queue, 1))
            out.append((time.perf_counter() - t0) * 1000 / NODES)
    return Timing(tuple(out))


def embedded_latency(plan, db: str, count: int) -> Timing:
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    with contextlib.closing(SQLiteStore(db)) as store:
        engine = Engine(store)
        engine.start(plan, {})
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            engine.start(plan, {})
            out.append((time.perf_counter() - t0) * 1000 / NODES)
    return Timing(tuple(out))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and repeats")
    ap.add_argument("--runs", type=positive_int, help="runs per throughput measurement")
    ap.add_argument("--repeat", type=positive_int, help="repeats of each measurement")
    ap.add_argument("--workers", default="1,2,4", help="worker process counts (default 1,2,4)")
    ap.add_argument("--markdown", metavar="PATH", default=None,
                    help="also write the results to PATH (bench/results/scale.md is the "
                    "README's and docs/temporal.md's; python scripts/figures.py pastes it)")
    args = ap.parse_args(argv)
    runs = args.runs or (12 if args.quick else 60)
    repeat = args.repeat or (1 if args.quick else 3)
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    from temporalkit import DevServer

    plan = _plan()
    folder = Path(tempfile.mkdtemp(prefix="flowc-scale-"))
    server = DevServer().start()
    try:
        on = OnTemporal(server, str(folder / "runs.db"), plan)
        rows = []
        base = Timing(tuple(embedded_runs(plan, str(folder / f"e{i}.db"), runs)
                            for i in range(repeat)))
        rows.append(("embedded, 1 process, runs in sequence", base, None))
        two = Timing(tuple(embedded_processes(plan, str(folder / f"p{i}.db"), runs, 2)
                           for i in range(repeat)))
        rows.append(("embedded, 2 processes", two, None))
        ceilings = {}
        for w in counts:
            got = [temporal_throughput(on, w, runs, folder) for _ in range(repeat)]
            rows.append((f"Temporal, {w} worker process{'es' if w > 1 else ''}",
                         Timing(tuple(g[0] for g in got)), None))
            ceilings[w] = (statistics.median(g[1] for g in got),
                           statistics.median(g[2] for g in got))
        out = [f"Runs per second: {runs} runs of a {NODES}-node flow of in-process nodes, "
               f"{repeat} repeat(s), {os.cpu_count()} CPUs.", "",
               "| engine | runs/s median [min-max] | vs embedded in sequence |",
               "|---|---|---|"]
        for name, t, _ in rows:
            out.append(f"| {name} | {t.cell(1)} | {t.median / base.median:.2f}x |")
        out += ["", "CPU busy during the Temporal runs (cores: the dev server, the workers):", ""]
        for w, (srv, wk) in ceilings.items():
            out.append(f"- {w} worker(s): dev server {srv:.2f}, workers {wk:.2f} "
                       f"(of {os.cpu_count()} cores)")
        lat_n = 5 if args.quick else 15
        lt = temporal_latency(on, lat_n, folder)
        le = embedded_latency(plan, str(folder / "lat.db"), lat_n)
        out += ["", f"Per-node cost of one run at a time ({lat_n} runs):", "",
                "| engine | ms per node median [min-max] |", "|---|---|",
                f"| embedded (`Engine.start`) | {le.cell(3)} |",
                f"| Temporal, 1 worker (start to end seen in the store) | {lt.cell(3)} |", "",
                f"Temporal / embedded per node: {lt.median / le.median:.2f}x "
                f"(+{lt.median - le.median:.3f} ms per node, "
                f"{(lt.median - le.median) * NODES:.1f} ms per run)."]
        print("\n".join(out))
        if args.markdown:
            from _figures import write_markdown

            write_markdown(args.markdown, __file__, argv, "\n".join(out))
        on.store.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
