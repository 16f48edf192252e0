"""The Temporal engine in the CLI: `flowc run --engine temporal`, `flowc worker --engine
temporal`, and the decisions (`flowc resume`) and cancellations (`flowc cancel`) of runs that
Temporal orchestrates (docs/temporal.md). The store stays the source of truth: `runs`, `inbox`,
`show`, `trace`, `audit` and `cost` read it as for embedded runs."""

from __future__ import annotations

import os
import sys
import time

from flowc.errors import CommandError

__all__ = ["temporal_options", "address", "start_on_temporal", "decide_on_temporal",
           "wake_workflow", "worker_on_temporal"]

_QUIET_HINT = 15.0  # seconds a run may stay queued before the CLI says no worker took it


def temporal_options(sp, engine: bool = True) -> None:
    if engine:
        sp.add_argument("--engine", choices=("embedded", "temporal"),
                        default=os.environ.get("FLOWC_ENGINE", "embedded"),
                        help="who orchestrates: this process (embedded, the default) or "
                        "Temporal workers (default: $FLOWC_ENGINE)")
    sp.add_argument("--temporal", metavar="HOST:PORT",
                    help="the Temporal frontend (default: $FLOWC_TEMPORAL, or 127.0.0.1:7233;"
                    " a run's decisions go where it was started unless given)")
    sp.add_argument("--namespace", default=None, metavar="NS",
                    help="the Temporal namespace (default: default)")
    sp.add_argument("--task-queue", default=None, metavar="QUEUE",
                    help="the task queue flowc's workers poll (default: flowc)")


def address(args, recorded: str | None = None) -> str:
    from flowc.runtime.temporal.client import DEFAULT_ADDRESS

    return (getattr(args, "temporal", None) or os.environ.get("FLOWC_TEMPORAL") or recorded
            or DEFAULT_ADDRESS)


def start_on_temporal(args, engine, plan, inputs, store):
    """Create the run in the store, bound to its workflow, start the workflow, and wait (as
    `flowc run` does) until the run ends or waits for a person."""
    from flowc.runtime.temporal import NAMESPACE, TASK_QUEUE
    from flowc.runtime.temporal.client import (
        TemporalError,
        binding,
        check_name,
        check_settings,
        connect,
        heartbeat_seconds,
        start_run,
    )

    where = address(args)
    namespace = args.namespace or NAMESPACE
    queue = TASK_QUEUE if args.task_queue is None else args.task_queue
    try:  # settings first, then reach Temporal: nothing is written unless both hold
        check_settings()
        check_name(queue, "task queue")
        heartbeat = heartbeat_seconds()
        import asyncio

        asyncio.run(connect(where, namespace))
    except TemporalError as e:
        raise CommandError(f"not run: {e}", 1) from None
    bound = {}

    def bind_for(run_id):
        bound.update(binding(run_id, where, namespace, queue))
        return {k: v for k, v in bound.items()}

    run = engine.start(plan, inputs, advance=False, bind=bind_for)
    try:
        start_run(bound, run.id, heartbeat_seconds=heartbeat)
    except TemporalError as e:
        from flowc.runtime.engine import cancel_run

        cancel_run(store, run.id, "flowc")  # never a run left queued that nobody will advance
        raise CommandError(f"not run: {e} (run {run.id} was cancelled)", 1) from None
    return wait_settled(store, run.id, queue)


def _busy(store, run) -> bool:
    """Whether the run, or a sub-flow run it waits on (each a workflow of its own), is still
    queued or running."""
    if run.status in ("queued", "running"):
        return True
    if run.status != "paused":
        return False
    return any(_busy(store, child) for child in store.sub_runs(run.id))


def wait_settled(store, run_id: str, queue: str):
    """Wait until the run ends or waits for people (Ctrl-C leaves it to the workers)."""
    t0 = time.monotonic()
    hinted = False
    try:
        while True:
            run = store.get_run(run_id)
            if not _busy(store, run):
                return run
            if not hinted and run.status == "queued" and time.monotonic() - t0 > _QUIET_HINT:
                print(f"flowc: run {run_id} waits for a worker: is `flowc worker --engine "
                      f"temporal` running on task queue {queue}?", file=sys.stderr, flush=True)
                hinted = True
            time.sleep(0.1)
    except KeyboardInterrupt:
        print(f"flowc: run {run_id} goes on on Temporal (`flowc runs` shows it)",
              file=sys.stderr)
        raise SystemExit(130) from None


def decide_on_temporal(args, bound: dict, task, **decision) -> None:
    """A decision sent as the workflow's `decide` update (runtime/temporal/client.py)."""
    from flowc.runtime.temporal.client import TemporalError, decide_task

    try:
        decide_task(bound, task, address=address(args, bound["address"]), **decision)
    except TemporalError as e:
        raise CommandError(str(e), 1) from None


def settle_after_decision(store, run_id: str, queue: str):
    """As the embedded `flowc resume`: back once the run went as far as it goes; a sub-flow
    run's end goes on in its parent's workflow, so the top run is waited for."""
    run = store.get_run(run_id)
    while run.parent_run_id:
        run = store.get_run(run.parent_run_id)
    wait_settled(store, run.id, queue)
    return store.get_run(run_id)


def wake_workflow(args, bound: dict) -> bool:
    """Signal the run's workflow; False (said in one line) when it could not be told."""
    from flowc.runtime.temporal.client import TemporalError, wake

    try:
        wake(dict(bound, address=address(args, bound["address"])))
    except TemporalError as e:
        print(f"flowc: warning: {e}; the workflow sees the change at its next wake-up, or "
              f"when `flowc cancel` is given again", file=sys.stderr)
        return False
    return True


def worker_on_temporal(args, engine) -> int:
    from flowc.runtime.temporal import NAMESPACE, TASK_QUEUE
    from flowc.runtime.temporal.client import TemporalError, run_worker

    where = address(args)
    queue = TASK_QUEUE if args.task_queue is None else args.task_queue

    def ready():
        print(f"flowc worker: polling task queue {queue} at {where}", flush=True)

    try:
        run_worker(engine, where, args.namespace or NAMESPACE, queue,
                   concurrency=args.concurrency, seconds=args.seconds, on_ready=ready)
    except TemporalError as e:
        raise CommandError(str(e), 1) from None
    return 0
