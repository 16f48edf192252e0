"""Figures for the stats page: per node and per model, over a time range, from the store's
node results and model calls: latency percentiles and a histogram, calls, tokens and cost."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

__all__ = ["figures"]

BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, math.inf]
MAX_RUNS = 2000


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


def figures(store, since: float, until: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    runs = [r for r in store.list_runs(limit=MAX_RUNS) if since <= r.created_at <= until]
    for run in runs:
        for n in store.node_results(run.id):
            if n.finished_at is not None and n.started_at is not None and \
                    n.status in ("succeeded", "failed"):
                latencies[f"{run.flow_name}.{n.node_id}"].append(n.finished_at - n.started_at)
    models: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    node_cost: dict[str, float] = defaultdict(float)
    for c in store.model_calls(since=since, until=until):
        m = models[f"{c.alias} ({c.model})"]
        m["calls"] += 1
        m["tokens"] += c.prompt_tokens + c.completion_tokens
        m["cost"] += c.cost
        m["seconds"] += max(0.0, c.finished_at - c.started_at)
        node_cost[c.node_id] += c.cost
    nodes = []
    for name, values in sorted(latencies.items()):
        hist = [0] * len(BUCKETS)
        for v in values:
            hist[next(i for i, b in enumerate(BUCKETS) if v <= b)] += 1
        nodes.append({"node": name, "count": len(values), "p50": _pct(values, 0.5),
                      "p95": _pct(values, 0.95), "max": max(values), "histogram": hist,
                      "cost": node_cost.get(name.split(".", 1)[1], 0.0)})
    return {"since": since, "until": until, "runs": len(runs), "nodes": nodes,
            "buckets": ["≤" + (f"{b * 1000:.0f} ms" if b < 1 else f"{b:g} s")
                        if b != math.inf else "more" for b in BUCKETS],
            "models": [{"model": k, **{f: round(v, 6) for f, v in m.items()}}
                       for k, m in sorted(models.items())]}
