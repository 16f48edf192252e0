"""`flowc run`, `runs`, `inbox`, `show`, `resume`, `worker`, `cancel`, `audit`, `people`.

Commands that extend runs' audit trails (`run`, `replay`, `resume`, `worker`, `cancel`)
append the new heads to the audit anchor when one is set (`--anchor URL`, else flowc.toml's
`[audit] anchor`); `audit verify` checks against it.

Thin commands over the engine and the store. Every bad input (unknown id, bad value, wrong
user, a decided task) is one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from flowc.cli_store import _anchor, _ignore_default_store, _name, _people_path, _roles, _store  # noqa: F401
from flowc.errors import CommandError

__all__ = ["add_runtime_commands"]


def _models(args, base_dir: Path | None, replay=None, live_nodes=None):
    """The model providers for a command: flowc.toml's models, recorded to or replayed from
    a file when asked (`--record FILE`, `--replay FILE`)."""
    from flowc.config import ConfigError, load_config
    from flowc.runtime.models.base import ModelError
    from flowc.runtime.models.router import Models

    record = getattr(args, "record", None)
    replay = replay if replay is not None else getattr(args, "replay", None)
    if isinstance(replay, str) and not Path(replay).is_file():
        raise CommandError(f"--replay: `{replay}` " + (
            "is not a file" if Path(replay).exists() else "does not exist"))
    try:
        return Models(load_config(base_dir or Path.cwd()), record=record, replay=replay,
                      live_nodes=live_nodes)
    except (ConfigError, ModelError, OSError, ValueError) as e:
        raise CommandError(str(e)) from e


def _engine(args, store, base_dir: Path | None = None, models=None):
    from flowc.runtime.engine import Engine

    workspace = args.workspace if getattr(args, "workspace", None) else None
    if workspace is None:
        from flowc.cli_store import _local_dir

        workspace = str((_local_dir(args) / "workspace").resolve())
    if models is None:
        models = _models(args, base_dir)
    return Engine(store, workspace=workspace, base_dir=str(base_dir) if base_dir else None,
                  models=models, on_error=_one_line)


def _anchor_heads(args, store, base_dir: Path | None = None) -> None:
    """Append the heads of the runs this command's writes extended to the anchor. A failure
    is said in one line: what was committed stays committed."""
    from flowc.runtime.audit import AnchorError

    anchor = _anchor(args, base_dir)
    touched = store.touched_runs()
    if anchor is None or not touched:
        return
    try:
        anchor.record(store, touched)
    except AnchorError as e:
        print(f"flowc: warning: {e}; the runs are stored, their heads are not anchored until "
              "the next command that extends them", file=sys.stderr)


def _one_line(run_id: str, message: str) -> None:
    """A run stopped on an unexpected error (recorded on the run as failed): one line."""
    print(f"flowc: {message}", file=sys.stderr, flush=True)


def _telemetry(store, run, base_dir: Path | None) -> None:
    """Export the run's spans when flowc.toml's [telemetry] asks for it (off by default); a
    console export goes to stderr, so stdout keeps the run's report."""
    from flowc.config import ConfigError, load_config
    from flowc.runtime.otel import OtelError, export_run, telemetry_from_config

    try:
        settings = telemetry_from_config(load_config(base_dir or Path.cwd()))
    except ConfigError as e:
        print(f"flowc: telemetry is off: {e}", file=sys.stderr)
        return
    if not settings.enabled:
        return
    try:
        export_run(store, run.id, exporter=settings.exporter, endpoint=settings.endpoint,
                   headers=settings.headers, timeout=settings.timeout,
                   service_name=settings.service_name, stream=sys.stderr)
    except OtelError as e:  # telemetry never fails a run: the run is stored, say what failed
        print(f"flowc: telemetry export failed: {e}", file=sys.stderr)


def _load_plan(path: str):
    from flowc.compiler.plan import Plan

    p = Path(path)
    if not p.is_file():
        from flowc.errors import missing_path

        raise CommandError(missing_path(path))
    if p.suffix == ".flow":
        from flowc.compiler.api import compile_file
        from flowc.compiler.render import render_text

        result = compile_file(p)
        if result.plan is None:
            sys.stderr.write(render_text(result.diagnostics.sorted()))
            errors = sum(d.severity == "error" for d in result.diagnostics.items)
            raise CommandError(f"not run: {path} has {errors} error(s), shown above (fix them; "
                               f"`flowc check {path}` checks again)", 1)
        return result.plan
    try:
        return Plan.model_validate_json(p.read_text())
    except ValueError as e:
        raise CommandError(f"`{path}` is neither a .flow file nor a plan ({_plan_problem(e)}); "
                           "`flowc compile FLOW -o PLAN` writes a plan") from e


def _plan_problem(e: ValueError) -> str:
    """The first thing wrong with a file read as a plan, in a few words."""
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "the file"
        if first.get("type") == "json_invalid":
            return f"not JSON: {first.get('msg', '')}"
        return f"`{where}`: {first.get('msg', 'does not fit')}"
    return str(e).splitlines()[0]


