#!/usr/bin/env bash
# The main job: install flowc, then check every example flow and compile the monthly client
# report into a plan, printing the plan's summary.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
flowc=.venv/bin/flowc
echo "== flowc check (the example flows)"
$flowc check examples/client_report examples/support_router examples/ecommerce examples/data_pipeline
echo
echo "== flowc compile examples/client_report/client_report.flow"
mkdir -p build
$flowc compile examples/client_report/client_report.flow -o build/client_report.plan.json --summary
echo
echo "== flowc check examples/broken (deliberate mistakes; errors expected)"
$flowc check examples/broken/unknown_field.flow || true
