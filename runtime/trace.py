"""A run's trace: the run as a tree of node executions and model calls, with their figures.

    from flowc.runtime.trace import build_trace, trace_to_json
    trace = build_trace(store, run_id)       # RunTrace: plain dataclasses
    text = trace_to_json(trace)              # the stable JSON export (format "flowc.trace/1")

The tree: a run has its nodes in plan order; a `for each` node has its items as children; a
flow call (a `flow` node, or a `for each` over one) has the sub-flow's run as a child; every
node has the model calls it made (all attempts). Nodes of the plan that never started are in
the tree with the status `not_run`.

Figures. Times are seconds since the Unix epoch (UTC); `latency` is `finished_at -
started_at` in seconds (None while a node runs or waits). A node's tokens and cost are the
sum of every model call recorded for it, earlier attempts included (what was spent); a node
without call records takes them from the metrics the engine wrote. A run's `totals` add up its
nodes and, through flow calls, its sub-runs. The JSON keys are listed in
docs/observability.md; they only ever gain new keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TRACE_FORMAT", "ModelCallTrace", "NodeTrace", "RunTrace", "Totals", "TraceError",
    "build_trace", "call_figures", "expand_requests", "plan_nodes", "render_tree", "resolve_inputs",
    "trace_to_dict",
    "trace_to_json",
]

TRACE_FORMAT = "flowc.trace/1"
NOT_RUN = "not_run"
_MAX_DEPTH = 32   # flow calls nest; a cycle in corrupt data must not recurse forever


class TraceError(LookupError):
    """The run is not in the store (the message says which)."""


@dataclass
class Totals:
    """What a run (with its sub-runs) did and spent."""

    nodes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add_node(self, node: NodeTrace) -> None:
        self.nodes += 1
        self.statuses[node.status] = self.statuses.get(node.status, 0) + 1

    def add_figures(self, calls: int, prompt: int, completion: int, cost: float) -> None:
        self.model_calls += calls
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost += cost

    def merge(self, other: Totals) -> None:
        self.nodes += other.nodes
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.add_figures(other.model_calls, other.prompt_tokens, other.completion_tokens,
                         other.cost)


@dataclass
class ModelCallTrace:
    seq: int
    attempt: int
    purpose: str
    provider: str
    alias: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    started_at: float
    finished_at: float
    error: str | None
    request: Any = None
    response: Any = None

    @property
    def latency(self) -> float:
        return self.finished_at - self.started_at


@dataclass
class NodeTrace:
    id: str
    item: int                       # -1, or the index within a `for each`
    kind: str | None                # from the plan (None if the plan is not in the store)
    line: int | None                # the node's line in the .flow file
    status: str                     # running/succeeded/failed/skipped/waiting, or not_run
    outcome: str | None = None
    error: str | None = None
    attempts: int = 0               # the attempt number of the recorded result (0: never ran)
    started_at: float | None = None
    finished_at: float | None = None
    inputs: Any = None
    output: Any = None
    model: str | None = None        # the model's alias in flowc.toml
    provider: str | None = None
    provider_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    metrics: dict[str, Any] | None = None
    model_calls: list[ModelCallTrace] = field(default_factory=list)
    items: list[NodeTrace] = field(default_factory=list)
    child_run: RunTrace | None = None

    @property
    def latency(self) -> float | None:
        """Seconds the recorded attempt took; None while it runs or waits, and for a node that
        never started (skipped without an attempt, not run)."""
        if self.started_at is None or self.finished_at is None or (
                self.status == "skipped" and self.attempts == 0):
            return None
        return self.finished_at - self.started_at

    @property
    def label(self) -> str:
        return self.id if self.item < 0 else f"{self.id}[{self.item}]"


@dataclass
class RunTrace:
    id: str
    flow: str
    plan_hash: str
    status: str
    inputs: Any
    outputs: Any
    error: str | None
    parent_run_id: str | None
    parent_node_id: str | None
    started_at: float
    finished_at: float | None       # the last update of a finished run; None while it goes on
    updated_at: float
    nodes: list[NodeTrace] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)

    @property
    def latency(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def walk(self) -> Iterable[tuple[RunTrace, NodeTrace]]:
        """Every node execution of the tree (items and sub-runs' nodes included), depth first."""
        def nodes(run: RunTrace, items: list[NodeTrace]) -> Iterable[tuple[RunTrace, NodeTrace]]:
            for n in items:
                yield run, n
                yield from nodes(run, n.items)
                if n.child_run is not None:
                    yield from n.child_run.walk()
        yield from nodes(self, self.nodes)


# ------------------------------------------------------------------------------- building


def plan_nodes(store, plan_hash: str) -> list[dict[str, Any]]:
    """The plan's nodes as plain dicts (id, kind, position, span, deps, control, config), in
    execution order; [] when the plan is not in the store or unreadable."""
    try:
        raw = json.loads(store.get_plan(plan_hash))
    except (KeyError, LookupError, ValueError, TypeError):
        return []
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    if not isinstance(nodes, list):
        return []
    good = [n for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)]
    return sorted(good, key=lambda n: n.get("position", 0))


