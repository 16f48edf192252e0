"""What the model-backed nodes share (`llm`, `agent`, `extract`: one module each).

Each execution makes its model calls through the engine's `Models` (config aliases, record and
replay), records every exchange in the store as it happens (`model_calls`: traces, cost and
error replay), and ends with a value checked against the node's type plus per-node figures
(`metrics`: model, tokens, cost, steps). The node's memory snapshot is its conversation.

Here: the calls of one execution (`ModelCalls`), the context a prompt carries (SOPs checked
against the plan, context values, templates), what a model is asked to produce for a type,
the memory window an extraction reads, and `run_model_node`, the frame every model node runs
in (the `{sop}` reader, the figures, a model error as the node's failure).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..expressions import MISSING, EvaluationError, Scope, evaluate, render_template
from ..skillrun import is_file_value
from ..store import ModelCallRecord, model_call_row
from .base import NodeContext, NodeResult, item_schema

if TYPE_CHECKING:
    from ..models.base import Message, ModelRequest

__all__ = ["ModelCalls", "run_model_node", "memory_window", "output_request_schema",
           "strip_schema", "file_schema", "deliverable_parts", "scalar_wrapped", "render_value",
           "sop_texts", "system_text", "context_blocks", "template_text", "memory_of",
           "parse_answer", "cut_off", "model_setting", "capability", "structured_output"]

_CONTEXT_CHARS = 12000     # per context item
_WINDOW_TOKENS = 240       # the memory window an extraction reads (estimated tokens)


# ---------------------------------------------------------------------------- helpers
def strip_schema(schema: Any) -> Any:
    """A plan schema without flowc's extensions (providers reject unknown keywords)."""
    if isinstance(schema, dict):
        return {k: strip_schema(v) for k, v in schema.items()
                if not k.startswith("x-flowc") and k != "title"}
    if isinstance(schema, list):
        return [strip_schema(v) for v in schema]
    return schema


def file_schema(schema: Any) -> bool:
    """A file type, or an optional one."""
    if not isinstance(schema, dict):
        return False
    return bool(schema.get("x-flowc-file")) or any(file_schema(s)
                                                     for s in schema.get("anyOf", []))


def deliverable_parts(schema: dict) -> dict[str, str]:
    """The deliverable's parts and their kinds (`text`, `field`, `file`, `memory`)."""
    return schema.get("x-flowc-deliverable", {})


