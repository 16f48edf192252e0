"""The runtime that executes compiled plans: the engine (scheduling, leases, retries,
decisions, timers), the node executors (`nodes/`, one module per node kind), the run store,
model providers (`models/`), the sandbox (`sandbox/`), traces and the audit trail. It imports
nothing from the compiler but the plan."""
