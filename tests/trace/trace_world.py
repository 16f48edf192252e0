"""Shared by the observability tests: runs built in a real SQLite store through its public API,
on plans compiled from the examples, with a controlled clock so that every time and latency is
known."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from flowc.compiler.api import compile_file
from flowc.runtime.store import ModelCallRecord, SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600.0   # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def at(self, t: float) -> Clock:
        self.t = t
        return self


@dataclass
class World:
    path: Path
    store: SQLiteStore
    clock: Clock
    report_plan: str      # client_report's plan hash
    all_plan: str         # all_clients' plan hash
    ok_run: str           # client_report: stats, draft (2 attempts), review, send; rework skipped
    failed_run: str       # client_report: stats ok, draft failed
    batch_run: str        # all_clients: a for-each of two flow calls, paused
    child_runs: tuple[str, ...]


def compiled(path: str):
    result = compile_file(ROOT / path)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    return result.plan


def call(run_id, node_id, *, seq, start, end, attempt=1, item=-1, purpose="llm",
         provider="openai", alias="default", model="gpt-4o-mini", pt=100, ct=20, cost=0.001,
         error=None, response=None):
    return ModelCallRecord(
        run_id=run_id, node_id=node_id, item=item, seq=seq, attempt=attempt, purpose=purpose,
        provider=provider, alias=alias, model=model,
        request={"messages": [{"role": "user", "content": f"{node_id} {seq}"}]},
        response=response if response is not None else (
            None if error else {"id": f"chatcmpl-{node_id}-{seq}", "model": f"{model}-2024",
                                "content": "ok"}),
        error=error, prompt_tokens=pt, completion_tokens=ct, cost=cost,
        started_at=start, finished_at=end)


def _client_report_run(store: SQLiteStore, clock: Clock, plan_hash: str, t: float, *,
                       fail_draft: bool = False, parent=None, inputs=None) -> str:
    kwargs = {"parent_run_id": parent[0], "parent_node_id": parent[1]} if parent else {}
    clock.at(t)
    run = store.create_run("client_report", plan_hash, inputs or {"month": "2026-01"},
                           status="running", **kwargs)
    r = run.id
    clock.at(t + 0.1)
    store.start_node(r, "stats", inputs={"holdings": "h.csv", "currency": "EUR"})
    clock.at(t + 0.6)
    store.finish_node(r, "stats", -1, "succeeded",
                      output={"status": "anomaly", "total_return": 3.2, "summary": "x" * 300})
    clock.at(t + 1.0)
    if fail_draft:
        store.start_node(r, "draft", inputs={"goal": "write"})
        store.record_model_call(call(r, "draft", seq=1, start=t + 1.1, end=t + 1.5,
                                     purpose="agent_step", error="rate limited (429)",
                                     pt=0, ct=0, cost=0.0))
        clock.at(t + 1.6)
        store.finish_node(r, "draft", -1, "failed", error="the model failed: rate limited (429)")
        clock.at(t + 1.7)
        store.set_run_status(r, "failed", error="node `draft` failed")
        return r
    # attempt 1 fails after one call; attempt 2 makes two agent steps
    store.start_node(r, "draft", attempt=1, inputs={"goal": "write"})
    store.record_model_call(call(r, "draft", seq=1, attempt=1, start=t + 1.1, end=t + 1.4,
                                 purpose="agent_step", error="timeout", pt=500, ct=0,
                                 cost=0.0003))
    clock.at(t + 1.5)
    store.start_node(r, "draft", attempt=2, inputs={"goal": "write"})
    store.record_model_call(call(r, "draft", seq=1, attempt=2, start=t + 1.6, end=t + 2.6,
                                 purpose="agent_step", pt=1000, ct=200, cost=0.002))
    store.record_model_call(call(r, "draft", seq=2, attempt=2, start=t + 2.7, end=t + 3.4,
                                 purpose="agent_step", pt=1500, ct=300, cost=0.003))
    clock.at(t + 3.5)
    store.finish_node(r, "draft", -1, "succeeded", output={"body": "Dear client", "subject": "Jan"},
                      metrics={"model": "default", "provider": "openai",
                               "provider_model": "gpt-4o-mini", "prompt_tokens": 2500,
                               "completion_tokens": 500, "cost": 0.005, "calls": 2,
                               "steps": 2, "tool_calls": 1})
    clock.at(t + 3.6)
    store.start_node(r, "review", inputs={"title": "review"})
    store.finish_node(r, "review", -1, "waiting")
    clock.at(t + 63.6)
    store.finish_node(r, "review", -1, "succeeded", outcome="approved",
                      output={"subject": "Jan", "body": "Dear client"})
    clock.at(t + 63.7)
    store.start_node(r, "send", inputs={"line": "send_mail"})
    clock.at(t + 64.2)
    store.finish_node(r, "send", -1, "succeeded", output={"exit": 0})
    store.finish_node(r, "rework", -1, "skipped")
    clock.at(t + 64.3)
    store.set_run_status(r, "succeeded", outputs={"status": "anomaly", "decision": "approved"})
    return r


@pytest.fixture
def world(tmp_path) -> World:
    clock = Clock()
    path = tmp_path / "runs.db"
    store = SQLiteStore(path, clock=clock)
    report = compiled("examples/client_report/client_report.flow")
    batch = compiled("examples/client_report/all_clients.flow")
    store.put_plan(report.hash, report.model_dump_json(by_alias=True))
    store.put_plan(batch.hash, batch.model_dump_json(by_alias=True))

    ok = _client_report_run(store, clock, report.hash, T0 + 100)
    failed = _client_report_run(store, clock, report.hash, T0 + 200, fail_draft=True)

    clock.at(T0 + 3600)
    b = store.create_run("all_clients", batch.hash, {"month": "2026-01"}, status="running").id
    clock.at(T0 + 3600.5)
    store.start_node(b, "reports")
    children = []
    for i in range(2):
        clock.at(T0 + 3601 + i)
        store.start_node(b, "reports", item=i, inputs={"account": i})
        child = _client_report_run(store, clock, report.hash, T0 + 3601 + i,
                                   parent=(b, f"reports#{i}"))
        children.append(child)
        clock.at(T0 + 3700 + i)
        store.finish_node(b, "reports", i, "succeeded", output={"status": "anomaly"})
    clock.at(T0 + 3710)
    store.finish_node(b, "reports", -1, "waiting")
    store.set_run_status(b, "paused")
    return World(path, store, clock, report.hash, batch.hash, ok, failed, b, tuple(children))
