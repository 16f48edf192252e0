"""`extract` nodes: fields read from another node's memory (its conversation) by one small call.

The call reads a bounded window of the memory and answers a JSON object of the fields (a
compact field list, not a JSON Schema: a 20-field form stays under 500 tokens), checked
against the type; anything wrong (a model error, invalid output) falls back to the declared
text, with the outcome `fallback`, and the run goes on. The fields' JSON Schema also goes to the
model as structured output (`response_format`): always with the model's `structured_output =
"json_schema"`, never with "none", and in "auto" when it fits the budget beside a minimal memory
window (a large form keeps to the compact list; the node's metrics say which).
"""

from __future__ import annotations

from ..expressions import MISSING, Scope, evaluate
from ..validate import describe_schema, schema_errors
from .base import NodeContext, NodeKind, NodeResult
from .model import (
    ModelCalls,
    capability,
    deliverable_parts,
    memory_window,
    model_setting,
    parse_answer,
    render_value,
    run_model_node,
    strip_schema,
    template_text,
)

__all__ = ["KIND"]

# An extraction call stays small: a compact field list instead of a JSON Schema, and a memory
# window that shrinks as the form grows, so a 20-field form stays under 500 tokens in all.
_EXTRACT_BUDGET = 480


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


_EXTRACT_SYSTEM = ("Fill these fields from the conversation as one JSON object; null for a "
                   "field it does not state, never guess.")


def _extract(node, config: dict, scope: Scope, ctx: NodeContext, schema: dict,
             calls: ModelCalls) -> NodeResult:
    from ..models.base import Message, ModelError, ModelRequest
    from ..models.tokens import estimate_json_tokens, estimate_tokens

    fallback = evaluate(config["fallback"], scope) if config.get("fallback") else MISSING
    fallback_text = "" if fallback is MISSING or fallback is None else \
        (fallback if isinstance(fallback, str) else render_value(fallback))
    source = evaluate(config["from"], scope)
    parts = deliverable_parts(schema)
    fields = {k: s for k, s in schema.get("properties", {}).items()
              if k not in ("text", "extracted") and parts.get(k) not in ("memory", "file")
              and parts.get(k, "field") == "field"}
    wanted = {"type": "object", "properties": {k: _nullable(strip_schema(v))
                                               for k, v in fields.items()},
              "required": sorted(fields), "additionalProperties": False}
    instructions = template_text(config, "instructions", scope)
    spec = "; ".join(f"{k}: {_field_type(v)}" for k, v in fields.items())
    system = _EXTRACT_SYSTEM + (f" {instructions.strip()}" if instructions else "") + \
        f"\nFields: {spec}"
    # what is left of the budget after the instructions and an answer of every field
    answer = sum(estimate_tokens(f'"{k}": "a short value",') for k in fields) + 4
    # the schema as structured output: always when the model's `structured_output` says
    # "json_schema"; in "auto" when it fits the budget beside a minimal memory window
    setting = model_setting(ctx, calls.alias, "structured_output", "auto")
    if setting == "auto" and capability(ctx, calls.alias, "structured_output") == "none":
        setting = "none"  # the saved probe found no structured output
    schema_cost = estimate_json_tokens(wanted)
    room = _EXTRACT_BUDGET - estimate_tokens(system) - answer - 12
    structured = setting == "json_schema" or (setting == "auto" and room - schema_cost >= 60)
    calls.metrics["structured_output"] = structured
    window = max(60, room - (schema_cost if structured else 0))
    reason = None
    if source is MISSING or source is None:
        reason = "there is no memory to read"
    else:
        request = ModelRequest([Message("system", system),
                                Message("user", memory_window(source, window))],
                               temperature=0, max_tokens=answer * 2,
                               response_schema=wanted if structured else None,
                               schema_name="extracted_fields")
        try:
            r = calls.call(request, "extract")
            value = parse_answer(r.text)
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


def _checked_extract(node, value, schema, outcome) -> NodeResult:
    problems = schema_errors(value, schema, node.id)
    if problems:
        return NodeResult("failed", error="the extracted value does not fit its type: "
                          + problems[0])
    return NodeResult("succeeded", value, outcome)


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    return run_model_node(_extract, node, config, scope, ctx)


KIND = NodeKind("extract", execute, model=True)
