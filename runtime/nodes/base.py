"""What every node executor shares: its result, the context it runs in, its entry in the table.

A node executor is a function `execute(node, config, scope, ctx) -> NodeResult`: the plan
node, the configuration it runs (the node's, or a `for each` node's body for one item), the
scope its expressions read (run inputs, settled results, the loop variable) and a
`NodeContext` (the run, the plan, the item, and the `Host`: what the engine lends it). It
returns a result to commit, or a pause (`waiting`, with the task it opens). Executors keep no
state of their own between calls, so any engine (or another engine's worker) can run them.

Nothing here imports the engine: the engine imports this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..validate import apply_defaults, schema_errors, value_problem

__all__ = ["NodeResult", "NodeKind", "NodeContext", "Host", "Part", "Executor", "checked",
           "item_schema", "clean_text", "MAX_ERROR"]

MAX_ERROR = 4000  # characters of a node's or run's error kept in the store


@dataclass
class NodeResult:
    """What one execution of a node gives the engine to commit: `succeeded` (with its output
    and outcome), `failed` (with its error), `skipped`, or `waiting` (a pause: the person's
    task it opens, if it opens one, is created in the same commit)."""

    status: str
    output: Any = None
    outcome: str | None = None
    error: str | None = None
    audit: list = field(default_factory=list)  # events committed with the result
    metrics: dict | None = None  # model, tokens, cost, steps (model-backed nodes)
    task: dict | None = None  # a task the node opens: created in its result's commit


class Part(NamedTuple):
    """One part of a node that runs its parts on their own (a `for each` item): each is
    attempted (with the node's retries) and committed by itself."""

    item: int
    kind: str
    config: dict
    scope: Any
    previous: str | None  # the status its committed result has (None: none yet)


class Host(Protocol):
    """What the engine lends a node execution (the engine is one)."""

    store: Any              # the run store: executors write only their own records
    trace: bool             # whether model exchanges are kept
    workspace: str | None   # where nodes' files go (None: not kept)
    base_dir: Path          # the flow's folder when the run carries none
    clock: Callable[[], float]

    @property
    def models(self) -> Any: ...        # the model router (`runtime/models/router.Models`)

    @property
    def max_file_bytes(self) -> int: ...

    def keep_model_call(self, record) -> None: ...

    def sandbox_run(self, run, node, code: str, *, python: bool = False, **kw) -> Any:
        """One execution in a fresh sandbox, or in the run's session (`isolation "run"`)."""

    def run_flow(self, plan, args: dict, parent: tuple[str, str]) -> Any:
        """Start a sub-flow run and advance it as far as it goes: the child run."""

    def run_parts(self, run, plan, node, parts: list[Part], width: int) -> list[NodeResult]:
        """Attempt and commit each part, at most `width` side by side: their results."""


class NodeContext:
    """One execution of a node (a `for each` item is one too): its run, plan and item, and
    what the engine lends it (`host`)."""

    __slots__ = ("host", "item", "plan", "run")

    def __init__(self, host: Host, run, plan, item: int = -1):
        self.host = host
        self.run = run
        self.plan = plan
        self.item = item

    @property
    def store(self):
        """The run store (for the node's own records: tasks it reads, files, effects)."""
        return self.host.store


Executor = Callable[[Any, dict, Any, NodeContext], NodeResult]


@dataclass(frozen=True)
class NodeKind:
    """A node kind in the executor table (`runtime/nodes/__init__.KINDS`): its executor and
    what the engine needs to know to schedule it."""

    name: str
    execute: Executor
    retries: bool = False     # a declared `retry N` tries a failed execution again
    person: bool = False      # waits for a person: no sandbox, never on a helper thread
    model: bool = False       # calls a model: its alias is checked when a run starts
    container: bool = False   # its parts run on their own: its start is committed at once
    # for a node that runs items (`for each`): the kind and configuration each item runs
    body: Callable[[Any], tuple[Any, dict]] | None = None


def item_schema(node, item: int) -> dict:
    """The type one execution's value must have: a `for each` item has the list's item type."""
    return node.output_schema.get("items", {}) if item >= 0 and node.kind == "for_each" \
        else node.output_schema


def checked(node, value: Any, schema: dict | None = None, item: int = -1) -> NodeResult:
    """The value as the node's result, defaults applied, or a failure saying what is wrong."""
    if schema is None:
        schema = item_schema(node, item)
    problem = value_problem(value)
    if problem:
        return NodeResult("failed", error=f"its result cannot be used: {problem}")
    value = apply_defaults(value, schema)
    problems = schema_errors(value, schema, node.id if item < 0 else f"{node.id}[{item}]")
    if problems:
        return NodeResult("failed", error="the result does not fit its type: " + problems[0])
    return NodeResult("succeeded", value)


def clean_text(text: Any, limit: int = MAX_ERROR) -> str:
    """Text as the store keeps it: encodable whatever it holds, and bounded."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit - 40] + \
        f" [... {len(text) - limit + 40} more characters]"
