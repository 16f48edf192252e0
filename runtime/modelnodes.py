"""Model-backed nodes: `llm`, `agent` and `extract`.

Each execution makes its model calls through the engine's `Models` (config aliases, record and
replay), records every exchange in the store as it happens (`model_calls`: traces, cost and
error replay), and ends with a value checked against the node's type plus per-node figures
(`metrics`: model, tokens, cost, steps). The node's memory snapshot is its conversation.

- `llm`: one call (system + SOPs + context + prompt). A non-`Reply` type is asked for as
  structured output; an answer that does not fit is sent back with the problems, at most
  `REASKS` times.
- `agent`: the pinned skills are tools (their inputs as JSON Schema) run in the sandbox; the
  loop is tool call -> skill run -> observation, within `max_steps` and a token budget
  (`max_tokens` bounds the whole loop), and it must end with the `finish` tool carrying the
  declared deliverable (text, fields and files the skills produced), not just prose.
- `extract`: one small call over a bounded window of another node's memory that answers a
  JSON object of the fields (a compact field list, not a JSON Schema: a 20-field form stays
  under 500 tokens), checked against the type; anything wrong (a model error, invalid output)
  falls back to the declared text, with the outcome `fallback`, and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .expressions import MISSING, EvaluationError, evaluate, render_template
from .models.base import CallKey, Message, ModelError, ModelRequest, ToolSpec
from .models.tokens import estimate_tokens
from .skillrun import entry_line, is_file_value
from .store import ModelCallRecord, model_call_row
from .validate import describe_schema, schema_errors, value_problem

__all__ = ["run_model_node", "REASKS", "FINISH_TOOL", "memory_window", "output_request_schema"]

REASKS = 2                 # an llm's answer that does not fit its type is sent back at most twice
FINISH_TOOL = "finish"
_OBSERVATION_CHARS = 4000  # what an agent sees of a skill's output
_CONTEXT_CHARS = 12000     # per context item
_WINDOW_TOKENS = 240       # the memory window an extraction reads (estimated tokens)
# An extraction call stays small: a compact field list instead of a JSON Schema, and a memory
# window that shrinks as the form grows, so a 20-field form stays under 500 tokens in all.
_EXTRACT_BUDGET = 480
_DEFAULT_STEPS = 10


# ---------------------------------------------------------------------------- helpers
def _strip_schema(schema: Any) -> Any:
    """A plan schema without flowc's extensions (providers reject unknown keywords)."""
    if isinstance(schema, dict):
        return {k: _strip_schema(v) for k, v in schema.items()
                if not k.startswith("x-flowc") and k != "title"}
    if isinstance(schema, list):
        return [_strip_schema(v) for v in schema]
    return schema


def _file_schema(schema: Any) -> bool:
    """A file type, or an optional one."""
    if not isinstance(schema, dict):
        return False
    return bool(schema.get("x-flowc-file")) or any(_file_schema(s)
                                                     for s in schema.get("anyOf", []))


def _field_type(schema: dict) -> str:
    """A field's type in a few words (`number`, `one of a, b`, `date YYYY-MM-DD`)."""
    schema = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)
    if schema.get("format") == "date":
        return "date YYYY-MM-DD"
    return describe_schema(schema)


def _nullable(schema: dict) -> dict:
    """The same type, or null (an extraction may not find a field)."""
    if not schema_errors(None, schema):
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def _parts(schema: dict) -> dict[str, str]:
    return schema.get("x-flowc-deliverable", {})


def _is_reply(schema: dict) -> bool:
    """A plain text answer (the `Reply` type, or a deliverable with only text and memory)."""
    parts = _parts(schema)
    return bool(parts) and set(parts.values()) <= {"text", "memory"} and \
        list(parts.values()).count("text") == 1


