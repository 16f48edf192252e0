"""Check a value against a JSON Schema from the plan, naming the field that does not fit.

The compiler emits a small, closed subset of JSON Schema (type, properties, required,
additionalProperties, items, enum, anyOf with null, format); this validates exactly that
subset, and its messages name the path (`review.amount`) and the expected type.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schema_errors", "coerce_text", "example_text", "describe_schema", "file_value", "apply_defaults",
           "value_problem", "is_file_schema", "MAX_DEPTH"]

# What a value that crosses nodes (or goes into the store) may be: JSON's types, nested at most
# MAX_DEPTH deep (the store's encoder, the schema checker and templates recurse), at most
# MAX_ITEMS scalars and containers in all, text that encodes as UTF-8, finite numbers, whole
# numbers of at most MAX_INT_BITS bits.
MAX_DEPTH = 100
MAX_ITEMS = 1_000_000
MAX_INT_BITS = 1024

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
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlong = 3, 60, 60, 60
    try:
        text = r.repr(value)
    except (RecursionError, ValueError):  # ValueError: an int too long to print
        text = f"a {type(value).__name__}"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) < 60 else text[:57] + "..."


def value_problem(value: Any) -> str | None:
    """Why `value` cannot cross nodes or be stored, or None: nested more than MAX_DEPTH deep,
    more than MAX_ITEMS parts, text that does not encode as UTF-8 (a lone surrogate), a
    number that is not finite or a whole number too large, a type JSON does not have. Walks
    the value without recursion, so any value can be checked."""
    import math

    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        v, depth = stack.pop()
        seen += 1
        if seen > MAX_ITEMS:
            return f"it has more than {MAX_ITEMS} parts"
        t = type(v)
        if v is None or t is bool:
            continue
        if t is str or isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return f"its text {_show(v)} does not encode as UTF-8"
            continue
        if isinstance(v, int):
            if v.bit_length() > MAX_INT_BITS:
                return f"a whole number in it is too large ({v.bit_length()} bits)"
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                return f"{v} in it is not a finite number"
            continue
        if isinstance(v, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                return f"it is nested more than {MAX_DEPTH} levels deep"
            if isinstance(v, dict):
                for k, item in v.items():
                    if isinstance(k, str):
                        try:
                            k.encode("utf-8")
                        except UnicodeEncodeError:
                            return f"its key {_show(k)} does not encode as UTF-8"
                    elif not (k is None or isinstance(k, (int, float, bool))):
                        return f"a key of type {type(k).__name__} is not a JSON value"
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in v)
            continue
        return f"a {type(v).__name__} is not a JSON value"
    return None


def is_file_schema(schema: Any) -> bool:
    """A file type (`file`, `file<csv>`), or an optional one."""
    if not isinstance(schema, dict):
        return False
    if schema.get("x-flowc-file"):
        return True
    return any(is_file_schema(s) for s in schema.get("anyOf", ()))


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
    """A file a person names (`--input f=@FILE`, `--edit f=@FILE`) as a file value to hand to
    the runtime: `path` and `name`. The runtime reads it (through the project's protocol
    allowlist, `[files] protocols` in flowc.toml), checks it and copies it into the run;
    later steps never go back to this path. A local file must exist and be a regular file
    (it is not opened here: a FIFO or device is refused without reading it)."""
    import os
    import stat
    from pathlib import Path

    if "://" in path or "::" in path:  # an fsspec URL: the runtime checks its protocols
        return {"path": path, "name": path.rstrip("/").rsplit("/", 1)[-1] or "file"}
    p = Path(path).expanduser()
    try:
        st = os.stat(p)
    except OSError:
        raise ValueError(f"no file `{path}`") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"`{path}` is not a regular file")
    return {"path": str(p.resolve()), "name": p.name}


def coerce_text(text: str, schema: dict) -> Any:
    """A value typed on a command line (`--input n=3`, `--edit amount=12.5`, `--answer x`)
    turned into its type. `@PATH` takes the value from the file at PATH: a file value for a
    file type, the file's text for `str`, its text parsed for a number, `true`/`false` or a
    record or list (JSON); `@@...` stands for a text that starts with `@`. A value that does
    not fit raises ValueError with a phrase to follow the value's name: "is a whole number,
    not `abc`"."""
    import json
    import math

    base = schema
    if "anyOf" in schema:
        base = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
        if text == "null":
            return None
    if base.get("x-flowc-file"):
        try:
            return file_value(text[1:] if text.startswith("@") else text)
        except ValueError as e:
            raise ValueError(f"names a file that cannot be used: {e}") from None
    source = ""
    if text.startswith("@@"):
        text = text[1:]
    elif text.startswith("@") and len(text) > 1:
        source = f" (from {text[1:]})"
        text = _file_text(text[1:])
        if base.get("type") not in ("string", None) or "enum" in base:
            text = text.strip()
    t = base.get("type")
    want = describe_schema(schema)
    shown = text if len(text) <= 40 else text[:37] + "..."
    if "enum" in base:
        if text not in base["enum"]:
            raise ValueError(f"is {want}, not `{shown}`{source}")
        return text
    if t == "string":
        return text
    if t in ("integer", "number"):
        try:
            value = int(text) if t == "integer" else float(text)
        except ValueError:
            raise ValueError(f"is a {want}, not `{shown}`{source}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"is a finite number, not `{shown}`{source}")
        return value
    if t == "boolean":
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(f"is true or false, not `{shown}`{source}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"is {want} written as JSON; this JSON is nested too deeply"
                         f"{source}") from None
    except ValueError as e:
        raise ValueError(f"is {_article(want)}{want} written as JSON, and `{shown}` is not "
                         f"JSON ({e.msg} at character {e.pos + 1}){source}") from None
    return _at_files(value, schema)


def _article(what: str) -> str:
    return "an " if what[:1] in "aeiou" else "a "


def _file_text(path: str) -> str:
    """The text of a file a person names with `@PATH` for a value that is not a file."""
    from pathlib import Path

    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise ValueError(f"takes the value from `{path}`, which is a folder, not a file") \
            from None
    except OSError as e:
        raise ValueError(f"takes the value from `{path}`, which cannot be read: "
                         f"{e.strerror or e} (a text that starts with `@` is written "
                         f"`@@{path}`)") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise ValueError(f"takes the value from `{path}`, which is not UTF-8 text (byte "
                         f"{e.start + 1}); for a binary file declare the input as `file`") \
            from None


def example_text(schema: dict) -> str:
    """A value of `schema`'s type as it would be typed on a command line (for help lines)."""
    import json

    base = schema
    if "anyOf" in schema:
        base = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
    if base.get("x-flowc-file"):
        return "@path/to/file"
    if "enum" in base:
        return str(base["enum"][0])
    t = base.get("type")
    if t in ("string", "integer", "number", "boolean"):
        return {"string": "text", "integer": "42", "number": "12.5", "boolean": "true"}[t]
    value = _example_value(base, 0)
    text = json.dumps(value, ensure_ascii=False)
    return "'" + text + "'"


def _example_value(schema: dict, depth: int) -> Any:
    if "anyOf" in schema:
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    if schema.get("x-flowc-file"):
        return "@path/to/file"
    if t == "object" and depth < 2:
        props = schema.get("properties", {})
        required = schema.get("required", list(props))
        return {k: _example_value(props[k], depth + 1) for k in list(props)
                if k in required}
    if t == "array" and depth < 2:
        return [_example_value(schema.get("items", {}), depth + 1)]
    return {"string": "text", "integer": 42, "number": 12.5, "boolean": True,
            "object": {}, "array": []}.get(t, "text")


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
