"""Response schemas as the providers accept them.

A flowc deliverable schema carries `x-flowc-*` extensions and `title`s that the APIs reject or
ignore; structured output wants an object at the root; OpenAI's strict mode wants every object
closed (`additionalProperties: false`) with every property required. `prepare_schema` makes
the schema to send and `PreparedSchema.decode` turns the model's JSON back into the shape of
the original schema:

- `x-flowc-*`, `title`, `$schema`, `$id`, `examples` and `default` are removed;
- a root that is not an object is wrapped as `{"value": ...}` and unwrapped on the way back;
- strict mode (when asked): optional properties become required-but-nullable and a `null`
  the model gives for one is removed again; constraint keywords strict mode does not support
  (`minLength`, `uniqueItems`, ...) are dropped (the engine validates the answer against the
  full schema anyway). A schema strict mode cannot express (free-form `{}` values, maps,
  `allOf`, `not`) is sent non-strict.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["PreparedSchema", "clean_schema", "prepare_schema", "tool_name"]

_DROP = {"title", "$schema", "$id", "examples", "default"}
_STRICT_KEYS = {"type", "properties", "required", "additionalProperties", "items", "enum",
                "const", "anyOf", "description", "format", "pattern", "minimum", "maximum",
                "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
                "$ref", "$defs", "definitions"}
_STRICT_DROPPABLE = {"minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties",
                     "contains", "minContains", "maxContains", "contentEncoding",
                     "contentMediaType", "deprecated", "readOnly", "writeOnly", "$comment"}
_VALUE = "value"


def tool_name(name: str) -> str:
    """A name the APIs accept for a tool or schema (letters, digits, `_`, `-`; at most 64)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name or "")[:64]
    return cleaned or "deliverable"


def _subschemas(node: dict[str, Any], fn) -> dict[str, Any]:
    """A copy of `node` with `fn` applied to every direct subschema."""
    out = dict(node)
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        if isinstance(node.get(key), dict):
            out[key] = {k: fn(v) for k, v in node[key].items()}
    for key in ("items", "additionalProperties", "not", "contains", "if", "then", "else"):
        if isinstance(node.get(key), dict):
            out[key] = fn(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            out[key] = [fn(v) for v in node[key]]
    return out


def clean_schema(schema: Any) -> Any:
    """The schema without flowc's extensions and the annotations the APIs reject."""
    if not isinstance(schema, dict):
        return schema
    node = {k: v for k, v in schema.items() if k not in _DROP and not k.startswith("x-flowc")}
    return _subschemas(node, clean_schema)


def _is_object(node: dict[str, Any]) -> bool:
    t = node.get("type")
    return t == "object" or (t is None and "properties" in node)


def _nullable(node: dict[str, Any]) -> bool:
    t = node.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    if "enum" in node and None in node["enum"]:
        return True
    return any(isinstance(b, dict) and _nullable(b) for b in node.get("anyOf", []) or [])


class _NotStrict(Exception):
    pass


def _strict(node: Any) -> Any:
    if not isinstance(node, dict):
        raise _NotStrict
    node = {k: v for k, v in node.items() if k not in _STRICT_DROPPABLE}
    if "oneOf" in node:   # exclusive alternatives: anyOf is what strict mode has
        node["anyOf"] = node.pop("oneOf")
    if set(node) - _STRICT_KEYS:
        raise _NotStrict
    if not ({"type", "anyOf", "enum", "const", "$ref"} & set(node)):
        raise _NotStrict   # `{}`: any value
    if _is_object(node):
        props = node.get("properties")
        extra = node.get("additionalProperties", False)
        if not isinstance(props, dict) or not props or extra not in (False, None):
            raise _NotStrict   # a map or a free-form object
        required = set(node.get("required", []))
        new_props = {}
        for name, sub in props.items():
            sub = _strict(sub)
            if name not in required and not _nullable(sub):
                sub = {"anyOf": [sub, {"type": "null"}]}
            new_props[name] = sub
        node.update(type="object", properties=new_props, required=list(props),
                    additionalProperties=False)
        return {**node, **{k: {n: _strict(s) for n, s in node[k].items()}
                           for k in ("$defs", "definitions") if isinstance(node.get(k), dict)}}
    if isinstance(node.get("items"), dict):
        node["items"] = _strict(node["items"])
    elif "items" in node:
        raise _NotStrict
    if "anyOf" in node:
        node["anyOf"] = [_strict(b) for b in node["anyOf"]]
    for k in ("$defs", "definitions"):
        if isinstance(node.get(k), dict):
            node[k] = {n: _strict(s) for n, s in node[k].items()}
    return node


def _drop_optional_nulls(value: Any, schema: Any) -> Any:
    """Remove the nulls strict mode forced into properties the original schema left optional."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict) and _is_object(schema):
        props = schema.get("properties") or {}
        required = set(schema.get("required", []))
        out = {}
        for k, v in value.items():
            sub = props.get(k)
            if v is None and k not in required and isinstance(sub, dict) and not _nullable(sub):
                continue
            out[k] = _drop_optional_nulls(v, sub)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_drop_optional_nulls(v, schema["items"]) for v in value]
    if isinstance(value, dict):
        for branch in schema.get("anyOf", []) or schema.get("oneOf", []) or []:
            if isinstance(branch, dict) and _is_object(branch):
                return _drop_optional_nulls(value, branch)
    return value


@dataclass(frozen=True)
class PreparedSchema:
    """The schema to send (`schema`, strict-compatible when `strict`) and how to read the
    answer back into the shape of `original`."""

    name: str
    schema: dict[str, Any]
    strict: bool
    wrapped: bool
    original: dict[str, Any]

    def decode(self, text: str) -> str:
        """The answer as compact JSON of the original shape (the text itself when it is not
        JSON: the engine reports that and re-asks)."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            return text
        if self.wrapped:
            if not isinstance(value, dict) or _VALUE not in value:
                return text
            value = value[_VALUE]
        if self.strict:
            value = _drop_optional_nulls(value, self.original)
        return json.dumps(value, ensure_ascii=False)

    def unwrap(self, value: Any) -> str:
        """`decode` for an answer that is already parsed (a tool's input)."""
        return self.decode(json.dumps(value, ensure_ascii=False))


def prepare_schema(schema: dict[str, Any], name: str = "deliverable", *,
                   strict: bool = False) -> PreparedSchema:
    """The schema for a structured-output request (see the module docstring)."""
    original = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    cleaned = clean_schema(original)
    wrapped = not _is_object(cleaned)
    if wrapped:
        cleaned = {"type": "object", "properties": {_VALUE: cleaned}, "required": [_VALUE],
                   "additionalProperties": False}
        original = {"type": "object", "properties": {_VALUE: original}, "required": [_VALUE]}
    if strict:
        try:
            return PreparedSchema(tool_name(name), _strict(cleaned), True, wrapped,
                                  original if not wrapped else original["properties"][_VALUE])
        except _NotStrict:
            pass
    return PreparedSchema(tool_name(name), cleaned, False, wrapped,
                          original if not wrapped else original["properties"][_VALUE])
