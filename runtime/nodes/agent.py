"""`agent` nodes: a model in a loop with the pinned skills as tools, until it delivers.

The skills with an entry command are tools (their inputs as JSON Schema) run in the sandbox;
the loop is tool call -> skill run -> observation, within `max_steps` and a token budget
(`max_tokens` bounds the whole loop), and it must end with the `finish` tool carrying the
declared deliverable (text, fields and files the skills produced), not just prose.

Steps are native tool calls, or, for an endpoint that cannot force one (a small local model),
JSON steps: each step asks for `{"step": {"tool", "arguments"}}` as structured output, the tools
described in the system prompt, the results sent back as `user` messages. The model's
`agent_steps` in flowc.toml chooses ("tools", "json"; "auto": what `flowc models check --save`
found, else native until a step comes back without a call although one was required (and
no step of the node has called a tool natively yet), or the
endpoint refuses the tool request with HTTP 400, which is retried as a JSON step at once).
The switch depends only on the answers, so a replay takes the same path.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..expressions import MISSING, EvaluationError, Scope, evaluate
from ..skillrun import entry_line, is_file_value
from ..validate import schema_errors, value_problem
from .base import NodeContext, NodeKind, NodeResult, checked
from .files import execution_problem, out_dir, record_outputs
from .model import (
    ModelCalls,
    capability,
    context_blocks,
    cut_off,
    deliverable_parts,
    file_schema,
    memory_of,
    output_request_schema,
    parse_answer,
    run_model_node,
    scalar_wrapped,
    sop_texts,
    strip_schema,
    system_text,
    template_text,
)
from .shell import run_shell

if TYPE_CHECKING:
    from ..models.base import ToolSpec

__all__ = ["KIND", "FINISH_TOOL"]

FINISH_TOOL = "finish"
_OBSERVATION_CHARS = 4000  # what an agent sees of a skill's output
_DEFAULT_STEPS = 10

def _skill_tools(plan, names: list[str]) -> tuple[list[ToolSpec], dict, list[str]]:
    """Skills with an entry command become tools; SOP-only skills' playbooks go to the
    context."""
    from ..models.base import ToolSpec

    tools, pins, playbooks = [], {}, []
    for name in names:
        pin = next((s for s in plan.skills if s.alias == name), None)
        if pin is None:
            raise EvaluationError(f"the plan has no skill `{name}`")
        if not pin.entry or "external" in pin.effects:
            # an SOP-only skill is followed, not called; a skill that acts on the outside
            # world runs only as its own node, where the flow's approval policy applies
            playbooks.append(pin.alias)
            continue
        props, required = {}, []
        for inp, spec in pin.inputs.items():
            sub = strip_schema(spec.get("schema", {}))
            if file_schema(spec.get("schema")):
                sub = {"type": "string", "description": "a file: the name of a file produced "
                       "earlier in this node, or of a file in the context"}
            props[inp] = sub
            if spec.get("required"):
                required.append(inp)
        tools.append(ToolSpec(pin.alias, f"{pin.description.strip()} (skill {pin.name} "
                              f"{pin.version}; runs `{pin.entry}` in a sandbox)",
                              {"type": "object", "properties": props, "required": required,
                               "additionalProperties": False}))
        pins[pin.alias] = pin
    return tools, pins, playbooks


def _files_in(value: Any, found: dict) -> None:
    """File values (from context deliverables) by name, so the agent may pass them on. Only
    files the runtime minted (a handle, `file_id`) count: a dict that merely looks like a file
    is data."""
    if isinstance(value, dict):
        if is_file_value(value):
            name = str(value.get("name") or "file").rsplit("/", 1)[-1]
            found[name] = value
            return
        for v in value.values():
            _files_in(v, found)
    elif isinstance(value, list):
        for v in value:
            _files_in(v, found)


def _agent(node, config: dict, scope: Scope, ctx: NodeContext, schema: dict,
           calls: ModelCalls) -> NodeResult:
    from ..models.base import Message, ModelRequest, ModelRequestError, ToolSpec

    tools, pins, playbooks = _skill_tools(ctx.plan, config.get("skills", []))
    wanted = output_request_schema(schema, files_as_names=True)
    tools.append(ToolSpec(FINISH_TOOL, "Hand over the finished deliverable. The node ends "
                          "with exactly these values; files are named by the file a skill "
                          "produced.", wanted))
    files: dict[str, dict] = {}
    for ir in config.get("context", []):
        v = evaluate(ir, scope)
        if v is not MISSING:
            _files_in(v, files)
    sops = sop_texts(ctx, config.get("sops", []))
    head = (f"You are the agent of the workflow step `{node.id}`.\n\nGoal: "
            f"{template_text(config, 'goal', scope)}")
    instructions = template_text(config, "instructions", scope)
    if instructions:
        head += f"\n\nInstructions:\n{instructions.strip()}"
    head += ("\n\nWork with the tools: each skill runs in a sandbox and returns its output. "
             f"When the deliverable is ready, call `{FINISH_TOOL}` with it: prose alone does "
             "not end the step.")
    if playbooks:
        head += "\n\nPlaybooks you follow: " + ", ".join(playbooks)
    messages = [Message("system", system_text(head, sops, context_blocks(config, scope))),
                Message("user", template_text(config, "goal", scope))]
    max_steps = int(config.get("max_steps") or _DEFAULT_STEPS)
    budget = config.get("max_tokens")
    calls.metrics.update(steps=0, tool_calls=0)
    parts = deliverable_parts(schema)
    problem = f"it did not call `{FINISH_TOOL}` within {max_steps} steps"
    mode = capability(ctx, calls.alias, "agent_steps")
    auto = mode == "auto"
    json_steps = mode == "json"
    step_schema = json_step_schema(tools)
    called = False        # a native tool call came back: the endpoint can call tools
    step_issue = ""
    did: list[str] = []   # what each step did, for the error when it never finishes
    if json_steps:
        messages[0] = Message("system", messages[0].content + json_steps_prompt(tools))
    for step in range(1, max_steps + 1):
        calls.metrics["steps"] = step
        calls.metrics["agent_steps"] = "json" if json_steps else "tools"
        r = None
        if not json_steps:
            try:
                r = calls.call(ModelRequest(messages, tools=tools, tool_choice="required",
                                            temperature=config.get("temperature")),
                               "agent_step")
            except ModelRequestError as e:
                if not (auto and _refused_for_tools(e)):
                    raise
                json_steps = True  # the endpoint refuses the tool request: JSON steps now
                calls.metrics["agent_steps"] = "json"
                calls.metrics["agent_steps_switched"] = step
                messages[0] = Message("system", messages[0].content + json_steps_prompt(tools))
        if json_steps:
            r = calls.call(ModelRequest(messages, response_schema=step_schema,
                                        schema_name="agent_step",
                                        temperature=config.get("temperature")), "agent_step")
            messages.append(Message("assistant", r.text))
            tc, why = parse_json_step(r, step, {t.name for t in tools})
            if tc is None:
                messages.append(Message("user", why + " Answer with one JSON object "
                                        '{"step": {"tool": ..., "arguments": {...}}}.'))
                step_issue = f"its last answer was not a tool call: {why}"
                r = None
            else:
                step_issue = ""
                r = replace(r, tool_calls=[tc])
        else:
            called = called or bool(r.tool_calls)
            messages.append(Message("assistant", r.text, tool_calls=list(r.tool_calls)))
            if not r.tool_calls:
                messages.append(Message("user", f"Call a tool, or `{FINISH_TOOL}` with the "
                                        "deliverable."))
                if auto and not called:  # `tool_choice: "required"` forces no call here
                    json_steps = True
                    calls.metrics["agent_steps_switched"] = step + 1
                    messages[0] = Message("system",
                                          messages[0].content + json_steps_prompt(tools))
        if r is None or not r.tool_calls:
            did.append("no tool call")
        for tc in (r.tool_calls if r is not None else []):
            did.append(f"`{tc.name}`" if tc.name in pins or tc.name == FINISH_TOOL
                       else "an unknown tool")
            calls.metrics["tool_calls"] += 1
            if set(tc.arguments) == {"_invalid_json"}:  # arguments that are not JSON
                why = (" (cut off at the token limit: finish_reason `length`)"
                       if r.finish_reason == "length" else "")
                messages.append(result_message(
                    json_steps, tc, f"Your call of `{tc.name}` had arguments that are not "
                    f"valid JSON{why}. Call it again with one complete, shorter JSON object."))
                problem = (f"its last call of `{tc.name}` had arguments that are not valid "
                           "JSON" + (f", {cut_off(r)}" if r.finish_reason == "length" else
                                     f": {tc.arguments['_invalid_json'][:80]!r}"))
            elif tc.name == FINISH_TOOL:
                value, errors = _finish_value(tc.arguments, schema, parts, files, node)
                if not errors:
                    messages.append(result_message(json_steps, tc, "accepted"))
                    if "memory" in parts.values():
                        value[next(p for p, k in parts.items() if k == "memory")] = \
                            memory_of(node, calls.alias, messages)
                    return checked(node, value, schema)
                messages.append(result_message(json_steps, tc,
                                               "Not accepted: " + "; ".join(errors[:5])))
                problem = f"its last `{FINISH_TOOL}` was not accepted: {errors[0]}"
            elif tc.name in pins:
                obs = _run_skill_tool(ctx, node, pins[tc.name],
                                      tc.arguments, files, step)
                messages.append(result_message(json_steps, tc, obs))
            else:
                messages.append(result_message(
                    json_steps, tc, f"There is no tool `{tc.name}`; tools: "
                    + ", ".join(t.name for t in tools)))
        if budget and calls.tokens > int(budget):
            return NodeResult("failed", error=f"the agent used {calls.tokens} tokens, over its "
                              f"budget of {budget} (max_tokens), before it finished")
    return NodeResult("failed", error=f"the agent did not deliver: {problem}"
                      + (f" ({step_issue})" if step_issue else "") + _tally(did))


def _tally(did: list[str]) -> str:
    """`; its steps: `render_report` x3, no tool call x5`, in order of first appearance."""
    if not did:
        return ""
    counts: dict[str, int] = {}
    for d in did:
        counts[d] = counts.get(d, 0) + 1
    return "; its steps: " + ", ".join(f"{d} x{n}" if n > 1 else d for d, n in counts.items())


# ------------------------------------------------------------------------- JSON steps
def json_step_schema(tools: list[ToolSpec]) -> dict:
    """The response schema of one JSON step: `{"step": one of {tool, arguments}}` (the root an
    object, as strict structured output wants)."""
    return {"type": "object", "properties": {"step": {"anyOf": [
        {"type": "object",
         "properties": {"tool": {"type": "string", "enum": [t.name]},
                        "arguments": strip_schema(t.parameters) or {
                            "type": "object", "properties": {}}},
         "required": ["tool", "arguments"], "additionalProperties": False}
        for t in tools]}}, "required": ["step"], "additionalProperties": False}


def json_steps_prompt(tools: list[ToolSpec]) -> str:
    """The tools described in the system prompt, for an endpoint without tool calling."""
    lines = ["", "", "Each of your answers is one tool call as JSON: "
             '{"step": {"tool": "<name>", "arguments": {...}}}. The tools:']
    for t in tools:
        lines.append(f"- `{t.name}`: {t.description} Arguments (JSON Schema): "
                     + json.dumps(strip_schema(t.parameters), ensure_ascii=False,
                                  sort_keys=True))
    return "\n".join(lines)


def parse_json_step(r, step: int, names: set[str]):
    """The tool call a JSON step's answer stands for, or (None, what is wrong with it)."""
    from ..models.base import ToolCall

    try:
        value = parse_answer(r.text)
    except ValueError as e:
        if r.finish_reason == "length":
            return None, f"Your answer was {cut_off(r).split(':')[0]} before the JSON was " \
                "complete; answer shorter."
        return None, f"Your answer is not JSON ({e})."
    inner = value.get("step", value) if isinstance(value, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("tool"), str) \
            or inner["tool"] not in names:
        return None, "Your answer names no tool (tools: " + ", ".join(sorted(names)) + ")."
    args = inner.get("arguments")
    return ToolCall(f"step_{step}", inner["tool"], args if isinstance(args, dict) else {}), ""