def _typed_value(text: str, schema: dict, option: str, name: str, what: str,
                 example_name: str, max_bytes: int | None):
    """One value typed on the command line, in its type and checked against it; a value
    that does not fit is one line naming the option, the name and the expected type, with
    an example (exit 2: nothing was attempted)."""
    from flowc.runtime.validate import (
        apply_defaults,
        coerce_text,
        example_text,
        field_problem,
        schema_errors,
    )

    example = f"(for example: {option} {example_name}{example_text(schema)})"
    try:
        value = coerce_text(text, schema, max_bytes)
    except ValueError as e:
        raise CommandError(f"{option}: {what} {e} {example}") from e
    problem = field_problem(value, max_bytes)  # as the engine will check it
    if problem:
        raise CommandError(f"{option}: {what} {problem}")
    problems = schema_errors(apply_defaults(value, schema), schema, name)
    if problems:
        raise CommandError(f"{option}: {problems[0]} {example}")
    return value


def _max_field_bytes(base_dir: Path | None) -> int:
    """flowc.toml's `[values] max_field_kb` for a flow in `base_dir`, in bytes."""
    from flowc.config import ConfigError, load_config

    try:
        return load_config(base_dir or Path.cwd()).max_field_bytes
    except ConfigError as e:
        raise CommandError(str(e)) from e


def _parse_pairs(pairs: list[str], schemas: dict, option: str, what: str,
                 max_bytes: int | None) -> dict:
    """`NAME=VALUE` pairs typed by their schemas; one clear line for the first bad one."""
    from flowc.compiler.suggest import did_you_mean

    noun = "input" if what == "flow" else "field"
    names = ", ".join(f"`{n}`" for n in schemas) or "none"
    out = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise CommandError(f"{option} takes NAME=VALUE, not `{pair}` (the {what}'s "
                               f"{noun}s: {names})")
        if name not in schemas:
            hint = did_you_mean(name, list(schemas))
            raise CommandError(f"{option}: the {what} has no {noun} `{name}` "
                               f"({hint + ' ' if hint else ''}its {noun}s: {names})")
        out[name] = _typed_value(text, schemas[name], option, name, f"{noun} `{name}`",
                                 f"{name}=", max_bytes)
    return out


def _parse_inputs(pairs: list[str], plan, max_bytes: int) -> dict:
    return _parse_pairs(pairs, {s.name: s.schema_ for s in plan.inputs}, "--input", "flow",
                        max_bytes)


def _require_inputs(values: dict, plan) -> None:
    """Every required input given: else one line with an example `--input` for each."""
    from flowc.runtime.validate import example_text

    missing = [s for s in plan.inputs
               if s.name not in values and s.required and s.default is None]
    if missing:
        raise CommandError("missing " + ", ".join(
            f"--input {s.name}={example_text(s.schema_)}" for s in missing)
            + f" (the flow's input{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"`{s.name}`" for s in missing) + " must be given)")


def _pending_tasks(store, run) -> list:
    """The run's pending tasks, and those of its sub-flow runs (a flow call pauses on them)."""
    tasks = store.list_tasks(status="pending", run_id=run.id, limit=None)
    if tasks:
        return tasks
    out = []
    for task in store.list_tasks(status="pending", limit=None):
        r = store.get_run(task.run_id)
        while r is not None and r.parent_run_id and r.id != run.id:
            r = store.get_run(r.parent_run_id)
        if r is not None and r.id == run.id:
            out.append(task)
    return out


def _report_run(run, store) -> int:
    print(f"run {run.id}: {run.status}")
    if run.status == "paused":
        for task in _pending_tasks(store, run):
            print(f"  waiting for task {task.id} ({task.kind} `{task.node_id}`): "
                  f"{_shown(task.title)}")
            for line in _task_message(task).splitlines():
                print(f"  | {_shown(line)}")
            print(f"  show it:   flowc show {task.id}")
            if task.kind == "gate":
                print(f"  decide it: flowc resume {task.id} --approve --as USER")
            else:
                print(f"  answer it: flowc resume {task.id} --answer VALUE --as USER")
    elif run.status == "succeeded":
        print(json.dumps(run.outputs, indent=2, ensure_ascii=False))
    elif run.status == "failed":
        print(f"  error: {_shown(run.error or '')}")
    return 0 if run.status != "failed" else 1


def cmd_run(args) -> int:
    from flowc.runtime.engine import RunRefused

    plan = _load_plan(args.file)
    base_dir = Path(args.file).resolve().parent
    inputs = _parse_inputs(args.input, plan, _max_field_bytes(base_dir)) if args.input else {}
    store = _store(args)
    try:
        with _engine(args, store, base_dir) as engine:
            _require_inputs(inputs, plan)  # after the options (store, models, recording)
            if args.engine == "temporal":
                from flowc.temporal_cli import start_on_temporal

                run = start_on_temporal(args, engine, plan, inputs, store)
            else:
                run = engine.start(plan, inputs)
    except RunRefused as e:
        raise CommandError(f"not run: {e}", 1) from e
    _anchor_heads(args, store, base_dir)
    _telemetry(store, run, base_dir)
    return _report_run(run, store)


