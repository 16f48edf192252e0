"""`flowc cost`: cost, tokens and calls over model calls in a time range, by flow, node, model."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from trace_world import T0, call

from flowc.cli import CommandError, main
from flowc.trace_cli import cost_report, parse_when


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mixed(world):
    """One more run whose `rework` node used another provider's model."""
    s = world.store
    world.clock.at(T0 + 7200)
    r = s.create_run("client_report", world.report_plan, {}, status="running").id
    s.start_node(r, "rework")
    s.record_model_call(call(r, "rework", seq=1, start=T0 + 7200.5, end=T0 + 7201,
                             provider="anthropic", alias="careful", model="claude-sonnet",
                             pt=2000, ct=1000, cost=0.021))
    s.finish_node(r, "rework", -1, "succeeded", output={"text": "x"})
    s.set_run_status(r, "succeeded")
    world.mixed_run = r
    return world


def test_cost_by_flow_sums_every_call_and_counts_sub_runs_for_their_flow(mixed):
    rep = cost_report(mixed.store, by="flow")
    assert [r["flow"] for r in rep["rows"]] == ["client_report"]   # all_clients made no call
    row = rep["rows"][0]
    assert row["calls"] == 3 + 1 + 3 + 3 + 1
    assert row["runs"] == 5
    assert row["prompt_tokens"] == 3000 * 3 + 0 + 2000
    assert row["completion_tokens"] == 500 * 3 + 1000
    assert row["cost"] == pytest.approx(0.0053 * 3 + 0.021)
    assert rep["total"]["cost"] == pytest.approx(row["cost"])
    assert rep["since"] is None and rep["until"] is None


def test_cost_by_node_and_by_model_costliest_first(mixed):
    rows = cost_report(mixed.store, by="node")["rows"]
    assert [(r["flow"], r["node"]) for r in rows] == [("client_report", "rework"),
                                                      ("client_report", "draft")]
    assert rows[1]["calls"] == 10 and rows[1]["cost"] == pytest.approx(0.0159)
    rows = cost_report(mixed.store, by="model")["rows"]
    assert [(r["provider"], r["model"], r["aliases"]) for r in rows] == [
        ("anthropic", "claude-sonnet", ["careful"]), ("openai", "gpt-4o-mini", ["default"])]
    assert rows[0]["cost"] == pytest.approx(0.021)


def test_cost_in_a_time_range(mixed):
    # the two sub-runs' calls start between 01:00 and 02:00
    rep = cost_report(mixed.store, since=T0 + 3600, until=T0 + 7200)
    assert rep["total"]["calls"] == 6 and rep["total"]["runs"] == 2
    assert rep["since"] == "2026-01-01T01:00:00Z" and rep["until"] == "2026-01-01T02:00:00Z"
    assert cost_report(mixed.store, since=T0 + 9000)["rows"] == []


def test_parse_when_dates_times_and_durations():
    now = T0 + 86400 * 10 + 3600
    assert parse_when("2026-01-01", "--since", now=now) == T0
    assert parse_when("2026-01-01", "--until", now=now, end_of_day=True) == T0 + 86400
    assert parse_when("2026-01-01T01:30", "--since") == T0 + 5400
    assert parse_when("2026-01-01 01:30:00Z", "--since") == T0 + 5400
    assert parse_when("2026-01-01T02:30+01:00", "--since") == T0 + 5400
    assert parse_when("90s", "--since", now=now) == now - 90
    assert parse_when("30m", "--since", now=now) == now - 1800
    assert parse_when("12h", "--since", now=now) == now - 43200
    assert parse_when("7d", "--since", now=now) == now - 7 * 86400
    assert parse_when("2w", "--since", now=now) == now - 14 * 86400
    assert parse_when("today", "--since", now=now) == T0 + 86400 * 10
    assert parse_when("yesterday", "--since", now=now) == T0 + 86400 * 9
    for bad in ("yesterdayy", "2026-13-01", "7 days", "-3d", "", "2026/01/01"):
        with pytest.raises(CommandError, match="is not a date"):
            parse_when(bad, "--since", now=now)


def test_flowc_cost_text(mixed, capsys):
    code, out, err = run_cli(capsys, "cost", "--store", str(mixed.path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "cost by flow from the first call to now"
    assert lines[1].split() == ["flow", "calls", "runs", "prompt", "completion", "cost"]
    assert lines[2].split() == ["client_report", "11", "5", "11,000", "2,500", "$0.0369"]
    assert lines[3].split() == ["total", "11", "5", "11,000", "2,500", "$0.0369"]
    code, out, _ = run_cli(capsys, "cost", "--by", "model", "--store", str(mixed.path),
                           "--since", "2026-01-01", "--until", "2026-01-01")
    assert code == 0
    assert out.splitlines()[0] == ("cost by model from 2026-01-01T00:00:00Z to "
                                   "2026-01-02T00:00:00Z")
    assert out.splitlines()[2].split()[:2] == ["anthropic/claude-sonnet", "1"]
    code, out, _ = run_cli(capsys, "cost", "--by", "node", "--store", str(mixed.path))
    assert "client_report.draft" in out and "client_report.rework" in out


def test_flowc_cost_json_and_a_recent_window(mixed, capsys):
    # one call a minute ago: in `--since 5m`, everything else is older
    s = mixed.store
    now = time.time()
    mixed.clock.at(now - 60)
    s.record_model_call(call(mixed.mixed_run, "rework", seq=2, start=now - 60, end=now - 59,
                             cost=0.5))
    code, out, _ = run_cli(capsys, "cost", "--since", "5m", "--format", "json",
                           "--store", str(mixed.path))
    assert code == 0
    data = json.loads(out)
    assert data["by"] == "flow" and data["until"] is None
    assert data["total"] == {"calls": 1, "runs": 1, "prompt_tokens": 100,
                             "completion_tokens": 20, "cost": 0.5}
    since = datetime.strptime(data["since"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(since.timestamp() - (now - 300)) < 5
    code, out, _ = run_cli(capsys, "cost", "--until", "2025-12-31", "--store", str(mixed.path))
    assert code == 0 and out.startswith("no model calls from the first call to "
                                        "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(("argv", "message"), [
    (["--since", "last tuesday"], "--since: `last tuesday` is not a date (2026-03-01)"),
    (["--until", "2026-02-30"], "--until: `2026-02-30` is not a date"),
    (["--since", "2026-02-01", "--until", "2026-01-01"],
     "--since (2026-02-01T00:00:00Z) must come before --until (2026-01-02T00:00:00Z)"),
    (["--by", "user"], "invalid choice: 'user'"),
    (["--format", "csv"], "invalid choice: 'csv'"),
])
def test_flowc_cost_bad_command_lines_are_one_line(world, capsys, argv, message):
    code, _, err = run_cli(capsys, "cost", *argv, "--store", str(world.path))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cost_report_refuses_an_unknown_grouping(world):
    with pytest.raises(ValueError, match="by must be flow, node or model"):
        cost_report(world.store, by="user")
