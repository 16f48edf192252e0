"""An external effect's records around one execution: its intent before it starts, its result
once it returned (with the files it wrote), so a crash never makes it act twice.

The key and which executions are keyed: runtime/effects.py.
"""

from __future__ import annotations

from ..effects import crash_point, effect_key, is_keyed
from .base import NodeContext

__all__ = ["start_effect", "finish_effect"]


def start_effect(ctx: NodeContext, node, kind: str):
    """For an external effect: its record after recording that it starts (a "done" one
    is not to be performed again); None for any other execution."""
    if not is_keyed(node, kind):
        return None
    run_id, item = ctx.run.id, ctx.item
    rec = ctx.store.effect_start(effect_key(run_id, node.id, item), run_id, node.id, item, kind)
    if rec.status != "done":
        crash_point("intent", node.id)
    return rec


def finish_effect(ctx: NodeContext, effect, node_id: str, keep):
    """`keep()` records the files an execution wrote and returns its result; for an
    effect, in one transaction with the effect's done record holding that result, so a
    crash after it reuses the result and never performs the effect again."""
    if effect is None:
        return keep()
    crash_point("returned", node_id)
    with ctx.store.transaction():
        result = keep()
        ctx.store.effect_done(effect.key, result)
    crash_point("done", node_id)
    return result
