"""`flowc report`: one self-contained HTML page about a run or a flow, for people who would
rather look than read.

    from flowc.runtime.report import build_report
    html, title = build_report(store, "01J...RUN")     # or a flow's name
    Path("report.html").write_text(html)

The page has the flow's graph (nodes and edges from the plan, coloured by status), the
latency distribution of every node (for a flow: over its recent runs; for a run: over the
recent runs of its flow, with this run's figure marked), the cost by node and by model, and a
table of the runs. Everything is inline: SVG and CSS generated here, no script, no font, no
image, no link to anything outside the file; a Content-Security-Policy meta tag forbids the
browser to fetch anything at all.
"""

from __future__ import annotations

import html as _html
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flowc.runtime.trace import (
    NOT_RUN,
    NodeTrace,
    RunTrace,
    build_trace,
    fmt_cost,
    fmt_seconds,
    plan_nodes,
)

__all__ = ["ReportError", "STATUS_COLORS", "build_report", "render_report"]

STATUS_COLORS = {
    "succeeded": "#2e9d5b", "failed": "#d64545", "skipped": "#a0a7b1", "waiting": "#e0a526",
    "running": "#3b82c4", NOT_RUN: "#d9dde3", "paused": "#e0a526", "queued": "#d9dde3",
    "cancelled": "#9b59b6",
}
_PALETTE = ["#3b82c4", "#e07b39", "#2e9d5b", "#9b59b6", "#d64545", "#17a2b8", "#b8860b",
            "#6c757d"]
_FIND_RUNS = 100_000   # how far back the store is searched for a flow's runs


class ReportError(LookupError):
    """Nothing in the store to report on (the message says what was looked for)."""


def esc(value: Any) -> str:
    return _html.escape(str(value), quote=True)


# ------------------------------------------------------------------------------------ data


@dataclass
class ReportData:
    title: str
    flow: str
    focus: RunTrace | None                     # the run reported on (None: the whole flow)
    runs: list[RunTrace]                       # recent runs of the flow, newest first
    graph_run: RunTrace                        # whose statuses colour the graph
    plan: list[dict[str, Any]]
    latencies: dict[str, list[float]] = field(default_factory=dict)
    cost_by_node: dict[str, list[float]] = field(default_factory=dict)   # [cost, tokens, calls]
    cost_by_model: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)


def _flow_runs(store, flow: str, limit: int) -> list:
    runs = [r for r in store.list_runs(limit=_FIND_RUNS) if r.flow_name == flow]
    return runs[:limit]


def _latency_key(n: NodeTrace) -> str:
    return n.id if n.item < 0 else f"{n.id}[…]"


def collect(store, target: str, *, limit: int = 200) -> ReportData:
    """Gather the traces a report needs. `target`: a run id, else a flow name."""
    run = store.get_run(target)
    if run is not None:
        history = _flow_runs(store, run.flow_name, limit)
        if all(r.id != run.id for r in history):
            history = [run, *history[: max(0, limit - 1)]]
        focus_id, flow = run.id, run.flow_name
    else:
        history = _flow_runs(store, target, limit)
        if not history:
            raise ReportError(f"no run or flow `{target}` in the store (see `flowc runs`)")
        focus_id, flow = None, target
    traces = [build_trace(store, r.id, full=False) for r in history]
    focus = next((t for t in traces if t.id == focus_id), None)
    graph_run = focus or traces[0]
    data = ReportData(
        title=(f"run {focus.id} of {flow}" if focus else f"flow {flow}"), flow=flow,
        focus=focus, runs=traces, graph_run=graph_run,
        plan=plan_nodes(store, graph_run.plan_hash))
    for t in traces:
        for n in t.nodes:
            counts = data.statuses.setdefault(n.id, {})
            counts[n.status] = counts.get(n.status, 0) + 1
            for m in [n, *n.items]:
                if m.latency is not None and m.status in ("succeeded", "failed"):
                    data.latencies.setdefault(_latency_key(m), []).append(m.latency)
    for t in ([focus] if focus else traces):
        for r, n in t.walk():
            if not n.calls and not n.cost:
                continue
            name = n.id if r.flow == flow and r.parent_run_id == t.parent_run_id \
                else f"{r.flow}.{n.id}"
            acc = data.cost_by_node.setdefault(name, [0.0, 0, 0])
            acc[0] += n.cost
            acc[1] += n.prompt_tokens + n.completion_tokens
            acc[2] += n.calls
            for c in n.model_calls:
                key = f"{c.provider}/{c.model}"
                acc = data.cost_by_model.setdefault(key, [0.0, 0, 0])
                acc[0] += c.cost
                acc[1] += c.prompt_tokens + c.completion_tokens
                acc[2] += 1
            if not n.model_calls and n.model:   # figures from the node's metrics only
                key = f"{n.provider or '?'}/{n.provider_model or n.model}"
                acc = data.cost_by_model.setdefault(key, [0.0, 0, 0])
                acc[0] += n.cost
                acc[1] += n.prompt_tokens + n.completion_tokens
                acc[2] += n.calls
    return data