def cmd_replay(args) -> int:
    from flowc.runtime.engine import RunRefused

    store = _store(args)
    old = store.get_run(args.run)
    if old is None:
        raise CommandError(f"no run `{args.run}` (see `flowc runs`)")
    base_dir = Path(old.base_dir) if old.base_dir else None
    from flowc.runtime.engine import Engine

    try:
        start, rerun = Engine.replay_scope(store, old, args.from_node)
    except RunRefused as e:
        raise CommandError(str(e)) from e
    recorded = args.replay or store.model_calls(old.id)
    models = _models(args, base_dir, replay=recorded, live_nodes=rerun if args.live else None)
    print(f"replaying run {old.id} from `{start}` ({len(rerun)} node(s) run again, model calls "
          f"{'live from there' if args.live else 'from the recording'})")
    try:
        with _engine(args, store, base_dir, models=models) as engine:
            run = engine.replay(old.id, start)
    except RunRefused as e:
        raise CommandError(f"not replayed: {e}", 1) from e
    _anchor_heads(args, store, base_dir)
    _telemetry(store, run, base_dir)
    return _report_run(run, store)


def cmd_runs(args) -> int:
    store = _store(args)
    runs = store.list_runs(status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps([{"id": r.id, "flow": r.flow_name, "status": r.status,
                           "created_at": r.created_at, "error": r.error} for r in runs], indent=2))
        return 0
    for r in runs:
        print(f"{r.id}  {r.status:<9}  {r.flow_name}"
              + (f"  ({_shown(r.error)})" if r.error else ""))
    if not runs:
        print("no runs")
    return 0


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) + " UTC"


