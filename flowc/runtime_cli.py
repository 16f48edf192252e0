"""`flowc run`, `runs`, `inbox`, `show`, `resume`, `worker`, `cancel`, `audit`, `people`.

Thin commands over the engine and the store. Every bad input (unknown id, bad value, wrong
user, a decided task) is one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from flowc.cli import CommandError

__all__ = ["add_runtime_commands"]


def _ignore_default_store(args) -> None:
    """The default store folder (`./.flowc/`, runs, people and the workspace) gets its own
    `.gitignore` holding `*` when flowc creates it, so a project never commits its runs."""
    import os

    if args.store or os.environ.get("FLOWC_STORE", "").strip():
        return
    folder = Path.cwd() / ".flowc"
    if folder.exists():
        return
    try:
        folder.mkdir()
        (folder / ".gitignore").write_text("# made by flowc: the local run store\n*\n")
    except OSError:
        pass  # opening the store says what is wrong with the folder


def _store(args):
    import sqlite3

    from flowc.runtime.store import StoreError, default_store_path, open_store

    _ignore_default_store(args)
    where = args.store or default_store_path()
    flag = "--store" if args.store else "$FLOWC_STORE" if where != str(
        Path.cwd() / ".flowc" / "runs.db") else "the default store"
    if Path(where).is_dir():
        raise CommandError(f"cannot open the run store: {flag} names `{where}`, a folder; give "
                           f"a file path such as `{Path(where) / 'runs.db'}`")
    try:
        return open_store(args.store)
    except (StoreError, OSError, ValueError, sqlite3.Error) as e:
        raise CommandError(f"cannot open the run store `{where}` ({flag}): {e}") from e


def _people_path(args) -> Path:
    from flowc.runtime.store import default_store_path

    base = Path(args.store) if args.store else Path(default_store_path())
    return base.parent / "people.json"


def _roles(args, user: str) -> tuple[str, ...]:
    path = _people_path(args)
    if not path.exists():
        return ()
    try:
        people = json.loads(path.read_text())
    except ValueError as e:
        raise CommandError(f"{path} is not valid JSON: {e} (fix it, or delete it and record "
                           "roles again with `flowc people USER ROLE...`)") from e
    return tuple(people.get(user, []))


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
        from flowc.runtime.store import default_store_path

        base = Path(args.store) if args.store else Path(default_store_path())
        workspace = str((base.parent / "workspace").resolve())
    if models is None:
        models = _models(args, base_dir)
    return Engine(store, workspace=workspace, base_dir=str(base_dir) if base_dir else None,
                  models=models, on_error=_one_line)


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
        from flowc.cli import missing_path

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
                 example_name: str):
    """One value typed on the command line, in its type and checked against it; a value
    that does not fit is one line naming the option, the name and the expected type, with
    an example (exit 2: nothing was attempted)."""
    from flowc.runtime.validate import (
        apply_defaults,
        coerce_text,
        example_text,
        schema_errors,
        value_problem,
    )

    example = f"(for example: {option} {example_name}{example_text(schema)})"
    try:
        value = coerce_text(text, schema)
    except ValueError as e:
        raise CommandError(f"{option}: {what} {e} {example}") from e
    problem = value_problem(value)
    if problem:
        raise CommandError(f"{option}: {what} cannot be used: {problem}")
    problems = schema_errors(apply_defaults(value, schema), schema, name)
    if problems:
        raise CommandError(f"{option}: {problems[0]} {example}")
    return value


def _parse_pairs(pairs: list[str], schemas: dict, option: str, what: str) -> dict:
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
                                 f"{name}=")
    return out


def _parse_inputs(pairs: list[str], plan) -> dict:
    return _parse_pairs(pairs, {s.name: s.schema_ for s in plan.inputs}, "--input", "flow")


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
    tasks = store.list_tasks(status="pending", run_id=run.id)
    if tasks:
        return tasks
    out = []
    for task in store.list_tasks(status="pending", limit=10000):
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
    inputs = _parse_inputs(args.input, plan)
    store = _store(args)
    base_dir = Path(args.file).resolve().parent
    try:
        with _engine(args, store, base_dir) as engine:
            _require_inputs(inputs, plan)  # after the options (store, models, recording)
            run = engine.start(plan, inputs)
    except RunRefused as e:
        raise CommandError(f"not run: {e}", 1) from e
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


def cmd_inbox(args) -> int:
    from flowc.runtime.engine import describe_people

    store = _store(args)
    tasks = store.list_tasks(status="pending", limit=args.limit)
    if args.json:
        print(json.dumps([{"id": t.id, "run": t.run_id, "node": t.node_id, "kind": t.kind,
                           "for": t.assignees, "title": t.title,
                           "message": _task_message(t) or None, "deadline": t.deadline,
                           "escalated": t.escalated > 0, "next_escalation": t.next_escalation,
                           "escalations": _escalations_json(t)}
                          for t in tasks], indent=2))
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
    if not tasks:
        print("no pending tasks")
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
    from flowc.runtime.engine import DecisionRefused

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
    values, answer = {}, None
    if task.kind == "gate":
        fields = {f["name"]: f["schema"] for f in task.form.get("fields", [])}
        values = _parse_pairs(args.edit or [], fields, "--edit", "form")
    else:
        answer = _typed_value(args.answer, task.form.get("schema", {}), "--answer", "answer",
                              "the answer", "")
    t0 = time.perf_counter()
    run = store.get_run(task.run_id)
    base_dir = Path(run.base_dir) if run and run.base_dir else None
    try:
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
    if args.verbose:
        print(f"resumed in {(time.perf_counter() - t0) * 1000:.1f} ms", file=sys.stderr)
    _telemetry(store, run, base_dir)
    return _report_run(run, store)


def cmd_worker(args) -> int:
    store = _store(args)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    from flowc.runtime.engine import describe_people

    with _engine(args, store) as engine:
        while True:
            # one run's failure is recorded on that run (failed, with the error) and printed
            # in one line; the worker goes on with the others, and with the next pass
            code = 0
            try:
                fired = engine.fire_due()
                resumed = engine.resume_interrupted()
            except Exception as e:  # the pass itself (e.g. the store) failed: say so, go on
                text = " ".join(f"{type(e).__name__}: {e}".split())[:500]
                print(f"flowc: worker pass failed: {text}", file=sys.stderr, flush=True)
                fired, resumed, code = None, [], 1
            if fired is not None:
                for task_id in fired.timed_out:
                    print(f"timed out: task {task_id}")
                for e in fired.escalated:
                    print(f"escalated: task {e.task} (step {e.step}) to "
                          f"{describe_people(e.to)}")
            for run_id in resumed:
                print(f"resumed run {run_id}", flush=True)
            if args.once or (deadline and time.monotonic() >= deadline):
                return code
            time.sleep(args.interval)


def cmd_cancel(args) -> int:
    store = _store(args)
    run = store.get_run(args.run)
    if run is None:
        raise CommandError(f"no run `{args.run}` (see `flowc runs`)")
    if run.status in ("succeeded", "failed", "cancelled"):
        raise CommandError(f"run `{args.run}` already {run.status}", 1)
    store.set_run_status(run.id, "cancelled", error=f"cancelled by {args.as_user}")
    for task in store.list_tasks(status="pending", run_id=run.id, limit=10_000):
        store.cancel_task(task.id)
    store.append_audit(run.id, "run.cancelled", args.as_user, {})
    print(f"run {run.id}: cancelled")
    return 0


def cmd_audit(args) -> int:
    store = _store(args)
    if store.get_run(args.run) is None:
        raise CommandError(f"no run `{args.run}` (see `flowc runs`)")
    events = store.audit_events(args.run)
    if args.verify:
        check = store.verify_audit(args.run)
        if check.ok:
            print(f"audit chain of run {args.run}: {len(events)} events, intact")
            return 0
        for p in check.problems:
            print(f"audit chain broken: {p}")
        return 1
    if args.format == "json":
        print(json.dumps([{"seq": e.seq, "ts": e.ts, "kind": e.kind, "actor": e.actor,
                           "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash}
                          for e in events], indent=2, ensure_ascii=False))
    else:
        for e in events:
            print(f"{e.seq:>4}  {e.kind:<16} {e.actor:<12} {json.dumps(e.payload)[:120]}")
    return 0


def cmd_people(args) -> int:
    path = _people_path(args)
    people = json.loads(path.read_text()) if path.exists() else {}
    if args.user:
        people[args.user] = sorted(set(args.roles))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(people, indent=2) + "\n")
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
    store_opt(sp)
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
    store_opt(sp)
    sp.set_defaults(func=cmd_replay)

    sp = sub.add_parser("runs", help="list runs")
    sp.add_argument("--status", choices=("queued", "running", "paused", "succeeded", "failed",
                                         "cancelled"))
    sp.add_argument("--limit", type=_positive(int), default=50)
    sp.add_argument("--json", action="store_true")
    store_opt(sp)
    sp.set_defaults(func=cmd_runs)

    sp = sub.add_parser("inbox", help="pending human tasks")
    sp.add_argument("--limit", type=_positive(int), default=100)
    sp.add_argument("--json", action="store_true")
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
    sp.add_argument("--answer", metavar="VALUE", help="the value an `ask human` task asks "
                    "for; VALUE as below")
    sp.add_argument("--as", dest="as_user", required=True, metavar="USER")
    sp.add_argument("--workspace", metavar="URL")
    sp.add_argument("-v", "--verbose", action="store_true")
    model_opts(sp)
    store_opt(sp)
    sp.set_defaults(func=cmd_resume)

    sp = sub.add_parser("worker", help="fire due gate timeouts and escalations, resume "
                        "interrupted runs")
    sp.add_argument("--once", action="store_true")
    sp.add_argument("--seconds", type=_positive(float), help="stop after this long")
    sp.add_argument("--interval", type=_positive(float), default=1.0)
    sp.add_argument("--workspace", metavar="URL")
    model_opts(sp)
    store_opt(sp)
    sp.set_defaults(func=cmd_worker)

    sp = sub.add_parser("cancel", help="cancel a run")
    sp.add_argument("run", metavar="RUN")
    sp.add_argument("--as", dest="as_user", default="cli", metavar="USER")
    store_opt(sp)
    sp.set_defaults(func=cmd_cancel)

    sp = sub.add_parser("audit", help="a run's audit trail")
    sp.add_argument("run", metavar="RUN")
    sp.add_argument("--verify", action="store_true", help="check the hash chain")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    store_opt(sp)
    sp.set_defaults(func=cmd_audit)

    sp = sub.add_parser("people", help="who holds which roles (for gate decisions)")
    sp.add_argument("user", nargs="?", metavar="USER")
    sp.add_argument("roles", nargs="*", metavar="ROLE")
    store_opt(sp)
    sp.set_defaults(func=cmd_people)