def _calls_flow(plan_node: dict[str, Any] | None) -> bool:
    if plan_node is None:
        return True   # no plan: look for a sub-run anyway
    if plan_node.get("kind") == "flow":
        return True
    body = (plan_node.get("config") or {}).get("body") or {}
    return plan_node.get("kind") == "for_each" and body.get("kind") == "flow"


def _model_call(c, full: bool) -> ModelCallTrace:
    return ModelCallTrace(
        seq=c.seq, attempt=c.attempt, purpose=c.purpose, provider=c.provider, alias=c.alias,
        model=c.model, prompt_tokens=int(c.prompt_tokens or 0),
        completion_tokens=int(c.completion_tokens or 0), cost=float(c.cost or 0.0),
        started_at=c.started_at, finished_at=c.finished_at, error=c.error,
        request=c.request if full else None, response=c.response if full else None)


def _num(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return kind(0)
    return kind(value)


def expand_requests(calls: list) -> list:
    """Model-call records with every request whole: the engine keeps a call that continues
    its node's previous call as the messages it adds (`continues`: how many came before)."""
    whole: dict[tuple, list] = {}
    for c in sorted(calls, key=lambda c: (c.node_id, c.item, c.attempt, c.seq)):
        request = c.request
        cont = request.get("continues") if isinstance(request, dict) else None
        if cont:
            before = whole.get((c.node_id, c.item, c.attempt, cont.get("seq")), [])
            request = {k: v for k, v in request.items() if k != "continues"}
            request["messages"] = before[:cont.get("messages", 0)] + list(
                request.get("messages") or [])
            c.request = request
        if isinstance(request, dict):
            whole[(c.node_id, c.item, c.attempt, c.seq)] = request.get("messages") or []
    return calls


def plan_inputs(plan_node: dict[str, Any] | None, run_inputs: Any,
                outputs: dict[str, Any]) -> dict[str, Any] | None:
    """What a node read, from the plan's deps: run inputs by value, other nodes' results
    (without their memory part); None for a node the plan does not know."""
    if plan_node is None:
        return None
    got: dict[str, Any] = {}
    for dep in plan_node.get("deps") or []:
        name = dep.get("name")
        if dep.get("kind") == "input":
            got[name] = (run_inputs or {}).get(name)
        else:
            got[name] = {"$output": name} if name in outputs else None
    return got


def resolve_inputs(inputs: Any, outputs: dict[str, Any]) -> Any:
    """A node's recorded inputs with each `{"$output": NODE}` (the engine records what a node
    reads from another node by reference: that output is recorded once, with that node)
    replaced by the output, its memory part left out."""
    if not isinstance(inputs, dict):
        return inputs
    out = {}
    for name, value in inputs.items():
        if isinstance(value, dict) and set(value) == {"$output"}:
            value = outputs.get(value["$output"])
            if isinstance(value, dict) and "memory" in value:
                value = {k: v for k, v in value.items() if k != "memory"}
        out[name] = value
    return out


def call_figures(calls: list) -> dict[str, Any]:
    """A model node's figures as its calls give them (records with tokens, cost, alias,
    provider and model; the last call names the model): the trace sums them, and a node
    does not store them again (see `Engine._commit`)."""
    last = calls[-1]
    return {"model": last.alias, "calls": len(calls),
            "prompt_tokens": sum(c.prompt_tokens for c in calls),
            "completion_tokens": sum(c.completion_tokens for c in calls),
            "cost": sum(c.cost for c in calls), "provider": last.provider,
            "provider_model": last.model}


def _node(record, plan_node: dict[str, Any] | None, calls: list[ModelCallTrace]) -> NodeTrace:
    metrics = record.metrics if isinstance(record.metrics, dict) else None
    node = NodeTrace(
        id=record.node_id, item=record.item,
        kind=plan_node.get("kind") if plan_node else None,
        line=((plan_node or {}).get("span") or {}).get("line"),
        status=record.status, outcome=record.outcome, error=record.error,
        attempts=record.attempt, started_at=record.started_at,
        finished_at=record.finished_at, inputs=record.inputs, output=record.output,
        metrics=metrics, model_calls=calls)
    if metrics:
        node.model = metrics.get("model")
        node.provider = metrics.get("provider")
        node.provider_model = metrics.get("provider_model")
    if calls:
        f = call_figures(calls)
        node.prompt_tokens, node.completion_tokens = f["prompt_tokens"], f["completion_tokens"]
        node.cost, node.calls = f["cost"], f["calls"]
        node.model = node.model or f["model"]
        node.provider = node.provider or f["provider"]
        node.provider_model = node.provider_model or f["provider_model"]
    elif metrics:
        node.prompt_tokens = _num(metrics.get("prompt_tokens"), int)
        node.completion_tokens = _num(metrics.get("completion_tokens"), int)
        node.cost = _num(metrics.get("cost"), float)
        node.calls = _num(metrics.get("calls"), int)
    return node


def build_trace(store, run_id: str, *, full: bool = True, _depth: int = 0) -> RunTrace:
    """The trace of one run and its sub-runs. `full=False` leaves out the model calls'
    request and response bodies (smaller, for rendering). Raises `TraceError` for an unknown
    run."""
    run = store.get_run(run_id)
    if run is None:
        raise TraceError(f"no run `{run_id}`")
    trace = RunTrace(
        id=run.id, flow=run.flow_name, plan_hash=run.plan_hash, status=run.status,
        inputs=run.inputs, outputs=run.outputs, error=run.error,
        parent_run_id=run.parent_run_id, parent_node_id=run.parent_node_id,
        started_at=run.created_at, updated_at=run.updated_at,
        finished_at=run.updated_at if run.terminal else None)
    plan = plan_nodes(store, run.plan_hash)
    by_id = {n["id"]: n for n in plan}
    calls: dict[tuple[str, int], list[ModelCallTrace]] = {}
    for c in expand_requests(store.model_calls(run.id)) if full else store.model_calls(run.id):
        calls.setdefault((c.node_id, c.item), []).append(_model_call(c, full))
    for lst in calls.values():
        lst.sort(key=lambda c: (c.attempt, c.seq))

    tops: dict[str, NodeTrace] = {}
    items: dict[str, list[NodeTrace]] = {}
    records = store.node_results(run.id)
    outputs = {r.node_id: r.output for r in records if r.item < 0}
    for rec in records:
        node = _node(rec, by_id.get(rec.node_id), calls.pop((rec.node_id, rec.item), []))
        if node.inputs is None and rec.attempt > 0:  # the engine records reads by the plan
            node.inputs = plan_inputs(by_id.get(rec.node_id), run.inputs, outputs)
        node.inputs = resolve_inputs(node.inputs, outputs)
        if rec.item < 0:
            tops[rec.node_id] = node
        else:
            items.setdefault(rec.node_id, []).append(node)
    # model calls whose node row is gone (should not happen) still count: an orphan row each
    for (node_id, item), lst in calls.items():
        orphan = NodeTrace(id=node_id, item=item, kind=(by_id.get(node_id) or {}).get("kind"),
                           line=None, status="running", model_calls=lst,
                           started_at=lst[0].started_at, finished_at=None)
        orphan.prompt_tokens = sum(c.prompt_tokens for c in lst)
        orphan.completion_tokens = sum(c.completion_tokens for c in lst)
        orphan.cost = sum(c.cost for c in lst)
        orphan.calls = len(lst)
        orphan.model, orphan.provider, orphan.provider_model = \
            lst[-1].alias, lst[-1].provider, lst[-1].model
        (tops.setdefault(node_id, orphan) if item < 0 else
         items.setdefault(node_id, []).append(orphan))

    order = [n["id"] for n in plan]
    order += sorted((i for i in {*tops, *items} if i not in by_id),
                    key=lambda i: (tops[i].started_at or 0) if i in tops else 0)
    for node_id in order:
        node = tops.get(node_id)
        children = sorted(items.get(node_id, []), key=lambda n: n.item)
        if node is None and not children:
            pn = by_id.get(node_id) or {}
            node = NodeTrace(id=node_id, item=-1, kind=pn.get("kind"),
                             line=(pn.get("span") or {}).get("line"), status=NOT_RUN)
        elif node is None:   # items recorded, the loop's own row not yet
            first = min((c.started_at for c in children if c.started_at is not None),
                        default=None)
            pn = by_id.get(node_id) or {}
            node = NodeTrace(id=node_id, item=-1, kind=pn.get("kind"),
                             line=(pn.get("span") or {}).get("line"), status="running",
                             attempts=1, started_at=first)
        node.items = children
        if _depth < _MAX_DEPTH and _calls_flow(by_id.get(node_id)):
            for target in ([node] if not children else children):
                child = _child_run(store, run.id, node_id, target.item)
                if child is not None and child.id != run.id:
                    target.child_run = build_trace(store, child.id, full=full,
                                                   _depth=_depth + 1)
        trace.nodes.append(node)
    trace.totals = _totals(trace)
    return trace


def _child_run(store, run_id: str, node_id: str, item: int):
    """The sub-run a flow call started: the engine names the caller `NODE#ITEM`."""
    return store.child_run(run_id, f"{node_id}#{item}") or (
        store.child_run(run_id, node_id) if item < 0 else None)


def _totals(trace: RunTrace) -> Totals:
    totals = Totals()

    def add(nodes: list[NodeTrace]) -> None:
        for n in nodes:
            if n.status != NOT_RUN:
                totals.add_node(n)
            totals.add_figures(n.calls, n.prompt_tokens, n.completion_tokens, n.cost)
            add(n.items)
            if n.child_run is not None:
                totals.merge(n.child_run.totals)

    add(trace.nodes)
    return totals


# ---------------------------------------------------------------------------------- export


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _call_dict(c: ModelCallTrace) -> dict[str, Any]:
    return {"seq": c.seq, "attempt": c.attempt, "purpose": c.purpose, "provider": c.provider,
            "alias": c.alias, "model": c.model, "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "cost": c.cost,
            "started_at": c.started_at, "finished_at": c.finished_at, "latency": _r(c.latency),
            "error": c.error, "request": c.request, "response": c.response}


def _node_dict(n: NodeTrace) -> dict[str, Any]:
    return {"id": n.id, "item": n.item, "kind": n.kind, "line": n.line, "status": n.status,
            "outcome": n.outcome, "error": n.error, "attempts": n.attempts,
            "started_at": n.started_at, "finished_at": n.finished_at, "latency": _r(n.latency),
            "inputs": n.inputs, "output": n.output, "model": n.model, "provider": n.provider,
            "provider_model": n.provider_model, "prompt_tokens": n.prompt_tokens,
            "completion_tokens": n.completion_tokens, "cost": round(n.cost, 9), "calls": n.calls,
            "metrics": n.metrics, "model_calls": [_call_dict(c) for c in n.model_calls],
            "items": [_node_dict(i) for i in n.items],
            "child_run": None if n.child_run is None else _run_dict(n.child_run)}


def _totals_dict(t: Totals) -> dict[str, Any]:
    return {"nodes": t.nodes, "statuses": dict(sorted(t.statuses.items())),
            "model_calls": t.model_calls, "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens, "cost": round(t.cost, 9)}


def _run_dict(r: RunTrace) -> dict[str, Any]:
    return {"id": r.id, "flow": r.flow, "plan_hash": r.plan_hash, "status": r.status,
            "inputs": r.inputs, "outputs": r.outputs, "error": r.error,
            "parent_run_id": r.parent_run_id, "parent_node_id": r.parent_node_id,
            "started_at": r.started_at, "finished_at": r.finished_at,
            "updated_at": r.updated_at, "latency": _r(r.latency),
            "totals": _totals_dict(r.totals), "nodes": [_node_dict(n) for n in r.nodes]}


def trace_to_dict(trace: RunTrace) -> dict[str, Any]:
    """The JSON-ready form: `{"format": "flowc.trace/1", "run": {...}}`."""
    return {"format": TRACE_FORMAT, "run": _run_dict(trace)}


def trace_to_json(trace: RunTrace, indent: int | None = 2) -> str:
    return json.dumps(trace_to_dict(trace), indent=indent, ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------- rendering

_GLYPHS = {
    "succeeded": ("✔", "green"), "failed": ("✘", "bold red"), "skipped": ("○", "dim"),
    "waiting": ("⏸", "yellow"), "running": ("▶", "cyan"), NOT_RUN: ("·", "dim"),
    "paused": ("⏸", "yellow"), "queued": ("·", "dim"), "cancelled": ("⊘", "magenta"),
}


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 120:
        return f"{s:.2f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def fmt_cost(c: float) -> str:
    return f"${c:.4f}" if c < 100 else f"${c:,.2f}"


def _short(value: Any, full: bool, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str,
                      indent=2 if full else None)
    if full or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _figures(tokens_in: int, tokens_out: int, cost: float, calls: int = 0) -> str:
    if not (tokens_in or tokens_out or cost or calls):
        return ""
    return f" · {tokens_in:,}+{tokens_out:,} tok · {fmt_cost(cost)}"


def render_tree(trace: RunTrace, *, full: bool = False):
    """A rich `Tree` of the run: status glyph, latency, tokens and cost on every line; inputs
    and outputs on one truncated line each (all of them, pretty-printed, with `full`)."""
    from rich.markup import escape
    from rich.text import Text
    from rich.tree import Tree

    def head(status: str, name: str, kind: str | None, latency: float | None) -> Text:
        glyph, style = _GLYPHS.get(status, ("?", ""))
        t = Text()
        t.append(f"{glyph} ", style=style)
        t.append(name, style="bold")
        if kind:
            t.append(f" ({kind})", style="dim")
        t.append(f" {status}", style=style)
        if latency is not None:
            t.append(f" {fmt_seconds(latency)}")
        return t

    def run_label(r: RunTrace) -> Text:
        t = head(r.status, f"run {r.id}", r.flow, r.latency)
        tt = r.totals
        t.append(f" · {_plural(tt.nodes, 'node')}")
        if tt.model_calls or tt.cost:
            t.append(f" · {_plural(tt.model_calls, 'model call')}"
                     + _figures(tt.prompt_tokens, tt.completion_tokens, tt.cost))
        return t

    def add_value(branch, name: str, value: Any) -> None:
        if value is None:
            return
        text = _short(value, full)
        branch.add(Text.from_markup(f"[dim]{name}:[/dim] {escape(text)}"))

    def add_node(parent, n: NodeTrace) -> None:
        label = head(n.status, n.label, n.kind, n.latency)
        if n.outcome and n.outcome != n.status:
            label.append(f" → {n.outcome}", style="italic")
        if n.attempts > 1:
            label.append(f" · attempt {n.attempts}", style="yellow")
        label.append(_figures(n.prompt_tokens, n.completion_tokens, n.cost, n.calls))
        if n.model:
            label.append(f" · {n.model}" + (f" ({n.provider}/{n.provider_model})"
                                            if n.provider_model else ""), style="blue")
        branch = parent.add(label)
        if n.error:
            branch.add(Text(f"error: {n.error}", style="red"))
        if n.status != NOT_RUN:
            add_value(branch, "in", n.inputs)
            add_value(branch, "out", n.output)
        attempts = sorted({c.attempt for c in n.model_calls})
        for a in attempts:
            holder = branch.add(Text(f"attempt {a}", style="yellow")) \
                if len(attempts) > 1 else branch
            for c in n.model_calls:
                if c.attempt != a:
                    continue
                glyph, style = _GLYPHS["failed" if c.error else "succeeded"]
                t = Text()
                t.append(f"{glyph} ", style=style)
                t.append(f"{c.purpose} #{c.seq} ", style="bold")
                t.append(f"{c.provider}/{c.model} {fmt_seconds(c.latency)}"
                         f" · {c.prompt_tokens:,}+{c.completion_tokens:,} tok"
                         f" · {fmt_cost(c.cost)}")
                leaf = holder.add(t)
                if c.error:
                    leaf.add(Text(f"error: {c.error}", style="red"))
                if full:
                    add_value(leaf, "request", c.request)
                    add_value(leaf, "response", c.response)
        for i in n.items:
            add_node(branch, i)
        if n.child_run is not None:
            add_run(branch, n.child_run)

    def add_run(parent, r: RunTrace):
        branch = parent.add(run_label(r)) if parent is not None else Tree(run_label(r))
        if r.error:
            branch.add(Text(f"error: {r.error}", style="red"))
        if full or r.parent_run_id is None:
            add_value(branch, "inputs", r.inputs)
        for n in r.nodes:
            add_node(branch, n)
        if r.outputs is not None:
            add_value(branch, "outputs", r.outputs)
        return branch

    return add_run(None, trace)