def output_request_schema(schema: dict, *, files_as_names: bool = False) -> dict:
    """What a model is asked to produce for a type: the memory part left out (the runtime
    fills it), file parts left out or, for an agent, named by the file a skill produced."""
    parts = _parts(schema)
    if schema.get("type") != "object" or "properties" not in schema:
        return {"type": "object", "properties": {"value": _strip_schema(schema)},
                "required": ["value"], "additionalProperties": False}
    props, required = {}, []
    for name, sub in schema["properties"].items():
        kind = parts.get(name)
        if kind == "memory":
            continue
        if kind == "file" or (isinstance(sub, dict) and sub.get("x-flowc-file")):
            if not files_as_names:
                continue
            sub = {"type": "string", "description": "the name of a file a skill produced in "
                   "this node (for example `report.pdf`)"}
        props[name] = _strip_schema(sub)
        if name in schema.get("required", []):
            required.append(name)
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


def _scalar_wrapped(schema: dict) -> bool:
    return schema.get("type") != "object" or "properties" not in schema


def _render_value(value: Any, limit: int = _CONTEXT_CHARS) -> str:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "memory"}
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1,
                                                           default=str)
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more " \
        "characters]"


def _ref_name(ir: Any) -> str:
    if isinstance(ir, dict):
        base = ir.get("node") or ir.get("input") or ir.get("var") or "value"
        return ".".join([base, *ir.get("path", [])])
    return "value"


def memory_window(memory: Any, max_tokens: int = _WINDOW_TOKENS) -> str:
    """The end of a conversation, newest last, within `max_tokens` (estimated): what an
    extraction reads. The system prompt is left out and tool results are cut short first."""
    if isinstance(memory, dict) and isinstance(memory.get("messages"), list):
        lines = []
        for m in memory["messages"]:
            role = m.get("role", "")
            if role == "system":
                continue
            text = (m.get("content") or "").strip()
            if role == "tool":
                text = text[:300]
            for tc in m.get("tool_calls") or []:
                args = json.dumps(tc.get("arguments", {}), ensure_ascii=False)
                text += f"\n[calls {tc.get('name')} {args[:600]}]"
            if text:
                lines.append(f"{role}: {text}")
    else:
        lines = _render_value(memory, 20000).splitlines()
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = estimate_tokens(line) + 1
        if used + cost > max_tokens:
            room = max_tokens - used
            if room > 8:  # the newest part of a line that does not fit whole
                words = line.split(" ")
                tail: list[str] = []
                while words and estimate_tokens(" ".join([words[-1], *tail])) < room - 1:
                    tail.insert(0, words.pop())
                kept.append("..." + " ".join(tail))
            break
        kept.append(line)
        used += cost
    return "\n".join(reversed(kept))


# ------------------------------------------------------------------------- one node's calls
class _Calls:
    """The model calls of one node execution: keyed for replay, recorded in the store."""

    def __init__(self, engine, run, node, item: int, alias: str):
        self.engine, self.run, self.node, self.item, self.alias = engine, run, node, item, alias
        self.seq = 0
        self._previous: list | None = None  # the messages of this node's last call
        self.metrics: dict[str, Any] = {"model": alias, "calls": 0, "prompt_tokens": 0,
                                        "completion_tokens": 0, "cost": 0.0}

    def _compact(self, request: dict) -> dict:
        """A call that repeats this node's previous conversation (an agent step, a re-ask)
        is kept as the messages it adds: `continues` says how many come before them, from
        the call before (`trace.expand_requests` puts them back). Storage grows with the
        conversation, not with its square."""
        messages = request.get("messages") or []
        previous, self._previous = self._previous, messages
        if previous and len(messages) >= len(previous) and \
                messages[:len(previous)] == previous:
            return {**request, "messages": messages[len(previous):],
                    "continues": {"seq": self.seq - 1, "messages": len(previous)}}
        return request

    @property
    def tokens(self) -> int:
        return self.metrics["prompt_tokens"] + self.metrics["completion_tokens"]

    def call(self, request: ModelRequest, purpose: str):
        self.seq += 1
        key = CallKey(self.node.id, self.item, 1, self.seq, purpose)
        try:
            call = self.engine.models.complete(self.alias, request, key)
        except ModelError as e:
            failed = getattr(e, "call", None)
            if self.engine.trace:
                self.engine.keep_model_call(
                    failed.to_record(self.run.id) if failed is not None else ModelCallRecord(
                        self.run.id, self.node.id, self.item, self.seq, 1, purpose, "-",
                        self.alias, "-", request.to_json(), None, str(e), 0, 0, 0.0,
                        time.time(), time.time()))
            raise
        if self.engine.trace:
            self.engine.keep_model_call(model_call_row(self.run.id, call,
                                                       self._compact(call.request)))
        r = call.response
        m = self.metrics
        m["calls"] += 1
        m["prompt_tokens"] += r.usage.prompt_tokens
        m["completion_tokens"] += r.usage.completion_tokens
        m["cost"] = round(m["cost"] + call.cost, 10)
        m["provider"], m["provider_model"] = call.provider, r.model or call.model
        return r


