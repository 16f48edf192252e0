"""The store's records (frozen rows as the runtime reads them) and the statuses they may hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ASSIGNEE_KINDS", "CLAIMABLE_RUN_STATUSES", "EFFECT_STATUSES", "NODE_STATUSES", "NO_ITEM",
    "RUN_STATUSES", "TASK_KINDS", "TASK_STATUSES", "TERMINAL_RUN_STATUSES", "AuditRecord",
    "AuditVerification", "EffectRecord", "FileRecord", "ModelCallRecord", "NodeRecord",
    "RunRecord", "TaskRecord",
]

RUN_STATUSES = ("queued", "running", "paused", "succeeded", "failed", "cancelled")
TERMINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
CLAIMABLE_RUN_STATUSES = ("queued", "running")
NODE_STATUSES = ("running", "succeeded", "failed", "skipped", "waiting")
TASK_KINDS = ("gate", "ask")
TASK_STATUSES = ("pending", "decided", "timed_out", "cancelled")
ASSIGNEE_KINDS = ("role", "user")
EFFECT_STATUSES = ("intent", "done")
NO_ITEM = -1


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")



@dataclass(frozen=True)
class RunRecord:
    id: str
    flow_name: str
    plan_hash: str
    status: str
    inputs: Any
    outputs: Any
    error: str | None
    parent_run_id: str | None
    parent_node_id: str | None
    workspace_url: str | None
    created_at: float
    updated_at: float
    lease_owner: str | None
    lease_until: float | None
    base_dir: str | None = None   # the flow's folder: where its project skills are

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


@dataclass(frozen=True)
class NodeRecord:
    run_id: str
    node_id: str
    item: int
    status: str
    attempt: int
    inputs: Any
    output: Any
    outcome: str | None
    error: str | None
    started_at: float
    finished_at: float | None
    metrics: Any = None   # per-node figures: model, tokens, cost, steps, fallback, ...


@dataclass(slots=True)  # not frozen: one is made per model call, on the run's path
class ModelCallRecord:
    """One model exchange of a node (an `llm` call, an agent step, an extraction, a re-ask)."""

    run_id: str
    node_id: str
    item: int
    seq: int              # the call's number within the node's attempt, from 1
    attempt: int
    purpose: str          # "llm", "reask", "agent_step", "extract", ...
    provider: str         # "openai", "anthropic", "replay", ...
    alias: str            # the model's name in flowc.toml ("default")
    model: str            # the provider's model name
    request: Any
    response: Any
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    started_at: float
    finished_at: float

    @property
    def latency(self) -> float:
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class TaskRecord:
    id: str
    run_id: str
    node_id: str
    item: int
    kind: str
    status: str
    assignees: tuple[dict[str, str], ...]
    title: str
    show: Any
    form: Any
    deadline: float | None
    timeout_outcome: str | None
    decision: Any
    decided_by: str | None
    decided_at: float | None
    created_at: float
    # a gate's escalation steps, in order: {"after": seconds after it opened, "at": when the
    # step is due, "to": [assignees it adds], "fired_at": when it fired, or None}
    escalations: tuple[dict[str, Any], ...] = ()
    escalated: int = 0                      # how many steps have fired
    next_escalation: float | None = None    # when the next step is due (None: no step left)

    @property
    def fired_escalations(self) -> tuple[dict[str, Any], ...]:
        """The steps that fired, in order (each with its `fired_at`)."""
        return self.escalations[:self.escalated]


@dataclass(frozen=True)
class EffectRecord:
    key: str
    run_id: str
    node_id: str
    item: int
    status: str
    result: Any
    created_at: float
    done_at: float | None
    kind: str | None = None   # the node kind that performs it: code, command, skill
    starts: int = 1           # how often it was started (a retry or a resume: same key)


@dataclass(frozen=True)
class FileRecord:
    """A file a node produced or a person supplied, as the runtime recorded it."""

    id: str              # the handle a file value carries (`file_id`), minted by the runtime
    run_id: str
    node_id: str         # the node that produced it; `input:NAME` for a run input
    item: int
    name: str            # its name as the node wrote it (`report.pdf`, `out/table.csv`)
    sha256: str
    size: int
    workspace: str       # the folder (path or fsspec URL) it lives under
    location: str        # its path inside `workspace`: `RUN/NODE[/ITEM]/NAME`
    created_at: float


@dataclass(frozen=True)
class AuditRecord:
    run_id: str
    seq: int
    ts: float
    kind: str
    actor: str | None
    payload: Any
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    problems: list[str] = field(default_factory=list)
    events: int = 0
    notes: list[str] = field(default_factory=list)   # what was not checked, and why

# A flow version's lifecycle (runtime/versions.py says which action moves it where).
VERSION_STATUSES = ("draft", "in_review", "approved", "rejected", "published", "superseded")
# The status each history event leaves its version in (a comment changes none): the
# status column must always be what the chained history says.
VERSION_EVENT_STATUS = {
    "version.review_requested": "in_review", "version.approved": "approved",
    "version.rejected": "rejected", "version.published": "published",
    "version.rolled_back": "published", "version.superseded": "superseded",
}
