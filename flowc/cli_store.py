"""What the runtime commands share to open the run store and read the people file: the
store a command line names (or the default one, kept out of git), and names typed on it."""

from __future__ import annotations

import json
from pathlib import Path

from flowc.errors import CommandError


def _ignore_default_store(args) -> None:
    """The default store folder (`./.flowc/`, runs, people and the workspace) gets its own
    `.gitignore` holding `*` when flowc creates it, so a project never commits its runs."""
    import os

    if args.store or os.environ.get("FLOWC_STORE", "").strip():
        return
    folder = Path.cwd() / ".flowc"
    if folder.exists():
        return
    try:
        folder.mkdir()
        (folder / ".gitignore").write_text("# made by flowc: the local run store\n*\n")
    except OSError:
        pass  # opening the store says what is wrong with the folder


def _store(args):
    from flowc.runtime.store import (
        SchemaVersionError,
        StoreBusy,
        StoreError,
        StoreFault,
        default_store_path,
        open_store,
    )

    _ignore_default_store(args)
    where = args.store or default_store_path()
    flag = "--store" if args.store else "$FLOWC_STORE" if where != str(
        Path.cwd() / ".flowc" / "runs.db") else "the default store"
    if Path(where).is_dir():
        raise CommandError(f"cannot open the run store: {flag} names `{where}`, a folder; give "
                           f"a file path such as `{Path(where) / 'runs.db'}`")
    try:
        return open_store(args.store)
    except (StoreFault, StoreBusy, SchemaVersionError):
        raise  # the file cannot serve: `flowc` says so, exit 4
    except (StoreError, OSError, ValueError) as e:
        raise CommandError(f"cannot open the run store `{where}` ({flag}): {e}") from e


def _name(text: str, what: str) -> str:
    """A person's or role's name typed on the command line: non-empty UTF-8 text (bytes that
    are not UTF-8 reach Python as lone surrogates, which nothing could store)."""
    from flowc.runtime.validate import value_problem

    if not text.strip():
        raise CommandError(f"{what} must not be empty")
    if value_problem(text):
        shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
        raise CommandError(f"{what} `{shown}` is not UTF-8 text")
    return text


def _local_dir(args) -> Path:
    """The folder of the store's local companions (people.json, the workspace): beside a
    store file; for a database server's URL (postgresql://...), ./.flowc of this folder."""
    from flowc.runtime.store import default_store_path

    where = str(args.store or default_store_path())
    if "://" in where and not where.startswith("sqlite:"):
        return Path.cwd() / ".flowc"
    if where.startswith("sqlite:///"):
        where = where[len("sqlite:///"):] or "runs.db"
    return Path(where).parent


def _people_path(args) -> Path:
    return _local_dir(args) / "people.json"


def _roles(args, user: str) -> tuple[str, ...]:
    path = _people_path(args)
    if not path.exists():
        return ()
    try:
        people = json.loads(path.read_text())
    except ValueError as e:
        raise CommandError(f"{path} is not valid JSON: {e} (fix it, or delete it and record "
                           "roles again with `flowc people USER ROLE...`)") from e
    return tuple(people.get(user, []))


def _anchor(args, base_dir: Path | None = None):
    """The audit anchor: `--anchor URL`, else flowc.toml's `[audit] anchor`, else None."""
    from flowc.config import ConfigError, load_config
    from flowc.runtime.audit import Anchor

    url = getattr(args, "anchor", None)
    if not url:
        try:
            url = load_config(base_dir or Path.cwd()).audit_anchor
        except ConfigError as e:
            raise CommandError(str(e)) from e
    return Anchor(url) if url else None


def _anchor_versions(args, store, flow: str, base_dir: Path | None = None) -> None:
    """Append the head of a flow's version history to the anchor (when one is set), after a
    command recorded a version or an action on one. A failure is said in one line: what was
    committed stays committed."""
    import sys

    from flowc.runtime.audit import AnchorError

    anchor = _anchor(args, base_dir)
    if anchor is None:
        return
    try:
        anchor.record_versions(store, [flow])
    except AnchorError as e:
        print(f"flowc: warning: {e}; the version history is stored, its head is not anchored "
              "until the next version command reaches the anchor", file=sys.stderr)
