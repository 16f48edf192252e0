"""Plans run on Temporal: the workflow (workflow.py), its activities (activities.py) and the
client side the CLI uses (client.py).

The store stays the source of truth for runs, tasks, traces and the audit, as with the
embedded engine; Temporal orchestrates: a workflow per run advances it through activities
(each a pass of the engine's node executors on a worker), takes decisions as updates checked
by a validator before they enter its history, and fires gate timeouts and escalation steps
from durable timers. Needs the `temporal` extra (temporalio).
"""

WORKFLOW = "flowc.run"
TASK_QUEUE = "flowc"
NAMESPACE = "default"


def workflow_id(run_id: str) -> str:
    return f"flowc-run-{run_id}"
