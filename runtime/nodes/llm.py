"""`llm` nodes: one model call (system + SOPs + context + prompt).

A `Reply` answer is the text as it comes; any other type is asked for as structured output,
and an answer that does not fit is sent back with the problems, at most `REASKS` times (a
cut-off answer, `finish_reason: length`, is named as such and asked for shorter; the model's
`reask_temperature` in flowc.toml, when set, is the re-asks' temperature). With the model's
`structured_output = "none"` the schema goes in the prompt instead of `response_format`.
"""

from __future__ import annotations

import json

from ..expressions import Scope
from ..validate import schema_errors
from .base import NodeContext, NodeKind, NodeResult, checked
from .model import (
    ModelCalls,
    context_blocks,
    cut_off,
    deliverable_parts,
    memory_of,
    model_setting,
    output_request_schema,
    parse_answer,
    run_model_node,
    scalar_wrapped,
    sop_texts,
    structured_output,
    system_text,
    template_text,
)

__all__ = ["KIND", "REASKS"]

REASKS = 2                 # an llm's answer that does not fit its type is sent back at most twice


def _is_reply(schema: dict) -> bool:
    """A plain text answer (the `Reply` type, or a deliverable with only text and memory)."""
    parts = deliverable_parts(schema)
    return bool(parts) and set(parts.values()) <= {"text", "memory"} and \
        list(parts.values()).count("text") == 1


def _llm(node, config: dict, scope: Scope, ctx: NodeContext, schema: dict,
         calls: ModelCalls) -> NodeResult:
    from ..models.base import Message, ModelRequest

    sops = sop_texts(ctx, config.get("sops", []))
    system = system_text(template_text(config, "system", scope), sops,
                         context_blocks(config, scope))
    messages = ([Message("system", system)] if system else []) + \
        [Message("user", template_text(config, "prompt", scope))]
    common = {"temperature": config.get("temperature"), "max_tokens": config.get("max_tokens")}
    parts = deliverable_parts(schema)
    if _is_reply(schema):
        r = calls.call(ModelRequest(messages, **common), "llm")
        messages.append(Message("assistant", r.text))
        text_part = next(p for p, k in parts.items() if k == "text")
        value = {text_part: r.text}
        if "memory" in parts.values():
            value[next(p for p, k in parts.items() if k == "memory")] = \
                memory_of(node, calls.alias, messages)
        return checked(node, value, schema)
    wanted = output_request_schema(schema)
    if [k for k in parts.values() if k == "file"] and any(
            p in schema.get("required", []) for p, k in parts.items() if k == "file"):
        return NodeResult("failed", error="an llm node cannot produce files; use an agent "
                          "with a skill that writes them")
    structured = structured_output(ctx, calls.alias)
    if not structured:  # the schema goes in the prompt instead
        messages[-1] = Message("user", messages[-1].content + "\n\nAnswer with one JSON "
                               "object (nothing else) that fits this JSON Schema:\n"
                               + json.dumps(wanted, ensure_ascii=False))
    problems: list[str] = []
    reask_temperature = config.get("reask_temperature", model_setting(ctx, calls.alias,
                                                                      "reask_temperature"))
    for attempt in range(REASKS + 1):
        r = calls.call(ModelRequest(messages, response_schema=wanted if structured else None,
                                    schema_name=schema.get("title") or "deliverable", **common),
                       "llm" if attempt == 0 else "reask")
        messages.append(Message("assistant", r.text))
        try:
            value = parse_answer(r.text)
            if scalar_wrapped(schema):
                value = value.get("value") if isinstance(value, dict) else value
            problems = schema_errors(value, wanted if not scalar_wrapped(schema) else schema,
                                     node.id)
        except ValueError as e:
            value, problems = None, [f"the answer is not JSON ({e})"]
            if r.finish_reason == "length":
                problems = [cut_off(r)]
        if not problems:
            if isinstance(value, dict) and "memory" in parts.values():
                value[next(p for p, k in parts.items() if k == "memory")] = \
                    memory_of(node, calls.alias, messages)
            calls.metrics["reasks"] = attempt
            return checked(node, value, schema)
        if attempt < REASKS:
            if r.finish_reason == "length" and value is None:
                feedback = ("Your answer was cut off at the token limit before the JSON was "
                            "complete. Answer again with a shorter answer: complete JSON that "
                            "fits the schema, short string values, nothing else.")
            else:
                feedback = ("Your answer does not fit the required schema: "
                            + "; ".join(problems[:5])
                            + ". Answer again with JSON that fits it exactly.")
            messages.append(Message("user", feedback))
            if reask_temperature is not None:
                common["temperature"] = reask_temperature
    calls.metrics["reasks"] = REASKS
    if r.finish_reason == "length" and value is None:
        return NodeResult("failed", error=f"the model's answer was {problems[0]} (after "
                          f"{REASKS} re-asks)")
    return NodeResult("failed", error=f"the model's answer did not fit the type after "
                      f"{REASKS} re-asks: {problems[0]}")


def execute(node, config: dict, scope: Scope, ctx: NodeContext) -> NodeResult:
    return run_model_node(_llm, node, config, scope, ctx)


KIND = NodeKind("llm", execute, model=True)
