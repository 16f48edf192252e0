"""bench/lsp.py: the short form always runs; the full form, with targets enforced, is slow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "lsp.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)


def test_lsp_bench_quick_runs_and_reports_percentiles():
    r = _bench("--quick", "--lines", "600", "--edits", "6")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "edit -> publishDiagnostics" in r.stdout and "completion" in r.stdout
    assert "p50 ms" in r.stdout and "Targets:" in r.stdout
    assert "server start -> first diagnostics" in r.stdout  # start-up, timed (no bound here)


@pytest.mark.slow
def test_lsp_bench_full_meets_targets():
    r = _bench("--strict")
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
