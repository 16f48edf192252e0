"""The runtime that executes compiled plans (built by later issues; imports nothing from the compiler but the plan)."""
