"""Check a value against a JSON Schema from the plan, naming the field that does not fit.

The compiler emits a small, closed subset of JSON Schema (type, properties, required,
additionalProperties, items, enum, anyOf with null, format); this validates exactly that
subset, and its messages name the path (`review.amount`) and the expected type.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schema_errors", "coerce_text", "example_text", "describe_schema", "file_value",
           "apply_defaults", "value_problem", "field_problem", "read_field_file", "json_size",
           "is_file_schema", "MAX_DEPTH", "MAX_FIELD_BYTES"]

# What a value that crosses nodes (or goes into the store) may be: JSON's types, nested at most
# MAX_DEPTH deep (the store's encoder, the schema checker and templates recurse), at most
# MAX_ITEMS scalars and containers in all, text that encodes as UTF-8, finite numbers, whole
# numbers of at most MAX_INT_BITS bits.
MAX_DEPTH = 100
MAX_ITEMS = 1_000_000
MAX_INT_BITS = 1024
# What one value a person gives (an input, a form field, an answer) may weigh as JSON, unless
# flowc.toml says otherwise (`[values] max_field_kb`; flowc.config.DEFAULT_MAX_FIELD_BYTES)
MAX_FIELD_BYTES = 2**20

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
                shown = "".join(c if c.isprintable() else " " for c in key[:60])
                shown += "…" if len(key) > 60 else ""   # a name the model made up: bounded
                problems.append(f"`{path}.{shown}` is not a declared field")
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


def json_size(value: Any) -> int:
    """Bytes of the value's compact JSON in UTF-8 (what a limit on a field's size measures)."""
    import json

    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def size_text(n: int) -> str:
    """`312 bytes`, `4.9 KiB`, `10.0 MiB`."""
    if n < 1024:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"


def limit_text(max_bytes: int) -> str:
    """A field limit as flowc.toml writes it: `1024 KiB`."""
    return f"{max_bytes / 1024:g} KiB"


def field_problem(value: Any, max_bytes: int | None = MAX_FIELD_BYTES) -> str | None:
    """Why a value a person gives for one field (a run's input, a form field, an answer, a
    reason) cannot be taken, as the end of a sentence that starts with the field's name
    (`input `amount` ` + ...), or None. The CLI and the engine both ask it before anything is
    stored: a value that is not JSON (`value_problem`: a number that is not finite, text that
    is not UTF-8, ...), or whose JSON is bigger than `max_bytes` (None: no limit)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return f"is not a finite number ({value})"
    problem = value_problem(value)
    if problem:
        return f"cannot be used: {problem}"
    if max_bytes is None or (isinstance(value, str) and len(value) * 6 + 2 <= max_bytes):
        return None  # (a text's JSON takes at most 6 bytes a character, and its quotes)
    size = json_size(value)
    if size > max_bytes:
        return (f"is {size_text(size)}; a field may hold at most {limit_text(max_bytes)} "
                "([values] max_field_kb in flowc.toml)")
    return None


def read_field_file(path: str, max_bytes: int | None = MAX_FIELD_BYTES) -> str:
    """The text of a local file a person names for a field (`NAME=@FILE`): a regular file (a
    FIFO or device is refused without reading it), at most `max_bytes`, UTF-8. ValueError
    says what is wrong, naming the file, as a phrase to follow the field's name."""
    import os
    import stat
    from pathlib import Path

    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ValueError(f"takes the value from `{path}`, which cannot be read: no file `{path}` "
                         f"(a text that starts with `@` is written `@@{path}`)") from None
    except OSError as e:
        raise ValueError(f"takes the value from `{path}`, which cannot be read: "
                         f"{e.strerror or e}") from None
    try:
        st = os.fstat(fd)
    except OSError as e:
        os.close(fd)
        raise ValueError(f"takes the value from `{path}`, which cannot be read: "
                         f"{e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO, device or socket"
        raise ValueError(f"takes the value from `{path}`, which is {what}, not a regular file")
    with os.fdopen(fd, "rb") as f:
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"takes the value from `{path}`, which is {size_text(st.st_size)}; "
                             f"a field may hold at most "
                             f"{limit_text(max_bytes)} ([values] max_field_kb in flowc.toml)")
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:  # it grew while it was read
        raise ValueError(f"takes the value from `{path}`, which is more than "
                         f"{limit_text(max_bytes)}; a field may hold no "
                         "more ([values] max_field_kb in flowc.toml)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"takes the value from `{path}`, which is not UTF-8 text (byte "
                         f"{e.start + 1} is {data[e.start]:#04x}); for a binary file declare "
                         "the input as `file`") from None


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
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO, device or socket"
        raise ValueError(f"takes the value from `{path}`, which is {what}, not a regular file")
    return {"path": str(p.resolve()), "name": p.name}


def coerce_text(text: str, schema: dict, max_bytes: int | None = MAX_FIELD_BYTES, *,
                read_files: bool = True) -> Any:
    """A value typed on a command line (`--input n=3`, `--edit amount=12.5`, `--answer x`)
    turned into its type.

    `@PATH` takes the value from a local file (a regular file of at most `max_bytes`, UTF-8):
    for a text field the file's text exactly as it is (a final newline included, a leading
    byte-order mark dropped), for any other type the file's text, blanks around it dropped,
    read as the same text typed after `=` would be (a number, true/false, `null`, JSON for
    records and lists). `@@...` is the text `@...`. For a file field, `@FILE` (or `FILE`) is
    that file, which the runtime takes in. A value that does not fit raises ValueError with a
    phrase to follow the value's name: "is a whole number, not `abc`".

    `read_files=False` (a value that comes over the network, never from the person at this
    machine): `@` is plain text and nothing names a file; a file field is refused."""
    import json
    import math

    base = _non_null(schema)
    optional = base is not schema
    if base.get("x-flowc-file") and not read_files:
        if text == "null" and optional:
            return None
        raise ValueError("is a file: upload it")
    if base.get("x-flowc-file"):
        if text == "null" and optional:
            return None
        try:
            return file_value(text[1:] if text.startswith("@") else text)
        except ValueError as e:
            raise ValueError(f"names a file that cannot be used: {e}") from None
    source = ""
    if not read_files:
        pass
    elif text.startswith("@@"):
        text = text[1:]
    elif text.startswith("@") and len(text) > 1:
        source = f" (from {text[1:]})"
        text = read_field_file(text[1:], max_bytes).removeprefix("\ufeff")
        if base.get("type") not in ("string", None) or "enum" in base:
            text = text.strip()
    if optional and text == "null":
        return None
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
            raise ValueError(f"is not a finite number (`{shown}`){source}")
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
    return _at_files(value, schema) if read_files else value


def _non_null(schema: dict) -> dict:
    """The type an optional type (`T?`: anyOf T, null) holds; any other schema itself."""
    if "anyOf" in schema:
        return next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
    return schema


def _article(what: str) -> str:
    return "an " if what[:1] in "aeiou" else "a "


def example_text(schema: dict) -> str:
    """A value of `schema`'s type as it would be typed on a command line (for help lines)."""
    import json

    base = _non_null(schema)
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
    schema = _non_null(schema)
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
