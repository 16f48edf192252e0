#!/usr/bin/env bash
# Install flowc with its test dependencies, then lint and run the whole test suite
# (benchmarks run in their short form; set FLOWC_BENCH_FULL=1 for the full sizes).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh test,bench
.venv/bin/ruff check .
# Tests run on 3 processes (pytest-xdist; a file's tests stay on one): most of a test's
# time is spent waiting on Deno, flowc and server processes. FLOWC_TEST_WORKERS=1 runs
# them in this one process.
workers="${FLOWC_TEST_WORKERS:-3}"
parallel=()
if [ "$workers" != "1" ] && [ "$workers" != "0" ]; then
  parallel=(-n "$workers" --dist loadfile)
fi
# Tests that load the machine on purpose (`busy`: CPU burners for a minute) run alone after
# the rest, so their burners do not slow every other test down.
.venv/bin/python -m pytest "${parallel[@]}" -m "not slow and not live and not busy" "$@"
# The store's durable behaviour again on PostgreSQL (tests/pgkit.py starts a real server):
# the tests of these files that take the `store` fixture, each on a fresh database.
FLOWC_TEST_STORE=postgresql .venv/bin/python -m pytest "${parallel[@]}" \
  -m "not slow and not live and not busy" "$@" \
  tests/test_store.py tests/test_leases.py tests/test_engine.py tests/test_effect_keys.py \
  tests/test_gate_escalation.py tests/test_audit_data.py tests/test_node_kinds.py \
  tests/test_store_engines.py tests/test_turn.py
status=0
.venv/bin/python -m pytest -m busy "$@" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"  # 5: none selected