def output_request_schema(schema: dict, *, files_as_names: bool = False) -> dict:
    """What a model is asked to produce for a type: the memory part left out (the runtime
    fills it), file parts left out or, for an agent, named by the file a skill produced."""
    parts = deliverable_parts(schema)
    if schema.get("type") != "object" or "properties" not in schema:
        return {"type": "object", "properties": {"value": strip_schema(schema)},
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
        props[name] = strip_schema(sub)
        if name in schema.get("required", []):
            required.append(name)
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


def scalar_wrapped(schema: dict) -> bool:
    """A type asked for wrapped as `{"value": ...}` (not an object with properties)."""
    return schema.get("type") != "object" or "properties" not in schema


_HOST_ONLY = ("file_id", "path")  # a file's handle and where this host keeps it


def for_model(value: Any) -> Any:
    """`value` as a model sees it: a file by its name, type, size and digest, never the
    runtime's handle or this host's path (the model names files by name; a prompt must not
    change when the same run is replayed in another folder)."""
    if isinstance(value, dict):
        if is_file_value(value):
            return {k: v for k, v in value.items() if k not in _HOST_ONLY}
        return {k: for_model(v) for k, v in value.items()}
    if isinstance(value, list):
        return [for_model(v) for v in value]
    return value


def render_value(value: Any, limit: int = _CONTEXT_CHARS) -> str:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "memory"}
    value = for_model(value)
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
    from ..models.tokens import estimate_tokens

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
        lines = render_value(memory, 20000).splitlines()
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
class ModelCalls:
    """The model calls of one node execution: keyed for replay, recorded in the store."""

    def __init__(self, ctx: NodeContext, node, alias: str):
        self.host, self.run, self.node, self.item, self.alias = ctx.host, ctx.run, node, \
            ctx.item, alias
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
        from ..models.base import CallKey, ModelError

        self.seq += 1
        key = CallKey(self.node.id, self.item, 1, self.seq, purpose)
        try:
            call = self.host.models.complete(self.alias, request, key)
        except ModelError as e:
            failed = getattr(e, "call", None)
            if self.host.trace:
                self.host.keep_model_call(
                    failed.to_record(self.run.id) if failed is not None else ModelCallRecord(
                        self.run.id, self.node.id, self.item, self.seq, 1, purpose, "-",
                        self.alias, "-", request.to_json(), None, str(e), 0, 0, 0.0,
                        time.time(), time.time()))
            raise
        if self.host.trace:
            self.host.keep_model_call(model_call_row(self.run.id, call,
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
def sop_texts(ctx: NodeContext, names: list[str]) -> list[tuple[str, str]]:
    """The chosen SOP entries' text, each checked against the hash the plan recorded."""
    run, plan = ctx.run, ctx.plan
    base = Path(run.base_dir) if getattr(run, "base_dir", None) else ctx.host.base_dir
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


def system_text(head: str, sops: list[tuple[str, str]], context: list[tuple[str, str]]) -> str:
    """The system prompt: the head, then each SOP's text, then each context value."""
    blocks = [head.strip()] if head.strip() else []
    for name, text in sops:
        blocks.append(f"## Standard operating procedure `{name}`\n\n{text.strip()}")
    for name, text in context:
        blocks.append(f"## Context: `{name}`\n\n{text}")
    return "\n\n".join(blocks)


def context_blocks(config: dict, scope) -> list[tuple[str, str]]:
    """The node's `context` values (name, text), those a skipped producer left out dropped."""
    out = []
    for ir in config.get("context", []):
        value = evaluate(ir, scope)
        if value is MISSING:
            continue  # a skipped producer: nothing to show
        out.append((_ref_name(ir), render_value(value)))
    return out


def template_text(config: dict, key: str, scope) -> str:
    """A prompt setting's text: its template rendered, or its expression's value."""
    v = config.get(key)
    if v is None:
        return ""
    return render_template(v["template"], scope) if isinstance(v, dict) and "template" in v \
        else str(evaluate(v, scope))


def memory_of(node, alias: str, messages: list[Message]) -> dict:
    """The node's memory snapshot: its conversation."""
    return {"node": node.id, "kind": node.kind, "model": alias,
            "messages": [m.to_json() for m in messages]}


# ----------------------------------------------------------------------------- entry point
# one model node kind's own work: (node, config, scope, ctx, schema, calls) -> its result
ModelWork = Callable[[Any, dict, Scope, NodeContext, dict, ModelCalls], NodeResult]


def run_model_node(work: ModelWork, node, config: dict, scope: Scope,
                   ctx: NodeContext) -> NodeResult:
    """Execute a model node: `work` with the node's calls, `{sop}` readable in its
    templates; a model error fails the node; the calls' figures go with the result."""
    from ..models.base import ModelError

    alias = config.get("model") or "default"
    calls = ModelCalls(ctx, node, alias)
    if scope.sop_text is None:  # `{sop}` in a template reads the SOP's text
        scope = Scope(scope.inputs, scope.nodes, scope.variables, lambda name: "\n\n".join(
            text for _, text in sop_texts(ctx, [name])))
    try:
        result = work(node, config, scope, ctx, item_schema(node, ctx.item), calls)
    except ModelError as e:
        result = NodeResult("failed", error=str(e))
    result.metrics = calls.metrics
    return result


def parse_answer(text: str) -> Any:
    """A model's JSON answer (fenced or not); ValueError when it is not JSON."""
    text = text.strip()
    if text.startswith("```"):  # a fenced answer from a model without structured output
        text = text.strip("`")
        text = text[text.find("\n") + 1:] if "\n" in text else text
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None




def cut_off(r) -> str:
    """What a cut-off answer (`finish_reason: length`) is, and the fix."""
    return (f"cut off at the token limit (finish_reason `length`, {r.usage.completion_tokens} "
            "completion tokens): raise `max_tokens` on the node or in flowc.toml")


def model_setting(ctx: NodeContext, alias: str, name: str, default: Any = None) -> Any:
    """A setting of the model `alias` in flowc.toml (`default` when it is not configured)."""
    models = getattr(ctx.host, "models", None)
    config = getattr(getattr(models, "config", None), "models", None) or {}
    cfg = config.get(alias)
    return getattr(cfg, name, default) if cfg is not None else default


def capability(ctx: NodeContext, alias: str, name: str) -> str:
    """A capability setting of the model (`structured_output`, `agent_steps`): flowc.toml's
    value, its "auto" replaced by what `flowc models check --save` found when it did."""
    value = model_setting(ctx, alias, name, "auto")
    if value != "auto":
        return value
    from ..models.probe import saved_choice

    config = getattr(getattr(ctx.host, "models", None), "config", None)
    cfg = getattr(config, "models", {}).get(alias) if config is not None else None
    if cfg is None:
        return value
    return saved_choice(config.root, cfg, name) or value


def structured_output(ctx: NodeContext, alias: str) -> bool:
    """Whether a response schema goes to the model as structured output (else in the prompt)."""
    return capability(ctx, alias, "structured_output") != "none"
