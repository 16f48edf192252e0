"""The `flowc serve` benchmark (bench/serve.py) in its short form: a real server process over a
real SQLite store, 500 pending tasks, 10 reviewers deciding through the review form and the
API at once (with the server's worker off, then on). The correctness targets (no error, every
decision recorded exactly once, one winner per contested task) hold on any machine; the
latency figures are reported, not asserted (a busy machine makes them slower, not wrong); the
full sizes, with the inbox's latency target, run under `-m slow`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "serve.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def _rows(out: str, part: str) -> list[str]:
    return [ln for ln in out.splitlines() if part in ln]


def test_serve_bench_quick_meets_the_correctness_targets_and_reports_latency():
    r = _run("--quick")
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    for part in ("1 GET /inbox (page 1): app time", "1 GET /inbox?page=10 (the last): app time",
                 "1 GET /inbox?flow=refund_approval&role=support_lead: app time",
                 "2 (calibration) GET /healthz",
                 "2a form POST /review/ID approve, worker off: round trip",
                 "2b POST /api/tasks/ID/decision, worker off: round trip",
                 "2c form POST /review/ID approve, worker on: round trip",
                 "2d POST /api/tasks/ID/decision, worker on: round trip"):
        (row,) = _rows(out, part)
        assert " n/a " not in row, out  # every figure was measured
    inbox = _rows(out, ": app time")[:3]
    assert all("p50 <= 100 ms" in row for row in inbox), out  # the target is reported
    errors = _rows(out, "errors of 50 decisions sent")
    assert len(errors) == 4 and all(row.endswith("PASS") for row in errors), out
    for part in ("1 inbox pages as expected", "3 contested tasks", "3 a winning form sent again",
                 "2+3 decisions recorded exactly once (206 of 206)",
                 "2c/2d decided runs the worker took to their end"):
        (row,) = _rows(out, part)
        assert row.endswith("PASS"), out
    assert "FAIL" not in out, out


@pytest.mark.slow
def test_serve_bench_full_meets_targets():
    r = _run("--strict", timeout=1800)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