def result_message(json_steps: bool, tc, text: str):
    """A tool's result for the model: a `tool` message, or in JSON steps a `user` one."""
    from ..models.base import Message

    if json_steps:
        return Message("user", f"Result of `{tc.name}`: {text}")
    return Message("tool", text, tool_call_id=tc.id)


def _refused_for_tools(e) -> bool:
    """A request refused (HTTP 400) for its `tools` or `tool_choice` (also when replayed)."""
    text = str(e)
    return "HTTP 400" in text and "tool" in text.lower()


def _named(v: str, limit: int = 80) -> str:
    """A file name the model gave, for an error: one line, at most `limit` characters (a small
    model may put a paragraph where a name belongs)."""
    flat = "".join(c if c.isprintable() else " " for c in " ".join(v.split()))
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _finish_value(args: dict, schema: dict, parts: dict, files: dict, node):
    value: dict[str, Any] = {}
    errors: list[str] = []
    if not isinstance(args, dict):
        return {}, ["the arguments must be an object"]
    for name, v in args.items():
        if parts.get(name) == "file":
            if not isinstance(v, str):
                errors.append(f"`{name}` must name a file")
                continue
            f = files.get(v) or files.get(v.rsplit("/", 1)[-1])
            if f is None:
                errors.append(f"`{name}`: no file `{_named(v)}` was produced (files: "
                              f"{', '.join(sorted(files)) or 'none yet'})")
                continue
            value[name] = f
        else:
            value[name] = v
    if scalar_wrapped(schema):
        value = value.get("value")
        errors += schema_errors(value, schema, node.id)
        return value, errors
    check = {k: s for k, s in schema.get("properties", {}).items() if parts.get(k) != "memory"}
    errors += schema_errors(value, {**schema, "properties": check,
                                    "required": [r for r in schema.get("required", [])
                                                 if parts.get(r) != "memory"]}, node.id)
    return value, errors


