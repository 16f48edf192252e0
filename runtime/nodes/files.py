"""The files a node execution reads and writes: handles of the run's files staged into a
sandbox (checked), the files an execution wrote recorded as file values, and where they go.
"""

from __future__ import annotations

from typing import Any

from ..expressions import EvaluationError
from .base import NodeContext, clean_text, item_schema

__all__ = ["FileNotStaged", "open_file", "stage", "record_outputs", "out_dir",
           "refused_outputs", "file_parts"]


class FileNotStaged(EvaluationError):
    """A file value that cannot be handed to a node: not a file of this run, or its file
    fails a check (changed, over the size limit, not a regular file, a link out)."""


def open_file(ctx: NodeContext, value: Any, what: str):
    """The record and the checked content of the file a handle names: one of this run's
    files (or its parent's or child flow runs'), read from its place in the workspace
    (FileNotStaged names what is wrong). Anything else is not a file."""
    from ..sandbox.files import FileRefused, read_checked

    fid = value.get("file_id") if isinstance(value, dict) else None
    rec = ctx.store.find_file(fid, ctx.run.id) if isinstance(fid, str) else None
    if rec is None:
        raise FileNotStaged(f"{what} is not a file of this run (no file of this run has "
                            "that handle)")
    try:
        data = read_checked(rec.workspace, rec.location, rec.sha256, rec.size,
                            ctx.host.max_file_bytes)
    except FileRefused as e:
        raise FileNotStaged(f"{what} (`{clean_text(rec.name, 200)}`) cannot be staged: {e}") \
            from None
    return rec, data


def stage(ctx: NodeContext, files: dict) -> dict:
    """{name in the sandbox: file value} -> {name: checked bytes}; a value that is not
    a handle of this run's files is refused (FileNotStaged), never read as a path."""
    out = {}
    for local, value in files.items():
        if isinstance(value, (bytes, bytearray)):
            out[local] = bytes(value)
            continue
        _rec, out[local] = open_file(ctx, value, f"the file for `{local}`")
    return out


def out_dir(ctx: NodeContext, node, sub: str | None = None) -> tuple[str | None, str]:
    """Where a node execution's files go (None: no workspace, they are not kept) and that
    place relative to the workspace: `RUN/NODE`, `RUN/NODE/ITEM` for a `for each` item
    (each item its own folder), then `sub`."""
    item = ctx.item
    rel = f"{ctx.run.id}/{node.id}" + ("" if item < 0 else f"/{item}") + \
        (f"/{sub}" if sub else "")
    workspace = ctx.host.workspace
    return (f"{workspace.rstrip('/')}/{rel}" if workspace else None), rel


def record_outputs(ctx: NodeContext, node_id: str, files, rel: str) -> list[dict]:
    """Record the files a node execution wrote (`FileOut`s under the workspace folder
    `rel`) and return their file values: each carries the handle (`file_id`) that later
    nodes are staged from; `path`, `name`, `sha256`, `size` are for people to read."""
    from ..store import FileRecord, new_file_id

    records, values = [], []
    workspace = ctx.host.workspace
    for f in files:
        rec = FileRecord(new_file_id(), ctx.run.id, node_id, ctx.item, f.name, f.sha256,
                         f.size, workspace, f"{rel}/{f.name}", 0.0)
        records.append(rec)
        values.append({"file_id": rec.id, "path": f.url, "name": f.name,
                       "sha256": f.sha256, "size": f.size})
    ctx.store.record_files(records)
    return values


def refused_outputs(r) -> str | None:
    """Why the files an execution wrote could not all be kept (write_outputs' refusals),
    or None."""
    from ..sandbox.files import OutputRefused

    bad = [p for p in getattr(r, "refused_files", ()) or () if isinstance(p, OutputRefused)]
    if not bad:
        return None
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    return "files it wrote could not be kept: " + "; ".join(bad[:3]) + more


def execution_problem(r) -> str | None:
    """Why a sandbox execution gives no result: its error, or the files it wrote that could
    not be kept; None when it can be used."""
    if not r.ok:
        return f"{r.error_kind}: {r.error}"
    return refused_outputs(r)


def file_parts(node, item: int, files: list[dict], value: dict) -> dict:
    """Files the code wrote (their file values), as the deliverable's file parts: the part
    `table` is the file named `table` or `table.<ext>` (any folder)."""
    kinds = item_schema(node, item).get("x-flowc-deliverable", {})
    out = {}
    for part, kind in kinds.items():
        if kind != "file" or part in value:
            continue
        for f in files:
            base = f["name"].rsplit("/", 1)[-1]
            if base == part or base.rsplit(".", 1)[0] == part:
                out[part] = f
                break
    return out
