"""The CLI's side of the Temporal engine: connect, start a run's workflow, send a decision
or a wake-up, and run a worker. Every failure to reach Temporal is a TemporalError: one line
naming the address."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import threading
from datetime import timedelta
from typing import Any

from . import NAMESPACE, TASK_QUEUE, WORKFLOW, workflow_id

__all__ = ["TemporalError", "connect", "start_run", "decide", "decide_task", "wake", "run_worker",
           "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "127.0.0.1:7233"
_CONNECT_TIMEOUT = 10.0
_NOT_YET = "does not wait on task"  # the validator's refusal while it lags the store


class TemporalError(RuntimeError):
    """Temporal could not be reached, or refused what was asked (one line)."""


def _imports():
    try:
        import temporalio.client  # noqa: F401
    except ImportError:
        raise TemporalError("the Temporal engine needs the temporal extra: pip install "
                            "'flowc[temporal]' (or scripts/bootstrap.sh temporal)") from None


_ADDRESS = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
                      r":[0-9]{1,5}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_address(address: str) -> str:
    """HOST:PORT (a name, an IPv4 address or [an IPv6 address]), else TemporalError."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address) or \
            not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise TemporalError(f"the Temporal address must be HOST:PORT (like 127.0.0.1:7233), "
                            f"not `{str(address)[:80]}`")
    return address


def check_name(value: str, what: str) -> str:
    """A namespace or task queue name: letters, digits, `.`, `_`, `-` (at most 200)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise TemporalError(f"the {what} must be a name of letters, digits, `.`, `_` or `-`, "
                            f"not `{str(value)[:80]}`")
    return value


async def connect(address: str, namespace: str = NAMESPACE):
    _imports()
    from temporalio.client import Client

    check_address(address)
    check_name(namespace, "namespace")

    options: dict = {}
    api_key = os.environ.get("FLOWC_TEMPORAL_API_KEY", "").strip()
    if api_key:  # Temporal Cloud's API keys (sent over TLS)
        options.update(api_key=api_key, tls=True)
    if os.environ.get("FLOWC_TEMPORAL_TLS", "").strip().lower() in ("1", "true", "yes"):
        options["tls"] = True
    try:
        return await asyncio.wait_for(Client.connect(address, namespace=namespace, **options),
                                      _CONNECT_TIMEOUT)
    except (TimeoutError, RuntimeError, OSError, ValueError) as e:
        detail = " ".join(str(e).split())[:200] or "no answer"
        raise TemporalError(f"cannot reach Temporal at {address} (namespace {namespace}): "
                            f"{detail}") from None


def _seconds(name: str, default: float) -> float:
    """A duration from the environment (the Temporal timeouts flowc sets; docs/temporal.md)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise TemporalError(f"{name} must be a number of seconds, not `{text[:40]}`") from None
    if not 0.5 <= value <= 86400:  # (NaN and infinities too)
        raise TemporalError(f"{name} must be between 0.5 and 86400 seconds, not {text[:40]}")
    return value


def heartbeat_seconds() -> float:
    """FLOWC_TEMPORAL_HEARTBEAT: how long an activity may go without a heartbeat before
    Temporal runs it again elsewhere (default 30 s; at least 1)."""
    return max(1.0, _seconds("FLOWC_TEMPORAL_HEARTBEAT", 30.0))


def check_settings() -> None:
    """Every FLOWC_TEMPORAL_* duration read as flowc starts or serves runs: a bad one is a
    TemporalError before anything is written."""
    heartbeat_seconds()
    for name, default in (("FLOWC_TEMPORAL_TASK_TIMEOUT", 10.0),
                          ("FLOWC_TEMPORAL_STICKY_TIMEOUT", 10.0),
                          ("FLOWC_TEMPORAL_GRACE", 30.0),
                          ("FLOWC_TEMPORAL_DECIDE_WAIT", 60.0)):
        _seconds(name, default)


