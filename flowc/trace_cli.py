"""`flowc trace`, `flowc cost` and `flowc report`: what runs did, how long it took, what it cost."""

from __future__ import annotations

__all__ = ["add_trace_commands"]


def add_trace_commands(sub, parser_class) -> None:
    """Register the observability commands (filled in by the tracing work)."""