# ----------------------------------------------------------------------------- the context
def _sop_texts(engine, run, plan, names: list[str]) -> list[tuple[str, str]]:
    """The chosen SOP entries' text, each checked against the hash the plan recorded."""
    base = Path(run.base_dir) if getattr(run, "base_dir", None) else engine.base_dir
    out = []
    for name in names:
        alias, _, entry = name.partition(".")
        imp = next((s for s in plan.sops if s.alias == alias), None)
        if imp is None:
            raise EvaluationError(f"the plan has no SOP `{alias}`")
        docs = [d for d in imp.documents if not entry or d.name == entry]
        for d in docs:
            path = (base / d.path).resolve()
            try:
                data = path.read_bytes()
            except OSError as e:
                raise EvaluationError(f"SOP `{name}` cannot be read at {path}: "
                                      f"{e.strerror or e}") from None
            if hashlib.sha256(data).hexdigest() != d.sha256:
                raise EvaluationError(
                    f"SOP `{alias}{'.' + d.name if d.name else ''}` at {path} changed since the "
                    "flow was compiled (its hash differs from the plan's): compile again")
            out.append((f"{alias}.{d.name}" if d.name else alias,
                        data.decode("utf-8", "replace")))
    return out


def _system_text(head: str, sops: list[tuple[str, str]], context: list[tuple[str, str]]) -> str:
    blocks = [head.strip()] if head.strip() else []
    for name, text in sops:
        blocks.append(f"## Standard operating procedure `{name}`\n\n{text.strip()}")
    for name, text in context:
        blocks.append(f"## Context: `{name}`\n\n{text}")
    return "\n\n".join(blocks)


def _context(config: dict, scope) -> list[tuple[str, str]]:
    out = []
    for ir in config.get("context", []):
        value = evaluate(ir, scope)
        if value is MISSING:
            continue  # a skipped producer: nothing to show
        out.append((_ref_name(ir), _render_value(value)))
    return out


def _template(config: dict, key: str, scope) -> str:
    v = config.get(key)
    if v is None:
        return ""
    return render_template(v["template"], scope) if isinstance(v, dict) and "template" in v \
        else str(evaluate(v, scope))


def _memory(node, alias: str, messages: list[Message]) -> dict:
    return {"node": node.id, "kind": node.kind, "model": alias,
            "messages": [m.to_json() for m in messages]}


# ----------------------------------------------------------------------------- entry point
def run_model_node(engine, run, plan, node, kind: str, config: dict, scope, item: int,
                   schema: dict):
    """Execute an llm, agent or extract node; returns the engine's result."""
    from .engine import _Result
    from .expressions import Scope

    alias = config.get("model") or "default"
    calls = _Calls(engine, run, node, item, alias)
    if scope.sop_text is None:  # `{sop}` in a template reads the SOP's text
        scope = Scope(scope.inputs, scope.nodes, scope.variables, lambda name: "\n\n".join(
            text for _, text in _sop_texts(engine, run, plan, [name])))
    try:
        if kind == "llm":
            result = _llm(engine, run, plan, node, config, scope, schema, calls)
        elif kind == "agent":
            result = _agent(engine, run, plan, node, config, scope, item, schema, calls)
        else:
            result = _extract(node, config, scope, schema, calls)
    except ModelError as e:
        result = _Result("failed", error=str(e))
    result.metrics = calls.metrics
    return result