def build_report(store, target: str, *, limit: int = 200) -> tuple[str, str]:
    """The HTML page and its title for a run id or a flow name (`limit`: how many of the
    flow's recent runs make the history). Raises `ReportError` when neither is found."""
    data = collect(store, target, limit=limit)
    return render_report(data), data.title


# ----------------------------------------------------------------------------------- graph


def _layers(plan: list[dict[str, Any]]) -> tuple[dict[str, int], list[tuple[str, str, bool]]]:
    ids = [n["id"] for n in plan]
    known = set(ids)
    edges: list[tuple[str, str, bool]] = []
    for n in plan:
        seen = set()
        for d in n.get("deps") or []:
            if d.get("kind") == "node" and d.get("name") in known and d["name"] not in seen:
                seen.add(d["name"])
                edges.append((d["name"], n["id"], False))
        for c in n.get("control") or []:
            src = c.get("node")
            if src in known and src not in seen:
                seen.add(src)
                edges.append((src, n["id"], True))
            elif src in known:   # a data edge that is also a condition: draw it dashed
                edges = [(a, b, dashed or (a == src and b == n["id"]))
                         for a, b, dashed in edges]
    layer = dict.fromkeys(ids, 0)
    for _ in range(len(ids)):   # longest path; plans are acyclic, the bound guards bad data
        changed = False
        for a, b, _d in edges:
            if layer[b] < layer[a] + 1:
                layer[b] = layer[a] + 1
                changed = True
        if not changed:
            break
    return layer, edges


