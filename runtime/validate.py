"""Check a value against a JSON Schema from the plan, naming the field that does not fit.

The compiler emits a small, closed subset of JSON Schema (type, properties, required,
additionalProperties, items, enum, anyOf with null, format); this validates exactly that
subset, and its messages name the path (`review.amount`) and the expected type.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schema_errors", "coerce_text", "describe_schema", "file_value", "apply_defaults"]

_TYPES = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
    "array": list, "null": type(None),
}


def describe_schema(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(describe_schema(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    t = schema.get("type")
    if t == "array":
        return f"list of {describe_schema(schema.get('items', {}))}"
    if schema.get("x-flowc-file"):
        return f"file<{schema['x-flowc-file']}>"
    return {"string": "text", "integer": "whole number", "number": "number",
            "boolean": "true/false", "object": "record", "null": "nothing"}.get(t, "any value")


def schema_errors(value: Any, schema: dict, path: str = "value") -> list[str]:
    """Problems with `value` against `schema`: empty when it fits."""
    if not schema:
        return []
    if "anyOf" in schema:
        if any(not schema_errors(value, s, path) for s in schema["anyOf"]):
            return []
        return [f"`{path}` should be {describe_schema(schema)}, got {_show(value)}"]
    if "enum" in schema:
        return [] if value in schema["enum"] else \
            [f"`{path}` should be {describe_schema(schema)}, got {_show(value)}"]
    t = schema.get("type")
    if t is not None:
        py = _TYPES[t]
        ok = isinstance(value, py) and not (t in ("integer", "number") and isinstance(value, bool))
        if not ok:
            return [f"`{path}` should be {describe_schema(schema)}, got {_show(value)}"]
    problems: list[str] = []
    if t == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"`{path}.{key}` is missing")
        for key, v in value.items():
            if key in props:
                problems += schema_errors(v, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"`{path}.{key}` is not a declared field")
    if t == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            problems += schema_errors(item, schema.get("items", {}), f"{path}[{i}]")
    return problems


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def apply_defaults(value: Any, schema: dict) -> Any:
    """`value` with the record fields it leaves out filled from their declared defaults
    (`currency: str = "EUR"`), at any depth; a copy where anything changes."""
    if not schema:
        return value
    if "anyOf" in schema:
        for sub in schema["anyOf"]:
            if (sub.get("type") == "object" and isinstance(value, dict)) or \
                    (sub.get("type") == "array" and isinstance(value, list)):
                return apply_defaults(value, sub)
        return value
    if isinstance(value, dict) and "properties" in schema:
        out = None
        for key, sub in schema["properties"].items():
            if key not in value:
                if "default" in sub:
                    out = dict(value) if out is None else out
                    out[key] = sub["default"]
                continue
            filled = apply_defaults(value[key], sub)
            if filled is not value[key]:
                out = dict(value) if out is None else out
                out[key] = filled
        return value if out is None else out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = [apply_defaults(v, schema["items"]) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


def file_value(path: str) -> dict:
    """A local file as a file value (`path`, `name`, `sha256`, `size`), for `--input f=@FILE`."""
    import hashlib
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"no file `{path}`")
    data = p.read_bytes()
    return {"path": str(p.resolve()), "name": p.name, "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def coerce_text(text: str, schema: dict) -> Any:
    """A value typed on a command line (`--edit amount=12.5`) turned into the field's type."""
    import json

    base = schema
    if "anyOf" in schema:
        base = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
        if text == "null":
            return None
    if base.get("x-flowc-file"):
        return file_value(text[1:] if text.startswith("@") else text)
    t = base.get("type")
    if t == "string" or "enum" in base:
        return text
    if t == "integer":
        return int(text)
    if t == "number":
        return float(text)
    if t == "boolean":
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(f"not true/false: {text!r}")
    return _at_files(json.loads(text), schema)


def _at_files(value: Any, schema: dict) -> Any:
    """Inside a JSON value typed on a command line, `"@path"` where a file goes is that file."""
    if not isinstance(schema, dict):
        return value
    if "anyOf" in schema:
        for sub in schema["anyOf"]:
            if sub.get("type") != "null":
                return _at_files(value, sub)
        return value
    if schema.get("x-flowc-file") and isinstance(value, str) and value.startswith("@"):
        return file_value(value[1:])
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _at_files(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [_at_files(v, schema.get("items", {})) for v in value]
    return value