def _parse(text: str) -> Any:
    text = text.strip()
    if text.startswith("```"):  # a fenced answer from a model without structured output
        text = text.strip("`")
        text = text[text.find("\n") + 1:] if "\n" in text else text
    return json.loads(text)


def _llm(engine, run, plan, node, config, scope, schema, calls):
    from .engine import _Result

    sops = _sop_texts(engine, run, plan, config.get("sops", []))
    system = _system_text(_template(config, "system", scope), sops, _context(config, scope))
    messages = ([Message("system", system)] if system else []) + \
        [Message("user", _template(config, "prompt", scope))]
    common = {"temperature": config.get("temperature"), "max_tokens": config.get("max_tokens")}
    parts = _parts(schema)
    if _is_reply(schema):
        r = calls.call(ModelRequest(messages, **common), "llm")
        messages.append(Message("assistant", r.text))
        text_part = next(p for p, k in parts.items() if k == "text")
        value = {text_part: r.text}
        if "memory" in parts.values():
            value[next(p for p, k in parts.items() if k == "memory")] = \
                _memory(node, calls.alias, messages)
        return engine._checked(node, value, schema)
    wanted = output_request_schema(schema)
    if [k for k in parts.values() if k == "file"] and any(
            p in schema.get("required", []) for p, k in parts.items() if k == "file"):
        return _Result("failed", error="an llm node cannot produce files; use an agent with a "
                       "skill that writes them")
    problems: list[str] = []
    for attempt in range(REASKS + 1):
        r = calls.call(ModelRequest(messages, response_schema=wanted,
                                    schema_name=schema.get("title") or "deliverable", **common),
                       "llm" if attempt == 0 else "reask")
        messages.append(Message("assistant", r.text))
        try:
            value = _parse(r.text)
            if _scalar_wrapped(schema):
                value = value.get("value") if isinstance(value, dict) else value
            problems = schema_errors(value, wanted if not _scalar_wrapped(schema) else schema,
                                     node.id)
        except ValueError as e:
            value, problems = None, [f"the answer is not JSON ({e})"]
        if not problems:
            if isinstance(value, dict) and "memory" in parts.values():
                value[next(p for p, k in parts.items() if k == "memory")] = \
                    _memory(node, calls.alias, messages)
            calls.metrics["reasks"] = attempt
            return engine._checked(node, value, schema)
        if attempt < REASKS:
            messages.append(Message("user", "Your answer does not fit the required schema: "
                                    + "; ".join(problems[:5])
                                    + ". Answer again with JSON that fits it exactly."))
    calls.metrics["reasks"] = REASKS
    return _Result("failed", error=f"the model's answer did not fit the type after {REASKS} "
                   f"re-asks: {problems[0]}")


# ---------------------------------------------------------------------------------- agents
def _skill_tools(plan, names: list[str]) -> tuple[list[ToolSpec], dict, list[str]]:
    """Skills with an entry command become tools; SOP-only skills' playbooks go to the
    context."""
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
            sub = _strip_schema(spec.get("schema", {}))
            if _file_schema(spec.get("schema")):
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


