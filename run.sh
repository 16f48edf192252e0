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
echo "== flowc run: the monthly client report, offline on its recorded model exchanges"
# Skills run in the sandbox, the agent drafts (its model answers come from the recording), the
# compliance gate pauses the run, a person approves, and the approved mail goes to the outbox.
# Live instead: export OPENAI_API_KEY=... and drop --replay (models: examples/flowc.toml).
export FLOWC_STORE="$PWD/build/demo/runs.db"
rm -rf build/demo
recording=examples/client_report/recordings/client_report.jsonl
$flowc people carla compliance >/dev/null
$flowc run examples/client_report/client_report.flow --replay "$recording" \
  --input 'client={"id": "C-104", "name": "Ada Lovelace", "email": "ada@example.com"}' \
  --input holdings=@examples/client_report/data/holdings.csv --input month=2026-10
task=$($flowc inbox --json | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "\$ flowc show $task"
$flowc show "$task"
echo
echo "\$ flowc resume $task --approve --as carla"
$flowc resume "$task" --approve --as carla --replay "$recording"
run=$($flowc runs --json | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
echo
echo "\$ flowc trace $run"
$flowc trace "$run"
echo
echo "\$ flowc cost"
$flowc cost
echo
echo "\$ flowc audit $run --verify"
$flowc audit "$run" --verify | tail -3
echo
echo "\$ flowc report $run --html build/demo/report.html"
$flowc report "$run" --html build/demo/report.html
echo
echo "the approved message, in the outbox:"
ls build/demo/workspace/"$run"/send/outbox/
