"""`build_trace`, its JSON export and `flowc trace` on runs in a real SQLite store."""

from __future__ import annotations

import json

import pytest
from trace_world import T0, call

from flowc.cli import main
from flowc.runtime.trace import NOT_RUN, TraceError, build_trace, trace_to_dict, trace_to_json

NODE_KEYS = {"id", "item", "kind", "line", "status", "outcome", "error", "attempts",
             "started_at", "finished_at", "latency", "inputs", "output", "model", "provider",
             "provider_model", "prompt_tokens", "completion_tokens", "cost", "calls", "metrics",
             "model_calls", "items", "child_run"}
RUN_KEYS = {"id", "flow", "plan_hash", "status", "inputs", "outputs", "error", "parent_run_id",
            "parent_node_id", "started_at", "finished_at", "updated_at", "latency", "totals",
            "nodes"}
CALL_KEYS = {"seq", "attempt", "purpose", "provider", "alias", "model", "prompt_tokens",
             "completion_tokens", "cost", "started_at", "finished_at", "latency", "error",
             "request", "response"}


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_run_is_a_tree_in_plan_order_with_its_figures(world):
    t = build_trace(world.store, world.ok_run)
    assert (t.flow, t.status) == ("client_report", "succeeded")
    assert [n.id for n in t.nodes] == ["stats", "draft", "review", "send", "rework"]
    assert t.latency == pytest.approx(64.3)
    stats, draft, review, send, rework = t.nodes
    plan = json.loads(world.store.get_plan(world.report_plan))
    line = next(n["span"]["line"] for n in plan["nodes"] if n["id"] == "stats")
    assert (stats.kind, stats.line, stats.latency) == ("skill", line, pytest.approx(0.5))
    assert stats.inputs == {"holdings": "h.csv", "currency": "EUR"}
    assert stats.output["total_return"] == 3.2
    assert stats.metrics is None and stats.calls == 0 and stats.model is None
    # the agent: two attempts, three calls; tokens and cost count every call (both attempts)
    assert (draft.attempts, draft.calls) == (2, 3)
    assert [(c.attempt, c.seq) for c in draft.model_calls] == [(1, 1), (2, 1), (2, 2)]
    assert (draft.prompt_tokens, draft.completion_tokens) == (3000, 500)
    assert draft.cost == pytest.approx(0.0053)
    assert (draft.model, draft.provider, draft.provider_model) == \
        ("default", "openai", "gpt-4o-mini")
    assert draft.metrics["steps"] == 2
    assert draft.latency == pytest.approx(2.0)      # the recorded (second) attempt
    assert draft.model_calls[0].error == "timeout"
    assert draft.model_calls[1].latency == pytest.approx(1.0)
    assert (review.outcome, review.latency) == ("approved", pytest.approx(60.0))
    assert send.latency == pytest.approx(0.5)
    assert rework.status == "skipped" and rework.latency is None
    assert t.totals.nodes == 5
    assert t.totals.statuses == {"succeeded": 4, "skipped": 1}
    assert (t.totals.model_calls, t.totals.prompt_tokens, t.totals.completion_tokens) == \
        (3, 3000, 500)
    assert t.totals.cost == pytest.approx(0.0053)


def test_nodes_that_never_started_are_not_run(world):
    t = build_trace(world.store, world.failed_run)
    assert [(n.id, n.status) for n in t.nodes] == [
        ("stats", "succeeded"), ("draft", "failed"), ("review", NOT_RUN), ("send", NOT_RUN),
        ("rework", NOT_RUN)]
    draft = t.nodes[1]
    assert draft.error == "the model failed: rate limited (429)"
    assert draft.model_calls[0].error == "rate limited (429)"
    assert t.error == "node `draft` failed"
    assert t.totals.nodes == 2 and t.totals.statuses == {"succeeded": 1, "failed": 1}


def test_for_each_items_and_flow_calls_nest_their_sub_runs(world):
    t = build_trace(world.store, world.batch_run)
    assert t.status == "paused" and t.finished_at is None and t.latency is None
    reports, tally = t.nodes
    assert (reports.kind, reports.status, tally.status) == ("for_each", "waiting", NOT_RUN)
    assert [i.label for i in reports.items] == ["reports[0]", "reports[1]"]
    assert reports.items[1].latency == pytest.approx(99.0)
    assert [i.child_run.id for i in reports.items] == list(world.child_runs)
    child = reports.items[0].child_run
    assert child.parent_run_id == world.batch_run and child.parent_node_id == "reports#0"
    assert child.totals.cost == pytest.approx(0.0053)
    # the batch's totals include both sub-runs' nodes and model calls
    assert t.totals.model_calls == 6
    assert t.totals.cost == pytest.approx(2 * 0.0053)
    assert t.totals.nodes == 1 + 2 + 2 * 5
    walked = [(r.flow, n.label) for r, n in t.walk()]
    assert walked[:3] == [("all_clients", "reports"), ("all_clients", "reports[0]"),
                          ("client_report", "stats")]
    assert len(walked) == 1 + 2 + 2 * 5 + 1