def _run_skill_tool(ctx: NodeContext, node, pin, args: dict, files: dict, step: int) -> str:
    """One tool call: the skill's entry command in the sandbox; what the agent observes."""

    if not isinstance(args, dict):
        return "The arguments must be an object."
    known = set(pin.inputs)
    unknown = sorted(set(args) - known)
    if unknown:
        return f"Unknown argument `{unknown[0]}`; the skill takes: {', '.join(sorted(known))}."
    values = dict(args)
    for name, spec in pin.inputs.items():
        if file_schema(spec.get("schema")) and isinstance(values.get(name), str):
            f = files.get(values[name]) or files.get(values[name].rsplit("/", 1)[-1])
            if f is None:
                return (f"`{name}` names no known file `{values[name]}` (files: "
                        f"{', '.join(sorted(files)) or 'none'}).")
            values[name] = f
        if values.get(name) is None and "default" in spec:
            values[name] = spec["default"]
    line, stdin, staged = entry_line(pin.entry, values, lambda v: v if isinstance(v, str)
                                     else json.dumps(v))
    output_dir, rel = out_dir(ctx, node, f"step{step}")
    try:
        r = run_shell(ctx, node, line, stdin, staged, output_dir)
    except EvaluationError as e:  # a file that is not the run's, or fails its checks
        return f"The skill could not run: {e}"
    problem = execution_problem(r)
    if problem:
        return f"The skill could not run: {problem}"
    res = r.value if isinstance(r.value, dict) else {}
    problem = value_problem(res)
    if problem:
        return f"The skill's result cannot be used: {problem}"
    made = []
    for rec in record_outputs(ctx, node.id, r.files, rel) if r.files else []:
        rec = {**rec, "name": rec["name"].rsplit("/", 1)[-1]}
        files[rec["name"]] = rec
        made.append(f"{rec['name']} ({rec['size']} bytes)")
    out = (res.get("stdout") or "")
    if len(out) > _OBSERVATION_CHARS:
        out = out[:_OBSERVATION_CHARS] + f"\n[... {len(out) - _OBSERVATION_CHARS} more characters]"
    text = f"exit status {res.get('exit_code')}\n{out}"
    err = (res.get("stderr") or "").strip()
    if err:
        text += f"\nstderr: {err[-1500:]}"
    if made:
        text += "\nfiles produced: " + ", ".join(made)
    return text


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    return run_model_node(_agent, node, config, scope, ctx)


KIND = NodeKind("agent", execute, model=True)
