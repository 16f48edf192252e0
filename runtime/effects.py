"""External effects: the idempotency key of an `effect external` node, its intent/done record
in the store, and how the key reaches the effect.

Every execution of a `code`, `command` or `skill` node that declares `effect external` (or
whose skill's SKILL.md declares it) is keyed by (run, node, `for each` item): the key is the
same for every attempt and every resume, so an effect started again after a crash or a
failed attempt reaches its receiver with the key it had the first time. Before the effect
starts, its intent is recorded (`Store.effect_start`, which also counts the starts); once it
returned, its result is recorded (`effect_done`) with the files it wrote; only then does the
node's result commit. A "done" record is reused, never performed again.

The key is handed to the effect as:
- `idempotency_key`, a variable of a `code` node (Python and JavaScript);
- `FLOWC_IDEMPOTENCY_KEY`, an environment variable of a command line and the skill scripts it
  runs (`command` and `skill` nodes);
- an `Idempotency-Key` header that flowc adds to every HTTP request the execution makes
  through `flowc_http` (or urllib in a skill script), unless the code set that header itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal

__all__ = ["EFFECT_KINDS", "ENV_VAR", "HEADER", "crash_point", "effect_key", "env_code",
           "is_keyed"]

EFFECT_KINDS = frozenset({"code", "command", "skill"})  # the node kinds that act outside
ENV_VAR = "FLOWC_IDEMPOTENCY_KEY"
HEADER = "Idempotency-Key"
# A test hook: `POINT@NODE` kills this process with SIGKILL at that point of that node's
# effect (`intent`: its intent recorded, `returned`: it returned, its result not yet
# recorded, `done`: its result recorded, the node's not yet). tests/test_effect_keys.py.
_CRASH_VAR = "FLOWC_EFFECT_CRASH"


def effect_key(run_id: str, node_id: str, item: int) -> str:
    """The effect's key: stable per (run, node, item), the same for every attempt."""
    return hashlib.sha256(f"{run_id}/{node_id}/{item}".encode()).hexdigest()[:32]


def is_keyed(node, kind: str) -> bool:
    """Whether this execution is an external effect that gets a key (a `for each` body runs
    with its loop node's declared effect)."""
    return getattr(node, "effect", None) == "external" and kind in EFFECT_KINDS


def env_code(key: str | None) -> str:
    """One line of sandbox Python that sets the key in the environment (or clears it: a run
    session's interpreter must not hand one node's key to the next)."""
    if key is None:
        return f"__import__('os').environ.pop({ENV_VAR!r}, None)\n"
    return f"__import__('os').environ[{ENV_VAR!r}] = {json.dumps(key)}\n"


def crash_point(point: str, node_id: str) -> None:
    """Die here (SIGKILL, as a crash) when the test hook names this point of this node."""
    target = os.environ.get(_CRASH_VAR)
    if target and target == f"{point}@{node_id}":
        os.kill(os.getpid(), signal.SIGKILL)