def test_the_json_export_has_the_documented_keys_and_round_trips(world):
    data = json.loads(trace_to_json(build_trace(world.store, world.batch_run)))
    assert data["format"] == "flowc.trace/1"
    run = data["run"]
    assert set(run) == RUN_KEYS
    assert set(run["totals"]) == {"nodes", "statuses", "model_calls", "prompt_tokens",
                                  "completion_tokens", "cost"}
    item = run["nodes"][0]["items"][0]
    assert set(item) == NODE_KEYS
    child = item["child_run"]
    assert set(child) == RUN_KEYS
    draft = child["nodes"][1]
    assert set(draft["model_calls"][0]) == CALL_KEYS
    assert draft["model_calls"][1]["response"]["id"] == "chatcmpl-draft-1"
    assert draft["model_calls"][1]["request"]["messages"][0]["content"] == "draft 1"
    assert draft["latency"] == 2.0 and draft["cost"] == 0.0053
    assert data == trace_to_dict(build_trace(world.store, world.batch_run))
    # bodies are left out of a lighter trace, figures stay
    light = trace_to_dict(build_trace(world.store, world.ok_run, full=False))
    assert light["run"]["nodes"][1]["model_calls"][1]["request"] is None
    assert light["run"]["nodes"][1]["model_calls"][1]["prompt_tokens"] == 1000


def test_unknown_run():
    from flowc.runtime.store import open_store

    with pytest.raises(TraceError, match="no run `nope`"):
        build_trace(open_store(":memory:"), "nope")


def test_a_node_without_call_records_takes_its_figures_from_metrics(world):
    s = world.store
    r = s.create_run("client_report", world.report_plan, {}, status="running").id
    s.start_node(r, "rework")
    s.finish_node(r, "rework", -1, "succeeded", output={"text": "x"},
                  metrics={"model": "small", "provider": "anthropic",
                           "provider_model": "claude-haiku", "prompt_tokens": 70,
                           "completion_tokens": 7, "cost": 0.25, "calls": 1, "reasks": 0})
    s.set_run_status(r, "succeeded")
    rework = next(n for n in build_trace(s, r).nodes if n.id == "rework")
    assert (rework.model, rework.provider_model, rework.prompt_tokens, rework.completion_tokens,
            rework.cost, rework.calls) == ("small", "claude-haiku", 70, 7, 0.25, 1)
    assert build_trace(s, r).totals.cost == 0.25


def test_a_run_whose_plan_is_missing_still_traces(tmp_path):
    from flowc.runtime.store import SQLiteStore

    s = SQLiteStore(tmp_path / "x.db")
    s.put_plan("h" * 64, "not json")
    r = s.create_run("odd", "h" * 64, {}).id
    s.start_node(r, "a")
    s.finish_node(r, "a", -1, "succeeded", output=1)
    s.record_model_call(call(r, "b", seq=1, start=T0, end=T0 + 1))
    t = build_trace(s, r)
    # without a plan, nodes come in the order they started (b's call is from 2026-01-01)
    assert [(n.id, n.kind, n.status) for n in t.nodes] == [("b", None, "running"),
                                                           ("a", None, "succeeded")]
    assert t.totals.model_calls == 1


# ------------------------------------------------------------------------------------ the CLI


def test_flowc_trace_renders_the_tree(world, capsys):
    code, out, err = run_cli(capsys, "trace", world.ok_run, "--store", str(world.path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"✔ run {world.ok_run} (client_report) succeeded 64.30s")
    assert "5 nodes · 3 model calls · 3,000+500 tok · $0.0053" in lines[0]
    assert any("✔ draft (agent) succeeded 2.00s · attempt 2 · 3,000+500 tok · $0.0053 · "
               "default (openai/gpt-4o-mini)" in line for line in lines)
    assert any("✘ agent_step #1 openai/gpt-4o-mini 300ms · 500+0 tok" in line for line in lines)
    assert any("error: timeout" in line for line in lines)
    assert any("→ approved" in line for line in lines)
    assert any("○ rework (llm) skipped" in line for line in lines)
    # inputs and outputs are cut to one line unless --full
    summary = next(line for line in lines if "out: " in line and "summary" in line)
    assert summary.endswith("…") and "x" * 300 not in out
    code, out, _ = run_cli(capsys, "trace", world.ok_run, "--full", "--store", str(world.path))
    # (rich wraps the long value over several lines)
    assert code == 0 and out.count("x") >= 300 and "chatcmpl-draft-1" in out


def test_flowc_trace_shows_failures_and_sub_runs(world, capsys):
    _, out, _ = run_cli(capsys, "trace", world.failed_run, "--store", str(world.path))
    assert "✘ run" in out and "error: the model failed: rate limited (429)" in out
    assert "· review (gate) not_run" in out
    _, out, _ = run_cli(capsys, "trace", world.batch_run, "--store", str(world.path))
    assert "⏸ run" in out and "reports[1]" in out
    assert all(f"run {c} (client_report)" in out for c in world.child_runs)


def test_flowc_trace_json(world, capsys):
    code, out, _ = run_cli(capsys, "trace", world.ok_run, "--format", "json",
                           "--store", str(world.path))
    assert code == 0
    data = json.loads(out)
    assert data["run"]["id"] == world.ok_run
    assert data["run"]["totals"]["model_calls"] == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["trace", "01NOPE"], "no run `01NOPE` (see `flowc runs`)"),
    (["trace", "X", "--format", "yaml"], "invalid choice: 'yaml'"),
    (["trace", "X", "--export", "zipkin"], "invalid choice: 'zipkin'"),
    (["trace", "X", "--endpoint", "http://127.0.0.1:1"], "--endpoint goes with --export otlp"),
    (["trace"], "the following arguments are required: RUN"),
])
def test_flowc_trace_bad_command_lines_are_one_line(world, capsys, argv, message):
    code, _, err = run_cli(capsys, *argv, "--store", str(world.path))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