def _duration(seconds: float) -> str:
    """`8h`, `1d12h`, `90s`: a step's delay as a flow would write it."""
    left, out = round(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0s"


def _escalations_json(t) -> list[dict]:
    return [{"step": i, "after": s["after"], "due": s["at"], "to": s["to"],
             "fired_at": s.get("fired_at")} for i, s in enumerate(t.escalations, 1)]


def _inbox_page(args) -> tuple[int, int | None]:
    """(offset, limit) of the page `flowc inbox` shows; limit None: every task."""
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    if args.page is not None and args.page < 1:
        raise CommandError("--page counts from 1")
    if args.all:
        if args.page is not None:
            raise CommandError("--all shows every task: leave out --page")
        return 0, None
    return ((args.page or 1) - 1) * args.limit, args.limit


def _inbox_footer(args, shown: int, offset: int, total: int, what: str) -> str:
    """`showing 1-100 of 10003 pending tasks (next: --page 2; everything: --all)`."""
    if total == 0:
        return f"no {what}"
    if shown == 0:
        pages = -(-total // args.limit)
        return f"page {args.page} is past the end: {total} {what}, {pages} page" + \
            ("s" if pages > 1 else "")
    if shown == total:
        return f"showing all {total} {what}" if total > 1 else f"showing the one {what}"
    line = f"showing {offset + 1}-{offset + shown} of {total} {what}"
    if offset + shown < total:
        line += f" (next: --page {(args.page or 1) + 1}; everything: --all)"
    return line


def cmd_inbox(args) -> int:
    from flowc.runtime.engine import describe_people

    offset, limit = _inbox_page(args)
    store = _store(args)
    person = {"for_user": args.for_user, "roles": _roles(args, args.for_user)} \
        if args.for_user else {}
    filters = dict(flow=args.flow, assigned_role=args.role, **person)
    total = store.count_tasks(status="pending", **filters)
    tasks = store.list_tasks(status="pending", limit=limit, offset=offset, **filters)
    what = "pending tasks" if total != 1 else "pending task"
    if args.for_user:
        what += f" {args.for_user} may decide"
    if args.role:
        what += f" for role {args.role}"
    if args.flow:
        what += f" of flow `{args.flow}`"
    footer = _inbox_footer(args, len(tasks), offset, total, what)
    if args.json:
        flows: dict[str, str | None] = {}
        for t in tasks:
            if t.run_id not in flows:
                run = store.get_run(t.run_id)
                flows[t.run_id] = run.flow_name if run else None
        print(json.dumps([{"id": t.id, "run": t.run_id, "flow": flows[t.run_id],
                           "node": t.node_id, "kind": t.kind,
                           "for": t.assignees, "title": t.title,
                           "message": _task_message(t) or None, "deadline": t.deadline,
                           "escalated": t.escalated > 0, "next_escalation": t.next_escalation,
                           "escalations": _escalations_json(t)}
                          for t in tasks], indent=2))
        if len(tasks) < total:  # the list is not all of them: say so where people look
            print(f"flowc: {footer}", file=sys.stderr)
        return 0
    for t in tasks:
        who = describe_people(t.assignees)
        due = _utc(t.deadline) if t.deadline else "no deadline"
        print(f"{t.id}  {t.kind:<4}  for {who:<22} due {due}  {_shown(t.title)}")
        message = " ".join(_task_message(t).split())
        if message:
            print(f"{'':12}{_shown(message if len(message) <= 100 else message[:99] + '…')}")
        for i, s in enumerate(t.fired_escalations, 1):
            print(f"{'':12}escalated to {describe_people(s['to'])} at {_utc(s['fired_at'])}"
                  f" (step {i}, {_duration(s['after'])} after it opened)")
    print(footer)
    return 0


def _shown(text: str) -> str:
    """Text from a run (a title, a message, an error) as the terminal gets it: control
    characters (a NUL, an escape sequence) drawn as visible symbols."""
    from flowc.compiler.render import visible

    return visible(text)


def _task_message(t) -> str:
    """A gate's `message:` as rendered when it opened ("" when it has none)."""
    message = t.form.get("message") if isinstance(t.form, dict) else None
    return message if isinstance(message, str) else ""


def _task(store, task_id: str):
    task = store.get_task(task_id)
    if task is None:
        raise CommandError(f"no task `{task_id}` (see `flowc inbox`)")
    return task


def cmd_show(args) -> int:
    from flowc.runtime.engine import describe_people
    from flowc.runtime.validate import describe_schema

    store = _store(args)
    t = _task(store, args.task)
    print(f"task {t.id}: {t.kind} `{t.node_id}` of run {t.run_id} ({t.status})")
    print(f"  {_shown(t.title)}")
    for line in _task_message(t).splitlines():
        print(f"  | {_shown(line)}")
    print(f"  for: {describe_people(t.assignees)}")
    if t.deadline:
        print(f"  due: {_utc(t.deadline)}, then {t.timeout_outcome}")
    for i, s in enumerate(t.escalations, 1):
        who, after = describe_people(s["to"]), _duration(s["after"])
        if s.get("fired_at") is not None:
            print(f"  escalated to {who} at {_utc(s['fired_at'])} (step {i}, {after} after "
                  "it opened)")
        elif t.status == "pending":
            print(f"  escalates to {who} at {_utc(s['at'])} (step {i}, {after} after it "
                  "opened)")
    labels = t.form.get("show_labels") or []
    for i, value in enumerate(t.show):
        label = labels[i] if i < len(labels) else f"shown[{i}]"
        print(f"  {label}: {json.dumps(value, ensure_ascii=False)}")
    if t.kind == "gate":
        values = t.form.get("values", {})
        for f in t.form.get("fields", []):
            print(f"  field {f['name']}: {describe_schema(f['schema'])} = "
                  f"{json.dumps(values.get(f['name']), ensure_ascii=False)}")
        print(f"  actions: {', '.join(t.form.get('actions', []))}")
    else:
        print(f"  answer: {describe_schema(t.form.get('schema', {}))}")
    if t.status != "pending":
        print(f"  decided by {t.decided_by}: {json.dumps(t.decision, ensure_ascii=False)}")
    return 0


def cmd_resume(args) -> int:
    from flowc.runtime.decisions import DecisionRefused

    _name(args.as_user, "--as")
    store = _store(args)
    task = _task(store, args.task)
    actions = [a for a in ("approve", "reject") if getattr(args, a)]
    if args.edit:
        actions.append("edit")
    if task.kind == "gate":
        if args.answer is not None:
            raise CommandError(f"task `{task.id}` is a gate: decide it with --approve, "
                               "--edit FIELD=VALUE... or --reject (--answer is for `ask human`)")
        if len(actions) != 1:
            given = ", ".join(f"--{a}" for a in actions) or "none"
            raise CommandError(f"task `{task.id}` is a gate: say exactly one of --approve, "
                               f"--edit FIELD=VALUE..., --reject (given: {given}; its actions: "
                               f"{', '.join(task.form.get('actions', []))})")
    if task.kind == "ask" and (args.answer is None or actions):
        from flowc.runtime.validate import describe_schema, example_text

        schema = task.form.get("schema", {})
        raise CommandError(f"task `{task.id}` asks for a value ({describe_schema(schema)}): "
                           f"answer it with --answer VALUE, for example --answer "
                           f"{example_text(schema)}")
    run = store.get_run(task.run_id)
    base_dir = Path(run.base_dir) if run and run.base_dir else None
    max_bytes = _max_field_bytes(base_dir) if args.edit or args.answer is not None else None
    values, answer = {}, None
    if task.kind == "gate":
        fields = {f["name"]: f["schema"] for f in task.form.get("fields", [])}
        values = _parse_pairs(args.edit or [], fields, "--edit", "form", max_bytes)
    else:
        answer = _typed_value(args.answer, task.form.get("schema", {}), "--answer", "answer",
                              "the answer", "", max_bytes)
    t0 = time.perf_counter()
    bound = store.run_engine(task.run_id)
    try:
        if bound is not None:  # Temporal orchestrates the run: the decision is an update
            from flowc.temporal_cli import decide_on_temporal, settle_after_decision

            decide_on_temporal(args, bound, task, action=actions[0] if actions else "answer",
                               by=args.as_user, roles=_roles(args, args.as_user),
                               values=values, reason=args.reason or "", answer=answer)
            run = settle_after_decision(store, task.run_id, bound["task_queue"])
        else:
            with _engine(args, store, base_dir) as engine:
                run = engine.decide(
                    task.id, action=actions[0] if actions else "answer", by=args.as_user,
                    roles=_roles(args, args.as_user), values=values, reason=args.reason or "",
                    answer=answer)
    except DecisionRefused as e:
        hint = ""
        if "may not decide" in str(e):
            hint = (f" (roles are recorded with `flowc people {args.as_user} ROLE...`; "
                    f"`flowc show {task.id}` says who may decide)")
        raise CommandError(f"refused: {e}{hint}", 1) from e
    _anchor_heads(args, store, base_dir)
    if args.verbose:
        print(f"resumed in {(time.perf_counter() - t0) * 1000:.1f} ms", file=sys.stderr)
    _telemetry(store, run, base_dir)
    return _report_run(run, store)


def _worker_service(args):
    """`flowc worker --project DIR` (or with --smtp / --webhook) also fires the schedules of
    DIR's flows and sends notifications and run webhooks, as `flowc serve` does."""
    if not (args.project or args.smtp or args.webhook):
        return None
    try:
        import croniter  # noqa: F401
        import itsdangerous  # noqa: F401
    except ImportError:
        raise CommandError("schedules and notifications need the serve extra: pip install "
                           "'flowc[serve]' (or scripts/bootstrap.sh serve)") from None
    from flowc.serve_cli import open_service, service_config

    if args.project is None:
        args.project = "."
    config = service_config(args, base_url=args.base_url, worker=False)
    config.label = "flowc worker"
    service = open_service(config)
    for p in service.catalog.problems:
        print(f"flowc worker: {p}", file=sys.stderr)
    for entry in service.catalog.entries.values():
        if entry.plan is None:  # `flowc check` shows why
            print(f"flowc worker: {entry.path} has errors: its schedules do not fire "
                  f"(`flowc check {entry.path}`)", file=sys.stderr)
    return service


def cmd_worker(args) -> int:
    store = _store(args)
    if args.engine == "temporal":
        if args.project or args.smtp or args.webhook or args.once:
            raise CommandError("--engine temporal takes no --once, --project, --smtp or "
                               "--webhook (run `flowc serve` or an embedded worker for those)")
        if args.threads is not None:
            raise CommandError("--engine temporal takes no --threads: activities run at once "
                               "up to --concurrency")
        from flowc.temporal_cli import worker_on_temporal

        with _engine(args, store) as engine:
            return worker_on_temporal(args, engine)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    from flowc.errors import EXIT_STORE, store_problem
    from flowc.runtime.engine import describe_people

    service = _worker_service(args)
    from flowc.serve_cli import run_threads

    threads = run_threads(args)
    with _engine(args, store) as engine:
        engine.run_threads = threads
        while True:
            if service is not None:  # schedules first: a tick's run is advanced in this pass
                for f in service.scheduler.run_once() if service.scheduler else ():
                    if f.status == "started":
                        print(f"scheduled: run {f.run_id} of {f.flow}", flush=True)
            # one run's failure is recorded on that run (failed, with the error) and printed
            # in one line; the worker goes on with the others, and with the next pass
            code = 0
            try:
                fired = engine.fire_due()
                resumed = engine.resume_interrupted()
            except Exception as e:  # the pass itself (e.g. the store) failed: say so, go on
                line = store_problem(e)
                if line is not None:  # the store cannot serve: --once ends with it (exit 4)
                    if args.once:
                        raise
                    print(f"flowc: store error: {' '.join(line.split())}", file=sys.stderr,
                          flush=True)
                    code = EXIT_STORE
                else:
                    text = " ".join(f"{type(e).__name__}: {e}".split())[:500]
                    print(f"flowc: worker pass failed: {text}", file=sys.stderr, flush=True)
                    code = 1
                fired, resumed = None, []
            _anchor_heads(args, store)
            if fired is not None:
                for task_id in fired.timed_out:
                    print(f"timed out: task {task_id}")
                for e in fired.escalated:
                    print(f"escalated: task {e.task} (step {e.step}) to "
                          f"{describe_people(e.to)}")
            for run_id in resumed:
                print(f"resumed run {run_id}", flush=True)
            if service is not None:  # each part reports its own failure and never raises
                service.run_pass(("notify", "webhooks"))
            if args.once or (deadline and time.monotonic() >= deadline):
                return code
            time.sleep(args.interval)


def cmd_cancel(args) -> int:
    _name(args.as_user, "--as")
    store = _store(args)
    run = store.get_run(args.run)
    if run is None:
        raise CommandError(f"no run `{args.run}` (see `flowc runs`)")
    bound = store.run_engine(run.id)
    if run.status == "cancelled" and bound is not None:
        # cancelled here already: its workflow is told again (the first signal may not
        # have reached it)
        from flowc.temporal_cli import wake_workflow

        if wake_workflow(args, bound):
            print(f"run {run.id}: already cancelled; its workflow was told again")
            return 0
        return 1
    if run.status in ("succeeded", "failed", "cancelled"):
        raise CommandError(f"run `{args.run}` already {run.status}", 1)
    from flowc.runtime.engine import cancel_run
    from flowc.runtime.store import StatusConflict

    try:  # the run, its sub-flow runs, their tasks and events: one commit
        cancel_run(store, run.id, args.as_user)
    except StatusConflict:  # it ended meanwhile
        raise CommandError(f"run `{args.run}` already {store.get_run(run.id).status}",
                           1) from None
    _anchor_heads(args, store, Path(run.base_dir) if run.base_dir else None)
    if bound is not None:  # its workflow ends once it sees the cancellation
        from flowc.temporal_cli import wake_workflow

        wake_workflow(args, bound)
    print(f"run {run.id}: cancelled")
    return 0


def _print_verification(what: str, check) -> int:
    if check.ok:
        print(f"audit trail of {what}: {check.events} events, intact (the chain and the data "
              "it commits to)")
    else:
        print(f"audit trail of {what}: {len(check.problems)} problem(s)")
        for p in check.problems:
            print(f"audit trail broken: {p}")
    for note in check.notes:
        print(f"note: {note}")
    return 0 if check.ok else 1


def _verify_file(args, path: Path) -> int:
    from flowc.runtime.audit import AnchorError, ExportError, verify_export

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CommandError(f"{path}: not a flowc audit export ({' '.join(str(e).split())})") \
            from e
    try:
        check = verify_export(doc, anchor=_anchor(args))
    except ExportError as e:
        raise CommandError(f"{path}: {e}") from e
    except AnchorError as e:
        raise CommandError(str(e)) from e
    return _print_verification(f"run {doc['run']['id']} in {path}", check)


def _export(args, store, run_id: str) -> int:
    import os

    from flowc.runtime.audit import export_run, verify_evidence

    if not args.output:
        raise CommandError("audit export needs -o FILE (`-` for standard output)")
    doc = export_run(store, run_id)
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.output)
        if not out.parent.is_dir():
            raise CommandError(f"folder `{out.parent}` does not exist")
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    check = verify_evidence(doc, run_id)
    state = "intact" if check.ok else f"NOT intact, {len(check.problems)} problem(s)"
    print(f"exported run {run_id}: {len(doc['events'])} events, {len(doc['nodes'])} node "
          f"results, {len(doc['tasks'])} tasks to {args.output} (its trail: {state})",
          file=sys.stderr)
    for p in check.problems:
        print(f"audit trail broken: {p}", file=sys.stderr)
    return 0 if check.ok else 1


def cmd_audit(args) -> int:
    """`audit RUN [--verify]`, `audit verify RUN|FILE`, `audit export RUN -o FILE`."""
    from flowc.runtime.audit import AnchorError, verify_run

    words = args.words
    if len(words) == 2 and words[0] in ("verify", "export"):
        action, target = words
    elif len(words) == 1:
        action, target = ("verify" if args.verify else "show"), words[0]
    else:
        raise CommandError("say `flowc audit RUN`, `flowc audit verify RUN|FILE` or "
                           "`flowc audit export RUN -o FILE`")
    if action == "verify" and Path(target).is_file():
        return _verify_file(args, Path(target))
    store = _store(args)
    if store.get_run(target) is None:
        raise CommandError(f"no run `{target}` (see `flowc runs`)")
    if action == "export":
        return _export(args, store, target)
    if action == "verify":
        try:
            check = verify_run(store, target, anchor=_anchor(args))
        except AnchorError as e:
            raise CommandError(str(e)) from e
        return _print_verification(f"run {target}", check)
    events = store.audit_events(target)
    if args.format == "json":
        print(json.dumps([{"seq": e.seq, "ts": e.ts, "kind": e.kind, "actor": e.actor,
                           "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash}
                          for e in events], indent=2, ensure_ascii=False))
    else:
        for e in events:
            print(f"{e.seq:>4}  {e.kind:<16} {e.actor or '-':<12} {json.dumps(e.payload)[:120]}")
    return 0


def _store_optional(args) -> bool:
    """Whether `flowc people` may leave the store alone (no store there yet: people.json is
    enough for the CLI; `flowc serve` takes its people into the store when it starts)."""
    from flowc.runtime.store import default_store_path

    where = str(args.store or default_store_path())
    if "://" in where and not where.startswith("sqlite:"):
        return False  # a database server: it is there to be written to
    return not Path(where).exists()


def cmd_people(args) -> int:
    path = _people_path(args)
    people = json.loads(path.read_text()) if path.exists() else {}
    if args.user:
        _name(args.user, "USER")
        for role in args.roles:
            _name(role, "ROLE")
        if args.roles or args.user not in people:
            people[args.user] = sorted(set(args.roles))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(people, indent=2) + "\n")
        if args.email is not None or args.password_stdin or not _store_optional(args):
            # the store keeps people too (roles, e-mail, password): what `flowc serve` reads
            from flowc.server.auth import record_person

            password = None
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            try:
                record_person(_store(args), args.user, people[args.user], email=args.email,
                              password=password)
            except ValueError as e:
                raise CommandError(str(e)) from None
    for user, roles in sorted(people.items()):
        print(f"{user}: {', '.join(roles) or '-'}")
    return 0


_VALUES_HELP = """\
values (--input NAME=VALUE, --edit FIELD=VALUE, --answer VALUE), by the declared type:
  str                  the text as typed:            --input title="Week 12"
  int, float           a number:                     --input limit=500 --input rate=0.25
  bool                 true/false (or yes/no, 1/0):  --input urgent=true
  enum                 one of its variants:          --edit status=hold
  file, file<csv>      @PATH (or an fsspec URL):     --input sheet=@data/q3.csv
  record, list, map    JSON:                         --input 'order={"id": "A-17", "amount": 80.0}'
  T? (optional)        null for no value:            --input note=null
  @PATH for any other type takes the value from that file: the text of a str
  (--input contract=@data/contract.txt), JSON for a record or list (--input order=@order.json);
  inside JSON, "@PATH" where a file goes is that file. @@ starts a text that begins with @.

exit codes: 0 done (a run that ends or waits for a person); 1 refused or failed (a flow with
errors, a failed run, a decision not yours to make or already made); 2 what was typed cannot
be used (an unknown option, task, run, input or field, or a value that does not fit its type:
nothing was attempted); 3 a bug in flowc.
"""


def _positive(kind):
    """An argparse type: a number above zero, one clear line otherwise."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"`{text}` is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def add_runtime_commands(sub, parser_class) -> None:
    def store_opt(sp):
        sp.add_argument("--store", metavar="PATH",
                        help="the run store (default: $FLOWC_STORE or ./.flowc/runs.db)")

    def anchor_opt(sp):
        sp.add_argument("--anchor", metavar="URL",
                        help="the audit anchor: a file or fsspec URL run heads are appended to "
                        "(default: flowc.toml's [audit] anchor)")

    def model_opts(sp):
        group = sp.add_mutually_exclusive_group()
        group.add_argument("--record", metavar="FILE",
                           help="keep every model exchange in FILE (JSON lines)")
        group.add_argument("--replay", metavar="FILE",
                           help="serve model calls from a recording instead of the providers")

    sp = sub.add_parser("run", help="run a flow (or a compiled plan)",
                        description="Run a flow (or a compiled plan) until it ends or waits "
                        "for a person.", epilog=_VALUES_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("file", metavar="FILE|PLAN")
    sp.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                    help="one input of the flow (repeat for each); VALUE as below")
    sp.add_argument("--workspace", metavar="URL", help="fsspec folder for the run's files")
    model_opts(sp)
    anchor_opt(sp)
    store_opt(sp)
    from flowc.temporal_cli import temporal_options

    temporal_options(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("replay", help="re-run a run from a node with its recorded inputs "
                        "and model outputs")
    sp.add_argument("run", metavar="RUN")
    sp.add_argument("--from", dest="from_node", metavar="NODE",
                    help="the node to run again, and everything after it (default: the node "
                    "that failed)")
    sp.add_argument("--live", action="store_true",
                    help="model calls from that node on go to the real provider")
    sp.add_argument("--replay", metavar="FILE",
                    help="serve model calls from this recording instead of the run's own")
    sp.add_argument("--record", metavar="FILE", help="keep the replay's model exchanges in FILE")
    sp.add_argument("--workspace", metavar="URL")
    anchor_opt(sp)
    store_opt(sp)
    sp.set_defaults(func=cmd_replay)

    sp = sub.add_parser("runs", help="list runs")
    sp.add_argument("--status", choices=("queued", "running", "paused", "succeeded", "failed",
                                         "cancelled"))
    sp.add_argument("--limit", type=_positive(int), default=50)
    sp.add_argument("--json", action="store_true")
    store_opt(sp)
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("inbox", help="pending human tasks, oldest first, a page at a time")
    sp.add_argument("--limit", type=int, default=100, metavar="N", help="tasks per page "
                    "(default 100)")
    sp.add_argument("--page", type=int, metavar="P", help="the page to show (from 1)")
    sp.add_argument("--all", action="store_true", help="every pending task, not one page")
    sp.add_argument("--for", dest="for_user", metavar="USER", help="only tasks USER may "
                    "decide: named for them, for a role they hold (flowc people), or for anyone")
    sp.add_argument("--role", metavar="ROLE", help="only tasks assigned to role ROLE")
    sp.add_argument("--flow", metavar="NAME", help="only tasks of runs of flow NAME")
    sp.add_argument("--json", action="store_true", help="a JSON list (when it is not every "
                    "task, stderr says how many there are)")
    store_opt(sp)
    sp.set_defaults(func=cmd_inbox)

    sp = sub.add_parser("show", help="a task's context and form")
    sp.add_argument("task", metavar="TASK")
    store_opt(sp)
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("resume", help="decide a task and continue its run",
                        description="Decide a gate (--approve, --edit, --reject) or answer a "
                        "question (--answer), then continue the run.", epilog=_VALUES_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("task", metavar="TASK")
    sp.add_argument("--approve", action="store_true")
    sp.add_argument("--edit", action="append", metavar="FIELD=VALUE",
                    help="change a field of the gate's form and decide `edit` (repeat for "
                    "each field); VALUE as below")
    sp.add_argument("--reject", action="store_true")
    sp.add_argument("--reason", metavar="TEXT")
    sp.add_argument("--temporal", metavar="HOST:PORT", help="for a run on Temporal: its "
                    "frontend (default: $FLOWC_TEMPORAL, else where the run was started)")
    sp.add_argument("--answer", metavar="VALUE", help="the value an `ask human` task asks "
                    "for; VALUE as below")
    sp.add_argument("--as", dest="as_user", required=True, metavar="USER")
    sp.add_argument("--workspace", metavar="URL")
    sp.add_argument("-v", "--verbose", action="store_true")
    model_opts(sp)
    anchor_opt(sp)
    store_opt(sp)
    sp.set_defaults(func=cmd_resume)

    sp = sub.add_parser("worker", help="fire due gate timeouts and escalations, resume "
                        "interrupted runs (--engine temporal: run Temporal's workflows)")
    sp.add_argument("--once", action="store_true")
    sp.add_argument("--seconds", type=_positive(float), help="stop after this long")
    sp.add_argument("--interval", type=_positive(float), default=1.0)
    sp.add_argument("--workspace", metavar="URL")
    sp.add_argument("--project", metavar="DIR", help="also fire the `on schedule` triggers of "
                    "this folder's flows (as `flowc serve` does; docs/serve.md)")
    sp.add_argument("--base-url", default="http://127.0.0.1:8080", metavar="URL",
                    help="where `flowc serve` is reached: the links in notifications")
    from flowc.serve_cli import trigger_options

    trigger_options(sp)
    model_opts(sp)
    anchor_opt(sp)
    store_opt(sp)
    temporal_options(sp)
    sp.add_argument("--concurrency", type=_positive(int), default=4, metavar="N",
                    help="with --engine temporal: activities run at once (default 4)")
    sp.set_defaults(func=cmd_worker)

    sp = sub.add_parser("cancel", help="cancel a run")
    sp.add_argument("run", metavar="RUN")
    sp.add_argument("--temporal", metavar="HOST:PORT", help="for a run on Temporal: its "
                    "frontend (default: $FLOWC_TEMPORAL, else where the run was started)")
    sp.add_argument("--as", dest="as_user", default="cli", metavar="USER")
    anchor_opt(sp)
    store_opt(sp)
    sp.set_defaults(func=cmd_cancel)

    sp = sub.add_parser(
        "audit", help="a run's audit trail: show it, verify it, export it",
        description="flowc audit RUN [--format json]: the trail. flowc audit verify RUN|FILE: "
        "check the chain and the stored data it commits to (a FILE: an export, offline). "
        "flowc audit export RUN -o FILE: one self-contained file to verify elsewhere.")
    sp.add_argument("words", nargs="+", metavar="RUN | verify RUN|FILE | export RUN")
    sp.add_argument("--verify", action="store_true", help="check the trail (as `audit verify`)")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    sp.add_argument("-o", "--output", metavar="FILE", help="where `audit export` writes")
    anchor_opt(sp)
    store_opt(sp)
    sp.set_defaults(func=cmd_audit)

    sp = sub.add_parser("people", help="who holds which roles (for gate decisions)")
    sp.add_argument("user", nargs="?", metavar="USER")
    sp.add_argument("roles", nargs="*", metavar="ROLE")
    sp.add_argument("--email", help="where review links are sent (flowc serve --smtp)")
    sp.add_argument("--password-stdin", action="store_true",
                    help="read USER's password for `flowc serve` from the first line of stdin")
    store_opt(sp)
    sp.set_defaults(func=cmd_people)