def _agent(engine, run, plan, node, config, scope, item, schema, calls):
    from .engine import _Result

    tools, pins, playbooks = _skill_tools(plan, config.get("skills", []))
    wanted = output_request_schema(schema, files_as_names=True)
    tools.append(ToolSpec(FINISH_TOOL, "Hand over the finished deliverable. The node ends "
                          "with exactly these values; files are named by the file a skill "
                          "produced.", wanted))
    files: dict[str, dict] = {}
    for ir in config.get("context", []):
        v = evaluate(ir, scope)
        if v is not MISSING:
            _files_in(v, files)
    sops = _sop_texts(engine, run, plan, config.get("sops", []))
    head = (f"You are the agent of the workflow step `{node.id}`.\n\nGoal: "
            f"{_template(config, 'goal', scope)}")
    instructions = _template(config, "instructions", scope)
    if instructions:
        head += f"\n\nInstructions:\n{instructions.strip()}"
    head += ("\n\nWork with the tools: each skill runs in a sandbox and returns its output. "
             f"When the deliverable is ready, call `{FINISH_TOOL}` with it: prose alone does "
             "not end the step.")
    if playbooks:
        head += "\n\nPlaybooks you follow: " + ", ".join(playbooks)
    messages = [Message("system", _system_text(head, sops, _context(config, scope))),
                Message("user", _template(config, "goal", scope))]
    max_steps = int(config.get("max_steps") or _DEFAULT_STEPS)
    budget = config.get("max_tokens")
    calls.metrics.update(steps=0, tool_calls=0)
    parts = _parts(schema)
    problem = f"it did not call `{FINISH_TOOL}` within {max_steps} steps"
    for step in range(1, max_steps + 1):
        calls.metrics["steps"] = step
        r = calls.call(ModelRequest(messages, tools=tools, tool_choice="required",
                                    temperature=config.get("temperature")), "agent_step")
        messages.append(Message("assistant", r.text, tool_calls=list(r.tool_calls)))
        if not r.tool_calls:
            messages.append(Message("user", f"Call a tool, or `{FINISH_TOOL}` with the "
                                    "deliverable."))
        for tc in r.tool_calls:
            calls.metrics["tool_calls"] += 1
            if tc.name == FINISH_TOOL:
                value, errors = _finish_value(tc.arguments, schema, parts, files, node)
                if not errors:
                    messages.append(Message("tool", "accepted", tool_call_id=tc.id))
                    if "memory" in parts.values():
                        value[next(p for p, k in parts.items() if k == "memory")] = \
                            _memory(node, calls.alias, messages)
                    return engine._checked(node, value, schema)
                messages.append(Message("tool", "Not accepted: " + "; ".join(errors[:5]),
                                        tool_call_id=tc.id))
                problem = f"its last `{FINISH_TOOL}` was not accepted: {errors[0]}"
            elif tc.name in pins:
                obs = _run_skill_tool(engine, run, plan, node, item, pins[tc.name],
                                      tc.arguments, files, step)
                messages.append(Message("tool", obs, tool_call_id=tc.id))
            else:
                messages.append(Message("tool", f"There is no tool `{tc.name}`; tools: "
                                        + ", ".join(t.name for t in tools),
                                        tool_call_id=tc.id))
        if budget and calls.tokens > int(budget):
            return _Result("failed", error=f"the agent used {calls.tokens} tokens, over its "
                           f"budget of {budget} (max_tokens), before it finished")
    return _Result("failed", error=f"the agent did not deliver: {problem}")


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
                errors.append(f"`{name}`: no file `{v}` was produced (files: "
                              f"{', '.join(sorted(files)) or 'none yet'})")
                continue
            value[name] = f
        else:
            value[name] = v
    if _scalar_wrapped(schema):
        value = value.get("value")
        errors += schema_errors(value, schema, node.id)
        return value, errors
    check = {k: s for k, s in schema.get("properties", {}).items() if parts.get(k) != "memory"}
    errors += schema_errors(value, {**schema, "properties": check,
                                    "required": [r for r in schema.get("required", [])
                                                 if parts.get(r) != "memory"]}, node.id)
    return value, errors


def _run_skill_tool(engine, run, plan, node, item, pin, args: dict, files: dict,
                    step: int) -> str:
    """One tool call: the skill's entry command in the sandbox; what the agent observes."""

    if not isinstance(args, dict):
        return "The arguments must be an object."
    known = set(pin.inputs)
    unknown = sorted(set(args) - known)
    if unknown:
        return f"Unknown argument `{unknown[0]}`; the skill takes: {', '.join(sorted(known))}."
    values = dict(args)
    for name, spec in pin.inputs.items():
        if _file_schema(spec.get("schema")) and isinstance(values.get(name), str):
            f = files.get(values[name]) or files.get(values[name].rsplit("/", 1)[-1])
            if f is None:
                return (f"`{name}` names no known file `{values[name]}` (files: "
                        f"{', '.join(sorted(files)) or 'none'}).")
            values[name] = f
        if values.get(name) is None and "default" in spec:
            values[name] = spec["default"]
    line, stdin, staged = entry_line(pin.entry, values, lambda v: v if isinstance(v, str)
                                     else json.dumps(v))
    out_dir, rel = engine._out_dir(run, node, item, f"step{step}")
    try:
        r = engine.run_shell(run, plan, node, line, stdin, staged, out_dir)
    except EvaluationError as e:  # a file that is not the run's, or fails its checks
        return f"The skill could not run: {e}"
    if not r.ok:
        return f"The skill could not run: {r.error_kind}: {r.error}"
    refused = engine._refused_outputs(r)
    if refused:
        return f"The skill could not run: {refused}"
    res = r.value if isinstance(r.value, dict) else {}
    problem = value_problem(res)
    if problem:
        return f"The skill's result cannot be used: {problem}"
    made = []
    for rec in engine.record_outputs(run.id, node.id, item, r.files, rel) if r.files else []:
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


