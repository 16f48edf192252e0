#!/usr/bin/env bash
# Install flowc with its test dependencies, then lint and run the whole test suite
# (benchmarks run in their short form; set FLOWC_BENCH_FULL=1 for the full sizes).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh test,bench
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
