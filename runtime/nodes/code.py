"""`code` nodes: a Python snippet (in the sandbox, or the run's session) or JavaScript.

A snippet sets `result` or defines `main` (called with the arguments it names); file
arguments appear in its working directory; the files it writes become file values.
"""

from __future__ import annotations

from typing import Any

from ..expressions import MISSING, EvaluationError, Scope, evaluate
from ..skillrun import is_file_value
from ..validate import value_problem
from .base import NodeContext, NodeKind, NodeResult, checked
from .external import finish_effect, start_effect
from .files import execution_problem, file_parts, open_file, out_dir, record_outputs

__all__ = ["KIND"]

# A snippet may set `result`, or define `main` (called with the arguments it names).
_PY_MAIN = """
if "result" not in globals() and callable(globals().get("main")):
    import inspect as _flowc_inspect
    result = main(**{_k: globals()[_k] for _k in _flowc_inspect.signature(main).parameters
                     if _k in globals()})
"""


def _stage_arg(ctx: NodeContext, name: str, value: Any, inputs: dict) -> Any:
    """A file handed to code appears in its working directory (`in/NAME/FILE`): the
    argument becomes the file value with `path` its local path there. Only a handle of
    this run's files is staged (its content checked); a dict that merely looks like a
    file is data and goes in as it is."""
    if is_file_value(value):
        rec, data = open_file(ctx, value, f"argument `{name}`")
        local = f"in/{name}/{rec.name}"
        inputs[local] = data
        return {"file_id": rec.id, "name": rec.name, "sha256": rec.sha256,
                "size": rec.size, "path": local}
    if isinstance(value, list):
        return [_stage_arg(ctx, f"{name}_{i}", v, inputs) for i, v in enumerate(value)]
    return value


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    from ..sandbox import Limits

    item = ctx.item
    args, inputs = {}, {}
    for name, arg in config.get("args", {}).items():
        value = evaluate(arg["value"], scope)
        if value is MISSING:
            raise EvaluationError(f"argument `{name}` reads a missing value")
        args[name] = _stage_arg(ctx, name, value, inputs)
    opts = node.options
    limits = Limits(timeout=float(opts.get("timeout", 30.0)),
                    memory_mb=int(opts.get("memory_limit", 256 * 2**20) // 2**20))
    effect = start_effect(ctx, node, "code")
    if effect is not None:
        if effect.status == "done":  # it ran before a crash: never act twice
            return checked(node, effect.result, item=item)
        args["idempotency_key"] = effect.key
    output_dir, rel = out_dir(ctx, node)
    if config["language"] == "javascript":
        from ..sandbox.js import run_javascript

        # `function main({ a, b })` gets the arguments as one object (a JavaScript node
        # runs strict whatever its isolation: there is no JavaScript run session)
        source = config["source"] + (
            "\n;if (typeof result === 'undefined' && typeof main === 'function') "
            f"{{ result = await main({{ {', '.join(args)} }}); }}\n")
        r = run_javascript(source, args=args, inputs=inputs, output_dir=output_dir,
                           limits=limits)
    else:
        r = ctx.host.sandbox_run(ctx.run, node, config["source"] + _PY_MAIN, python=True,
                                 globals_=args, inputs=inputs, output_dir=output_dir,
                                 limits=limits, allow_hosts=tuple(opts.get("hosts", ())),
                                 idempotency_key=effect and effect.key)
    problem = execution_problem(r)
    if problem:
        return NodeResult("failed", error=problem)
    value = r.value
    problem = value_problem(value)
    if problem:
        return NodeResult("failed", error=f"its result cannot be used: {problem}")

    def keep():
        made = record_outputs(ctx, node.id, r.files, rel) if r.files else []
        if isinstance(value, dict) and made:
            return {**value, **file_parts(node, item, made, value)}
        return value

    return checked(node, finish_effect(ctx, effect, node.id, keep), item=item)


KIND = NodeKind("code", execute, retries=True)