# ------------------------------------------------------------------------------ extraction
_EXTRACT_SYSTEM = ("Fill these fields from the conversation as one JSON object; null for a "
                   "field it does not state, never guess.")


def _extract(node, config, scope, schema, calls):

    fallback = evaluate(config["fallback"], scope) if config.get("fallback") else MISSING
    fallback_text = "" if fallback is MISSING or fallback is None else \
        (fallback if isinstance(fallback, str) else _render_value(fallback))
    source = evaluate(config["from"], scope)
    parts = _parts(schema)
    fields = {k: s for k, s in schema.get("properties", {}).items()
              if k not in ("text", "extracted") and parts.get(k) not in ("memory", "file")
              and parts.get(k, "field") == "field"}
    wanted = {"type": "object", "properties": {k: _nullable(_strip_schema(v))
                                               for k, v in fields.items()},
              "required": sorted(fields), "additionalProperties": False}
    instructions = _template(config, "instructions", scope)
    spec = "; ".join(f"{k}: {_field_type(v)}" for k, v in fields.items())
    system = _EXTRACT_SYSTEM + (f" {instructions.strip()}" if instructions else "") + \
        f"\nFields: {spec}"
    # what is left of the budget after the instructions and an answer of every field
    answer = sum(estimate_tokens(f'"{k}": "a short value",') for k in fields) + 4
    window = max(60, _EXTRACT_BUDGET - estimate_tokens(system) - answer - 12)
    reason = None
    if source is MISSING or source is None:
        reason = "there is no memory to read"
    else:
        request = ModelRequest([Message("system", system),
                                Message("user", memory_window(source, window))],
                               temperature=0, max_tokens=answer * 2)
        try:
            r = calls.call(request, "extract")
            value = _parse(r.text)
            if not isinstance(value, dict):
                raise ValueError("the answer is not an object")
            value = {k: v for k, v in value.items() if k in fields}
            problems = schema_errors(value, {**wanted, "required": []}, node.id)
            if problems:
                raise ValueError(problems[0])
        except (ModelError, ValueError) as e:
            reason = str(e)
    if reason is None:
        out = {**{k: None for k in fields}, **value, "text": fallback_text, "extracted": True}
        for k, s in fields.items():  # a field with a default takes it when the model had none
            if out.get(k) is None and "default" in s:
                out[k] = s["default"]
            elif out.get(k) is None and schema_errors(None, s, k) and \
                    k not in schema.get("required", []):
                del out[k]  # left out, as its type allows
        result = _checked_extract(node, out, schema, "extracted")
        if result.status == "succeeded":
            calls.metrics["fallback"] = False
            return result
        reason = result.error
    out = {k: s["default"] if "default" in s else None for k, s in fields.items()
           if "default" in s or not schema_errors(None, s, k)}
    out = {**out, "text": fallback_text, "extracted": False}
    calls.metrics["fallback"] = True
    calls.metrics["fallback_reason"] = reason
    result = _checked_extract(node, out, schema, "fallback")
    if result.status == "succeeded":
        result.audit.append(("extract.fallback", {"node": node.id, "reason": reason}))
    return result


def _checked_extract(node, value, schema, outcome):
    from .engine import _Result

    problems = schema_errors(value, schema, node.id)
    if problems:
        return _Result("failed", error="the extracted value does not fit its type: "
                       + problems[0])
    return _Result("succeeded", value, outcome)
