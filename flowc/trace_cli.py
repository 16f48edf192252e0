"""`flowc trace`, `flowc cost` and `flowc report`: what runs did, how long it took, what it cost.

    flowc trace RUN [--full] [--format text|json] [--export console|otlp [--endpoint URL]]
    flowc cost [--since WHEN] [--until WHEN] [--by flow|node|model] [--format text|json]
    flowc report RUN|FLOW --html FILE [--limit N]

Module-level imports stay light (`flowc check` startup is benchmarked): rich, the store and
OpenTelemetry are imported inside the commands.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

from flowc.errors import CommandError

__all__ = ["add_trace_commands", "parse_when"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WHEN_HELP = ("a date (2026-03-01), a time (2026-03-01T14:30, UTC unless it has a zone) or a "
              "duration back from now (90s, 30m, 12h, 7d, 2w)")


def parse_when(text: str, option: str, *, now: float | None = None,
               end_of_day: bool = False) -> float:
    """Epoch seconds for `--since`/`--until`: an ISO date or time (UTC unless it says
    otherwise) or a duration back from now. A bare date given to `--until` (`end_of_day`)
    means the end of that day, so `--until 2026-03-31` includes the 31st."""
    from datetime import datetime, timedelta, timezone

    value = text.strip().lower()
    now = time.time() if now is None else now
    m = _DURATION.match(value)
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    if value in ("now",):
        return now
    if value in ("today", "yesterday"):
        day = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        if value == "yesterday":
            day -= timedelta(days=1)
        return (day + timedelta(days=1 if end_of_day else 0)).timestamp()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
            return (day + timedelta(days=1 if end_of_day else 0)).timestamp()
        when = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise CommandError(f"{option}: `{text}` is not {_WHEN_HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _store(args):
    from flowc.runtime_cli import _store as open_it

    return open_it(args)


def _use_color() -> bool:
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _console():
    from rich.console import Console

    color = _use_color()
    return Console(file=sys.stdout, color_system="auto" if color else None,
                   no_color=not color, highlight=False, soft_wrap=False,
                   width=None if sys.stdout.isatty() else 160)


# ------------------------------------------------------------------------------------ trace


def cmd_trace(args) -> int:
    from flowc.runtime.trace import TraceError, build_trace, render_tree, trace_to_json

    if args.endpoint and not args.export:
        raise CommandError("--endpoint goes with --export otlp")
    store = _store(args)
    if args.export:
        return _export(args, store)
    try:
        trace = build_trace(store, args.run, full=args.format == "json" or args.full)
    except TraceError as e:
        raise CommandError(f"{e} (see `flowc runs`)") from e
    if args.format == "json":
        sys.stdout.write(trace_to_json(trace) + "\n")
    else:
        _console().print(render_tree(trace, full=args.full))
    return 0


def _export(args, store) -> int:
    from flowc.runtime.otel import OtelError, export_run, telemetry_from_config

    if store.get_run(args.run) is None:
        raise CommandError(f"no run `{args.run}` (see `flowc runs`)")
    endpoint, headers, timeout = args.endpoint, None, 10.0
    if args.export == "otlp":
        from flowc.config import ConfigError, load_config

        try:
            settings = telemetry_from_config(load_config(args.config))
        except (ConfigError, ValueError) as e:
            raise CommandError(str(e)) from e
        endpoint = endpoint or settings.endpoint
        headers, timeout = settings.headers or None, settings.timeout
    try:
        n = export_run(store, args.run, exporter=args.export, endpoint=endpoint,
                       headers=headers, timeout=timeout)
    except OtelError as e:
        raise CommandError(str(e), 1) from e
    where = "the console" if args.export == "console" else (endpoint or "the OTLP default "
                                                            "endpoint")
    print(f"exported {n} spans of run {args.run} to {where}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------- cost


def cmd_cost(args) -> int:
    from flowc.runtime.trace import fmt_cost

    now = time.time()
    since = parse_when(args.since, "--since", now=now) if args.since else None
    until = parse_when(args.until, "--until", now=now, end_of_day=True) if args.until else None
    if since is not None and until is not None and since >= until:
        raise CommandError(f"--since ({_iso(since)}) must come before --until ({_iso(until)})")
    store = _store(args)
    report = cost_report(store, since=since, until=until, by=args.by)
    if args.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    span = (f"from {_iso(since) if since is not None else 'the first call'} "
            f"to {_iso(until) if until is not None else 'now'}")
    rows = report["rows"]
    if not rows:
        print(f"no model calls {span}")
        return 0
    names = [{"flow": lambda r: r["flow"], "node": lambda r: f"{r['flow']}.{r['node']}",
              "model": lambda r: f"{r['provider']}/{r['model']}"}[args.by](r) for r in rows]
    width = max(len(args.by), *(len(n) for n in names), 5)
    print(f"cost by {args.by} {span}")
    print(f"{args.by:<{width}}  {'calls':>7}  {'runs':>5}  {'prompt':>11}  {'completion':>11}"
          f"  {'cost':>11}")
    for name, r in zip(names, rows):
        print(f"{name:<{width}}  {r['calls']:>7,}  {r['runs']:>5,}  {r['prompt_tokens']:>11,}"
              f"  {r['completion_tokens']:>11,}  {fmt_cost(r['cost']):>11}")
    t = report["total"]
    print(f"{'total':<{width}}  {t['calls']:>7,}  {t['runs']:>5,}  {t['prompt_tokens']:>11,}"
          f"  {t['completion_tokens']:>11,}  {fmt_cost(t['cost']):>11}")
    return 0


def _iso(ts: float | None) -> str | None:
    from datetime import datetime, timezone

    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cost_report(store, *, since: float | None = None, until: float | None = None,
                by: str = "flow") -> dict:
    """Cost, tokens and calls of the model calls that started in [since, until), grouped by
    flow, node (flow and node id) or model (provider and provider's model name), the
    costliest first. A sub-run's calls count for the sub-flow."""
    if by not in ("flow", "node", "model"):
        raise ValueError(f"by must be flow, node or model, not {by!r}")
    flows: dict[str, str] = {}
    groups: dict[tuple, dict] = {}
    total = {"calls": 0, "runs": set(), "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    for c in store.model_calls(since=since, until=until):
        if c.run_id not in flows:
            run = store.get_run(c.run_id)
            flows[c.run_id] = run.flow_name if run is not None else "?"
        flow = flows[c.run_id]
        key = {"flow": (flow,), "node": (flow, c.node_id),
               "model": (c.provider, c.model)}[by]
        g = groups.get(key)
        if g is None:
            fields = {"flow": ("flow",), "node": ("flow", "node"),
                      "model": ("provider", "model")}[by]
            g = groups[key] = {**dict(zip(fields, key)), "calls": 0, "runs": set(),
                               "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
            if by == "model":
                g["aliases"] = set()
        if by == "model":
            g["aliases"].add(c.alias)
        for acc in (g, total):
            acc["calls"] += 1
            acc["runs"].add(c.run_id)
            acc["prompt_tokens"] += int(c.prompt_tokens or 0)
            acc["completion_tokens"] += int(c.completion_tokens or 0)
            acc["cost"] += float(c.cost or 0.0)
    rows = []
    for g in groups.values():
        g["runs"] = len(g["runs"])
        if "aliases" in g:
            g["aliases"] = sorted(g["aliases"])
        rows.append(g)
    rows.sort(key=lambda r: (-r["cost"], -r["calls"], [str(r.get(k)) for k in
                                                        ("flow", "node", "provider", "model")]))
    total["runs"] = len(total["runs"])
    return {"since": _iso(since), "until": _iso(until), "by": by, "rows": rows, "total": total}


# ----------------------------------------------------------------------------------- report


def _report_target(target: str) -> str:
    """A `.flow` file given for RUN|FLOW stands for the flow it declares (its name)."""
    from pathlib import Path

    path = Path(target)
    if path.suffix != ".flow":
        return target
    if not path.is_file():
        raise CommandError(f"`{target}` does not exist (give a run id, a flow's name or a "
                           ".flow file)")
    from flowc.compiler.diagnostics import Diagnostics
    from flowc.compiler.parser import parse
    from flowc.compiler.source import Source

    header = parse(Source.from_file(path), Diagnostics()).file.header
    if header is None:
        raise CommandError(f"`{target}` does not start with `flow NAME`: run `flowc check "
                           f"{target}`")
    return header.name.value


def cmd_report(args) -> int:
    from pathlib import Path

    from flowc.runtime.report import ReportError, build_report

    out = Path(args.html)
    if out.is_dir():
        raise CommandError(f"--html {args.html} is a folder: give a file name")
    if not out.parent.exists():
        raise CommandError(f"--html {args.html}: the folder {out.parent} does not exist")
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    store = _store(args)
    target = _report_target(args.target)
    try:
        html, title = build_report(store, target, limit=args.limit)
    except ReportError as e:
        raise CommandError(str(e)) from e
    out.write_text(html, encoding="utf-8")
    print(f"wrote {out} ({title})", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- parsers


def add_trace_commands(sub, parser_class) -> None:
    """Register `trace`, `cost` and `report`."""
    def store_opt(sp):
        sp.add_argument("--store", metavar="PATH",
                        help="the run store (default: $FLOWC_STORE or ./.flowc/runs.db)")

    sp = sub.add_parser("trace", help="a run as a tree: nodes, model calls, latency, tokens, "
                        "cost")
    sp.add_argument("run", metavar="RUN")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    sp.add_argument("--full", action="store_true",
                    help="show inputs, outputs and model exchanges whole")
    sp.add_argument("--export", choices=("console", "otlp"),
                    help="send the run's spans with OpenTelemetry instead of printing the tree")
    sp.add_argument("--endpoint", metavar="URL", help="OTLP/HTTP endpoint (default: "
                    "[telemetry] endpoint in flowc.toml, else $OTEL_EXPORTER_OTLP_ENDPOINT, "
                    "else http://localhost:4318)")
    sp.add_argument("--config", metavar="PATH", default=None,
                    help="where to look for flowc.toml (default: the working directory)")
    store_opt(sp)
    sp.set_defaults(func=cmd_trace)

    sp = sub.add_parser("cost", help="model cost, tokens and calls by flow, node or model")
    sp.add_argument("--since", metavar="WHEN", help=_WHEN_HELP)
    sp.add_argument("--until", metavar="WHEN", help="as --since; a bare date includes that day")
    sp.add_argument("--by", choices=("flow", "node", "model"), default="flow")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    store_opt(sp)
    sp.set_defaults(func=cmd_cost)

    sp = sub.add_parser("report", help="a self-contained HTML page: graph, latency, cost")
    sp.add_argument("target", metavar="RUN|FLOW|FILE.flow",
                    help="a run id, a flow's name, or a .flow file (its flow)")
    sp.add_argument("--html", required=True, metavar="FILE")
    sp.add_argument("--limit", type=int, default=200,
                    help="how many recent runs of the flow to take for history (default 200)")
    store_opt(sp)
    sp.set_defaults(func=cmd_report)
