#!/usr/bin/env bash
# The main job: install flowc, then check every example flow and compile the monthly client
# report into a plan, printing the plan's summary.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
flowc=.venv/bin/flowc
echo "== flowc check (the example flows)"
$flowc check examples/client_report examples/support_router examples/ecommerce examples/data_pipeline examples/refund_approval
echo
echo "== flowc compile examples/client_report/client_report.flow"
mkdir -p build
$flowc compile examples/client_report/client_report.flow -o build/client_report.plan.json --summary
echo
echo "== flowc check examples/broken (deliberate mistakes; errors expected)"
$flowc check examples/broken/unknown_field.flow || true
echo
echo "== flowc run: a refund that pauses for a person's approval, then resumes"
export FLOWC_STORE="$PWD/build/demo/runs.db"
rm -rf build/demo
$flowc people ana support_lead >/dev/null
$flowc run examples/refund_approval/refund_approval.flow \
  --input 'order={"id": "A-17", "amount": 80.0, "reason": "damaged in transit"}'
task=$($flowc inbox --json | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "\$ flowc show $task"
$flowc show "$task"
echo
echo "\$ flowc resume $task --edit refund=70.5 --reason 'goodwill cap' --as ana"
$flowc resume "$task" --edit refund=70.5 --reason "goodwill cap" --as ana
run=$($flowc runs --json | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "\$ flowc audit $run --verify"
$flowc audit "$run" --verify
