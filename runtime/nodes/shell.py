"""What the nodes that run a command line share (`command`, `skill`, an agent's skill tools):
the line run in the sandbox with the run's skills staged and checked against the plan, and a
line's result as a node's value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..effects import env_code
from ..expressions import MISSING, EvaluationError
from ..skillrun import is_file_value, shell_code, stage_skill
from ..validate import MAX_DEPTH, value_problem
from .base import NodeContext, NodeResult, checked, item_schema
from .external import finish_effect, start_effect
from .files import execution_problem, file_parts, open_file, out_dir, record_outputs, stage

__all__ = ["run_shell", "run_line", "command_output", "parse_json"]


def parse_json(text: str) -> tuple[Any, str | None]:
    """(value, None), or (None, why not): not JSON, or nested too deeply to parse."""
    try:
        return json.loads(text), None
    except RecursionError:
        return None, f"it is JSON nested more than {MAX_DEPTH} levels deep"
    except ValueError as e:
        return None, str(e)


def _skill_folder(ctx: NodeContext, pin) -> Path:
    from ..skillcache import SkillFetchError, skill_folder

    # relative to the flow's folder, recorded when the run started (resumes happen anywhere);
    # a skill from a URL registry is fetched into the local cache, checked against the pin
    run = ctx.run
    base = Path(run.base_dir) if getattr(run, "base_dir", None) else ctx.host.base_dir
    try:
        return skill_folder(pin, base)
    except SkillFetchError as e:
        raise EvaluationError(str(e)) from None


def _skill_files(ctx: NodeContext) -> tuple[dict, dict]:
    """The run's skills staged into the sandbox, each checked against the plan's hash."""
    from flowc.contenthash import hash_folder

    inputs, commands = {}, {}
    for pin in ctx.plan.skills:
        folder = _skill_folder(ctx, pin)
        if not folder.is_dir():
            raise EvaluationError(f"skill {pin.name} {pin.version} is missing at {folder}")
        if hash_folder(folder) != pin.sha256:
            raise EvaluationError(
                f"skill {pin.name} {pin.version} at {folder} does not match the plan "
                "(its content changed since the flow was compiled): refusing to run it")
        stage_skill(folder, pin.alias, pin.entry, inputs, commands)
    return inputs, commands


def run_shell(ctx: NodeContext, node, line: str, stdin: str, extra_inputs: dict | None,
              output_dir: str | None, idempotency_key: str | None = None):
    """One command line in the sandbox with the run's skills staged (each checked against
    the plan), their declared packages, and the node's limits and allowed hosts: the
    sandbox's result. `extra_inputs` maps names in the working directory to files: bytes
    already checked, or file values, which must be handles of this run's files
    (FileNotStaged else). Used by command and skill nodes and by an agent's skill tools.
    `idempotency_key`: an external effect's key, in the line's environment
    (FLOWC_IDEMPOTENCY_KEY) and on its HTTP requests (runtime/effects.py)."""
    from ..sandbox import Limits
    from ..skillrun import sandbox_options

    staged = stage(ctx, extra_inputs or {})
    inputs, commands = _skill_files(ctx)
    inputs.update(staged)
    opts = node.options
    limits = Limits(timeout=float(opts.get("timeout", 60.0)),
                    memory_mb=int(opts.get("memory_limit", 256 * 2**20) // 2**20))
    return ctx.host.sandbox_run(ctx.run, node, env_code(idempotency_key) +
                                shell_code(line, stdin, commands), inputs=inputs,
                                output_dir=output_dir, limits=limits,
                                allow_hosts=tuple(opts.get("hosts", ())),
                                idempotency_key=idempotency_key,
                                **sandbox_options(inputs))  # the skills' declared packages


def _stdin_text(ctx: NodeContext, stdin) -> str:
    """What a command reads on standard input: a file's content (a handle of this run's
    files, checked), text as it is, any other value as JSON."""
    if stdin is MISSING or stdin is None:
        return ""
    if is_file_value(stdin):
        _rec, data = open_file(ctx, stdin, "the file for standard input")
        return data.decode("utf-8", "replace")
    if isinstance(stdin, (dict, list)):
        return json.dumps(stdin, ensure_ascii=False)
    return str(stdin)


def run_line(ctx: NodeContext, node, line: str, stdin, extra_inputs: dict | None = None,
             kind: str = "command") -> NodeResult:
    """A command or skill node's execution: the line run (an external effect at most once),
    its files recorded, its result as the node's value."""
    stdin = _stdin_text(ctx, stdin)
    output_dir, rel = out_dir(ctx, node)
    effect = start_effect(ctx, node, kind)
    if effect is not None and effect.status == "done":  # it ran before a crash
        done = effect.result if isinstance(effect.result, dict) else {}
        return command_output(node, ctx.item, done.get("shell") or {}, done.get("files") or [])
    r = run_shell(ctx, node, line, stdin, extra_inputs, output_dir,
                  idempotency_key=effect and effect.key)
    problem = execution_problem(r)
    if problem:
        return NodeResult("failed", error=problem)
    res = r.value if isinstance(r.value, dict) else {}
    problem = value_problem(res)
    if problem:
        return NodeResult("failed", error=f"its result cannot be used: {problem}")
    if res.get("exit_code") != 0:
        tail = (str(res.get("stderr") or "")).strip().splitlines()[-3:]
        return NodeResult("failed", error=f"`{line}` exited with status {res.get('exit_code')}"
                          + (": " + " / ".join(tail) if tail else ""))

    def keep():
        made = record_outputs(ctx, node.id, r.files, rel) if r.files else []
        return {"shell": res, "files": made}

    done = finish_effect(ctx, effect, node.id, keep)
    return command_output(node, ctx.item, res, done["files"])


def command_output(node, item: int, res: dict, files) -> NodeResult:
    """stdout, stderr and exit status, or the declared deliverable filled from them.
    `files`: the file values of the files the command wrote."""
    schema = item_schema(node, item)
    kinds = schema.get("x-flowc-deliverable", {})
    stdout = res.get("stdout") if isinstance(res.get("stdout"), str) else ""
    if schema.get("title") == "CommandResult" or not kinds:
        value: Any = {"stdout": stdout, "stderr": res.get("stderr", ""),
                      "exit_code": res.get("exit_code", 0)}
        if not kinds and schema.get("type") != "object":  # a scalar type: stdout's JSON
            parsed, why = parse_json(stdout or "null")
            if why is not None and "nested" in why:
                return NodeResult("failed", error=f"its standard output cannot be used: {why}")
            value = parsed if why is None else stdout.strip()
        return checked(node, value, item=item)
    value = {}
    parsed, why = parse_json(stdout)
    if why is not None and "nested" in why:
        return NodeResult("failed", error=f"its standard output cannot be used: {why}")
    for part, kind in kinds.items():
        if kind == "text":  # the JSON's own text of that name, else all of stdout
            own = parsed.get(part) if isinstance(parsed, dict) else None
            value[part] = own if isinstance(own, str) else stdout
        elif kind == "field" and isinstance(parsed, dict) and part in parsed:
            value[part] = parsed[part]
    value.update(file_parts(node, item, files, value))
    return checked(node, value, item=item)