def _sync(coro):
    """Run `coro` to its end from synchronous code; from inside a running event loop (a
    request handler of `flowc serve`) in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, name="flowc-temporal-call")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def start_run(binding: dict, run_id: str, heartbeat_seconds: float = 30.0) -> None:
    """Start the workflow of a run created (and bound) in the store."""
    async def go():
        client = await connect(binding["address"], binding["namespace"])
        await client.start_workflow(WORKFLOW, {"run_id": run_id,
                                               "heartbeat_seconds": heartbeat_seconds},
                                    id=binding["workflow_id"], task_queue=binding["task_queue"],
                                    task_timeout=timedelta(seconds=_seconds(
                                        "FLOWC_TEMPORAL_TASK_TIMEOUT", 10.0)))
    try:
        _sync(go())
    except TemporalError:
        raise
    except Exception as e:
        raise TemporalError(f"Temporal did not start run {run_id}: {_line(e)}") from None


def _line(e: BaseException) -> str:
    cause = getattr(e, "cause", None)
    text = getattr(cause, "message", None) or str(cause or "") or str(e) or type(e).__name__
    return " ".join(text.split())[:500]


def decide(binding: dict, arg: dict) -> dict:
    """Send a decision as the run's `decide` update; its answer once the run went on.
    DecisionRefused (from the validator or the store) is raised as ValueError's subclass."""
    from ..decisions import DecisionRefused

    wait = _seconds("FLOWC_TEMPORAL_DECIDE_WAIT", 60.0)

    async def go():
        from temporalio.client import WorkflowUpdateFailedError

        client = await connect(binding["address"], binding["namespace"])
        handle = client.get_workflow_handle(binding["workflow_id"])
        end = asyncio.get_running_loop().time() + wait
        while True:
            try:
                return await handle.execute_update("decide", arg)
            except WorkflowUpdateFailedError as e:
                # the workflow has not heard yet of a task the store shows pending (the
                # advance that opened it is being run again after its worker died): the
                # validator refused it, nothing entered the history; asked again shortly
                if _NOT_YET not in _line(e) or asyncio.get_running_loop().time() > end:
                    raise
                await asyncio.sleep(0.5)

    try:
        return _sync(go())
    except TemporalError:
        raise
    except Exception as e:
        from temporalio.client import WorkflowUpdateFailedError
        from temporalio.service import RPCError

        if isinstance(e, WorkflowUpdateFailedError):
            raise DecisionRefused(_line(e)) from None
        if isinstance(e, RPCError):
            raise TemporalError(f"Temporal refused the decision for workflow "
                                f"{binding['workflow_id']}: {_line(e)}") from None
        raise


def decide_task(bound: dict, task, *, by: str, roles, action: str = "answer", values=None,
                reason: str = "", answer=None, address: str | None = None) -> None:
    """A person's decision on `task` of a run bound to Temporal (`bound`: its binding), sent
    as the workflow's update (at `address` when given, else where the run was started).
    DecisionRefused for a task already decided or a refused update; TemporalError when
    Temporal cannot be reached."""
    from ..decisions import already_decided

    if task.status != "pending":
        raise already_decided(task)
    decide(dict(bound, address=address or bound["address"]),
           {"task": task.id, "action": action, "by": by, "roles": list(roles),
            "values": values or {}, "reason": reason or "", "answer": answer})


def wake(binding: dict) -> None:
    """Tell the run's workflow that the run changed in the store (cancelled, say)."""
    async def go():
        from temporalio.service import RPCError, RPCStatusCode

        client = await connect(binding["address"], binding["namespace"])
        try:
            await client.get_workflow_handle(binding["workflow_id"]).signal("wake")
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND and "completed" in str(e):
                return  # it has ended already: nothing left to tell it
            raise
    try:
        _sync(go())
    except TemporalError:
        raise
    except Exception as e:
        raise TemporalError(f"Temporal did not take the wake-up of workflow "
                            f"{binding['workflow_id']}: {_line(e)}") from None


def binding(run_id: str, address: str, namespace: str = NAMESPACE,
            task_queue: str = TASK_QUEUE) -> dict[str, str]:
    return {"engine": "temporal", "workflow_id": workflow_id(run_id), "address": address,
            "namespace": namespace, "task_queue": task_queue}


def run_worker(engine, address: str, namespace: str = NAMESPACE, task_queue: str = TASK_QUEUE,
               concurrency: int = 4, seconds: float | None = None,
               on_ready: Any = None) -> None:
    """Poll `task_queue` for workflow and activity tasks until SIGINT/SIGTERM (or `seconds`)."""
    _imports()
    from temporalio.worker import Worker

    from .activities import Activities
    from .workflow import FlowcRun

    check_name(task_queue, "task queue")
    check_settings()

    async def go():
        client = await connect(address, namespace)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (ValueError, RuntimeError):  # not the main thread (tests)
                pass
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            sticky = timedelta(seconds=_seconds("FLOWC_TEMPORAL_STICKY_TIMEOUT", 10.0))
            worker = Worker(client, task_queue=task_queue, workflows=[FlowcRun],
                            activities=Activities(engine).all(), activity_executor=pool,
                            max_concurrent_activities=concurrency,
                            sticky_queue_schedule_to_start_timeout=sticky,
                            graceful_shutdown_timeout=timedelta(seconds=_seconds(
                                "FLOWC_TEMPORAL_GRACE", 30.0)))
            polling = asyncio.ensure_future(worker.run())
            waiting = asyncio.ensure_future(asyncio.wait_for(stop.wait(), seconds))
            await asyncio.sleep(0)
            if on_ready is not None and not polling.done():
                on_ready()
            done, _ = await asyncio.wait({polling, waiting},
                                         return_when=asyncio.FIRST_COMPLETED)
            if polling in done:  # it could not poll (no such namespace, say)
                waiting.cancel()
                error = polling.exception()
                if error is not None:
                    raise TemporalError(f"the worker cannot poll task queue {task_queue} at "
                                        f"{address} (namespace {namespace}): "
                                        f"{_line(error)}")
                return
            await worker.shutdown()
            await polling
    _sync(go())