def graph_svg(data: ReportData) -> str:
    plan = data.plan
    if not plan:
        return '<p class="note">The plan of this flow is not in the store: no graph.</p>'
    layer, edges = _layers(plan)
    rows: dict[int, list[str]] = {}
    for n in plan:
        rows.setdefault(layer[n["id"]], []).append(n["id"])
    bw, bh, gx, gy, pad = 168, 46, 28, 54, 16
    widest = max(len(r) for r in rows.values())
    width = max(widest * (bw + gx) - gx + 2 * pad + 160, 320)   # room for bowed edges
    height = len(rows) * (bh + gy) - gy + 2 * pad
    pos: dict[str, tuple[float, float]] = {}
    for depth, members in sorted(rows.items()):
        span = len(members) * (bw + gx) - gx
        x0 = (width - span) / 2
        for i, nid in enumerate(members):
            pos[nid] = (x0 + i * (bw + gx), pad + depth * (bh + gy))
    kinds = {n["id"]: n.get("kind", "") for n in plan}
    nodes = {n.id: n for n in data.graph_run.nodes}
    out = [f'<svg class="graph" role="img" aria-label="flow graph" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#7b8794"/></marker></defs>']
    for a, b, dashed in edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1, x2, y2 = ax + bw / 2, ay + bh, bx + bw / 2, by
        mid = (y1 + y2) / 2
        span = layer[b] - layer[a]
        # an edge that skips layers bows out sideways instead of crossing the boxes between
        bow = 0.0 if span <= 1 else (bw / 2 + 8 + 6 * span) * (1 if x2 >= x1 else -1)
        c1 = f"{x1 + bow:.1f},{y1 + (y2 - y1) * 0.25:.1f}" if bow else f"{x1:.1f},{mid:.1f}"
        c2 = f"{x2 + bow:.1f},{y1 + (y2 - y1) * 0.75:.1f}" if bow else f"{x2:.1f},{mid:.1f}"
        out.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{c1} '
                   f'{c2} {x2:.1f},{y2 - 2:.1f}" fill="none" stroke="#7b8794" '
                   f'stroke-width="1.4"{" stroke-dasharray=\"5 4\"" if dashed else ""} '
                   'marker-end="url(#arrow)"/>')
    for n in plan:
        nid = n["id"]
        x, y = pos[nid]
        tr = nodes.get(nid)
        status = tr.status if tr else NOT_RUN
        color = STATUS_COLORS.get(status, "#d9dde3")
        dark = status in ("succeeded", "failed", "running", "cancelled")
        fg = "#ffffff" if dark else "#1f2933"
        counts = data.statuses.get(nid, {})
        tip = f"{nid} ({kinds[nid]}): {status}"
        if tr is not None and tr.latency is not None:
            tip += f", {fmt_seconds(tr.latency)}"
        if tr is not None and tr.cost:
            tip += f", {fmt_cost(tr.cost)}"
        if data.focus is None and counts:
            tip += " — over the runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        sub = kinds[nid]
        if tr is not None and tr.latency is not None:
            sub += f" · {fmt_seconds(tr.latency)}"
        out.append(
            f'<g class="node" data-node="{esc(nid)}" data-status="{esc(status)}">'
            f'<title>{esc(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw}" height="{bh}" rx="8" fill="{color}" '
            f'stroke="#52606d" stroke-width="1"/>'
            f'<text x="{x + bw / 2:.1f}" y="{y + 19:.1f}" text-anchor="middle" fill="{fg}" '
            f'class="nid">{esc(_clip(nid, 22))}</text>'
            f'<text x="{x + bw / 2:.1f}" y="{y + 36:.1f}" text-anchor="middle" fill="{fg}" '
            f'class="sub">{esc(_clip(sub, 28))}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------------------------- charts


def _scale(lo: float, hi: float, x0: float, x1: float) -> tuple[Any, list[tuple[float, str]]]:
    """A position function and ticks: logarithmic when the values span more than 20x."""
    lo, hi = max(lo, 1e-4), max(hi, 1e-4)
    if hi / lo > 20:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if a == b:
            b += 1

        def f(v: float) -> float:
            return x0 + (math.log10(max(v, 1e-4)) - a) / (b - a) * (x1 - x0)
        nice = [0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 36000, 86400, 864000]
        ticks = [(f(v), _tick(v)) for v in nice if 10.0 ** a <= v <= 10.0 ** b]
        return f, ticks
    top = _nice(hi * 1.05)
    step = top / 5

    def g(v: float) -> float:
        return x0 + v / top * (x1 - x0)
    return g, [(g(step * k), _tick(step * k)) for k in range(6)]


def _tick(s: float) -> str:
    if s == 0:
        return "0"
    if s < 1:
        return f"{s * 1000:.3g}ms"
    if s < 60:
        return f"{s:.3g}s"
    if s < 3600:
        return f"{s / 60:.3g}m"
    return f"{s / 3600:.3g}h"


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= v:
            return m * e
    return 10 * e  # pragma: no cover


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * q
    f = math.floor(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def latency_svg(data: ReportData) -> str:
    order = [n["id"] for n in data.plan]
    keys = [k for k in order if k in data.latencies]
    keys += [f"{k}[…]" for k in order if f"{k}[…]" in data.latencies]
    keys += sorted(k for k in data.latencies if k not in keys)
    if not keys:
        return '<p class="note">No node has finished yet: no latencies.</p>'
    focus: dict[str, list[float]] = {}
    if data.focus is not None:
        for n in data.focus.nodes:
            for m in [n, *n.items]:
                if m.latency is not None and m.status in ("succeeded", "failed"):
                    focus.setdefault(_latency_key(m), []).append(m.latency)
    values = [v for k in keys for v in data.latencies[k]]
    label_w, chart_w, row_h, top = 150, 560, 30, 14
    width, height = label_w + chart_w + 90, top + len(keys) * row_h + 34
    x0, x1 = label_w, label_w + chart_w
    f, ticks = _scale(min(values), max(values), x0, x1)
    out = [f'<svg class="chart latency" role="img" aria-label="latency per node" '
           f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}">']
    axis_y = top + len(keys) * row_h + 4
    for tx, tl in ticks:
        out.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{axis_y}" '
                   'stroke="#e4e7eb"/>'
                   f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" '
                   f'class="tick">{esc(tl)}</text>')
    for i, k in enumerate(keys):
        xs = sorted(data.latencies[k])
        cy = top + i * row_h + row_h / 2
        lo, q1, med, q3, hi = (xs[0], _quantile(xs, 0.25), statistics.median(xs),
                               _quantile(xs, 0.75), xs[-1])
        tip = (f"{k}: {len(xs)} executions; min {fmt_seconds(lo)}, median {fmt_seconds(med)}, "
               f"p75 {fmt_seconds(q3)}, max {fmt_seconds(hi)}")
        out.append(f'<g class="dist" data-node="{esc(k)}"><title>{esc(tip)}</title>'
                   f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end" '
                   f'class="label">{esc(_clip(k, 22))}</text>'
                   f'<line x1="{f(lo):.1f}" y1="{cy:.1f}" x2="{f(hi):.1f}" y2="{cy:.1f}" '
                   'stroke="#7b8794"/>'
                   f'<rect class="box" x="{f(q1):.1f}" y="{cy - 8:.1f}" '
                   f'width="{max(f(q3) - f(q1), 1.5):.1f}" height="16" fill="#9ec5e8" '
                   'stroke="#3b82c4"/>'
                   f'<line x1="{f(med):.1f}" y1="{cy - 9:.1f}" x2="{f(med):.1f}" '
                   f'y2="{cy + 9:.1f}" stroke="#1f2933" stroke-width="2"/>')
        for v in xs[:400]:
            out.append(f'<circle cx="{f(v):.1f}" cy="{cy:.1f}" r="2.2" fill="#1f2933" '
                       'fill-opacity="0.35"/>')
        for v in focus.get(k, []):
            fx = f(v)
            out.append(f'<path class="this-run" d="M{fx:.1f},{cy - 7:.1f} L{fx + 6:.1f},'
                       f'{cy:.1f} L{fx:.1f},{cy + 7:.1f} L{fx - 6:.1f},{cy:.1f} z" '
                       'fill="#d64545" stroke="#ffffff"/>')
        out.append(f'<text x="{x1 + 8}" y="{cy + 4:.1f}" class="tick">'
                   f'{esc(fmt_seconds(med))} (n={len(xs)})</text></g>')
    out.append("</svg>")
    return "".join(out)


def bars_svg(rows: dict[str, list[float]], what: str) -> str:
    if not rows:
        return f'<p class="note">No model calls: nothing to break down by {esc(what)}.</p>'
    items = sorted(rows.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    label_w, chart_w, row_h = 190, 420, 26
    width, height = label_w + chart_w + 190, len(items) * row_h + 10
    top = max(v[0] for _, v in items) or 1.0
    out = [f'<svg class="chart bars" role="img" aria-label="cost by {esc(what)}" '
           f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}">']
    for i, (name, (cost, tokens, calls)) in enumerate(items):
        y = 5 + i * row_h
        w = max(cost / top * chart_w, 1.5)
        color = _PALETTE[i % len(_PALETTE)]
        tip = f"{name}: {fmt_cost(cost)}, {int(tokens):,} tokens, {int(calls):,} calls"
        out.append(f'<g class="bar" data-key="{esc(name)}"><title>{esc(tip)}</title>'
                   f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" class="label">'
                   f'{esc(_clip(name, 28))}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                   f'rx="3" fill="{color}"/>'
                   f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" class="tick">'
                   f'{esc(fmt_cost(cost))} · {int(tokens):,} tok · {int(calls):,} calls'
                   '</text></g>')
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------------------------ page

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;
margin:0;background:#f5f7fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{font-size:11px}.nid{font-size:13px;font-weight:600}
.meta{color:#52606d;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:18px}.card span{color:#52606d;font-size:12px}
section{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:12px 16px;
margin-top:16px;overflow-x:auto}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:4px;
vertical-align:-1px}
.label{font-size:12px;fill:#1f2933}.tick{font-size:11px;fill:#52606d}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600}.note{color:#52606d}.focus td{background:#fff7e6}
code{font-size:12px}
"""


def _legend(statuses: Iterable[str]) -> str:
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{STATUS_COLORS[s]}"></i>{esc(s.replace("_", " "))}</span>'
        for s in statuses) + "</p>"


def _cards(data: ReportData) -> str:
    runs = [data.focus] if data.focus else data.runs
    cost = sum(r.totals.cost for r in runs)
    tokens = sum(r.totals.prompt_tokens + r.totals.completion_tokens for r in runs)
    calls = sum(r.totals.model_calls for r in runs)
    done = [r.latency for r in data.runs if r.latency is not None]
    ok = sum(1 for r in data.runs if r.status == "succeeded")
    finished = sum(1 for r in data.runs if r.status in ("succeeded", "failed", "cancelled"))
    cards = []
    if data.focus:
        f = data.focus
        cards += [(f.status, "status"), (fmt_seconds(f.latency), "latency"),
                  (f"{f.totals.nodes}", "node executions")]
    cards += [(fmt_cost(cost), "cost" + ("" if data.focus else f" of {len(runs)} runs")),
              (f"{tokens:,}", "tokens"), (f"{calls:,}", "model calls"),
              (f"{len(data.runs)}", "runs of the flow"),
              (f"{ok}/{finished}" if finished else "—", "succeeded / finished"),
              (fmt_seconds(statistics.median(done)) if done else "—", "median run latency")]
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in cards) \
        + "</div>"


def _runs_table(data: ReportData) -> str:
    rows = []
    for r in data.runs[:50]:
        cls = ' class="focus"' if data.focus and r.id == data.focus.id else ""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.started_at))
        rows.append(
            f'<tr{cls}><td><code>{esc(r.id)}</code></td><td>{esc(when)}</td>'
            f'<td class="status" style="color:{STATUS_COLORS.get(r.status, "#1f2933")}">'
            f'{esc(r.status)}</td><td class="num">{esc(fmt_seconds(r.latency))}</td>'
            f'<td class="num">{r.totals.model_calls:,}</td>'
            f'<td class="num">{r.totals.prompt_tokens + r.totals.completion_tokens:,}</td>'
            f'<td class="num">{esc(fmt_cost(r.totals.cost))}</td>'
            f'<td>{esc(_clip(r.error or "", 80))}</td></tr>')
    more = (f'<p class="note">… and {len(data.runs) - 50} older runs.</p>'
            if len(data.runs) > 50 else "")
    return ('<table><thead><tr><th>run</th><th>started (UTC)</th><th>status</th>'
            '<th class="num">latency</th><th class="num">calls</th><th class="num">tokens</th>'
            '<th class="num">cost</th><th>error</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>" + more)


def render_report(data: ReportData) -> str:
    """The page for gathered data (see `collect`)."""
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if data.focus:
        runs = "run" if len(data.runs) == 1 else f"{len(data.runs)} runs"
        scope = (f"Latency: every node of the last {runs} of {data.flow}; "
                 "◆ marks this run. Cost: this run, its sub-runs included.")
        graph_note = "Coloured by this run's node statuses."
    else:
        runs = "run" if len(data.runs) == 1 else f"{len(data.runs)} runs"
        scope = (f"Latency and cost over the last {runs} of {data.flow} "
                 "(sub-runs included in cost).")
        graph_note = ("Coloured by the latest run's node statuses; hover a node for the "
                      "counts over all runs.")
    legend = _legend(["succeeded", "failed", "waiting", "running", "skipped", NOT_RUN])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>flowc report: {esc(data.title)}</title>
<style>{_CSS}</style></head>
<body><main>
<h1>{esc(data.title)}</h1>
<p class="meta">flowc report · generated {esc(generated)} · {esc(scope)}</p>
{_cards(data)}
<section id="graph"><h2>Graph</h2><p class="note">{esc(graph_note)} Dashed edges are
conditions (a `match` or an outcome).</p>{legend}{graph_svg(data)}</section>
<section id="latency"><h2>Latency per node</h2><p class="note">Box: 25th to 75th percentile,
bar: median, whiskers: min to max, dots: executions (for-each items as <code>node[…]</code>).
</p>{latency_svg(data)}</section>
<section id="cost-node"><h2>Cost by node</h2>{bars_svg(data.cost_by_node, "node")}</section>
<section id="cost-model"><h2>Cost by model</h2>{bars_svg(data.cost_by_model, "model")}</section>
<section id="runs"><h2>Runs</h2>{_runs_table(data)}</section>
</main></body></html>
"""
