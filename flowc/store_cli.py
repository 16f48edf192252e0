"""`flowc store check`: the run store's integrity, migrations and audit trails (read-only)."""

from __future__ import annotations

import sys

from flowc.errors import CommandError

__all__ = ["add_store_commands"]


def cmd_store_check(args) -> int:
    from flowc.runtime.audit import AnchorError
    from flowc.runtime.store import default_store_path
    from flowc.runtime.store.pgstore import is_postgres_url
    from flowc.runtime.storecheck import check_pg_store, check_store
    from flowc.runtime_cli import _anchor

    path = args.store or default_store_path()
    check = check_store
    if path.startswith("sqlite:///"):
        path = path[len("sqlite:///"):]
    elif is_postgres_url(path):
        check = check_pg_store
    elif "://" in path or path in (":memory:", "memory:"):
        from flowc.runtime.store.pgbase import redact

        raise CommandError(f"`{redact(path)}`: store check reads a SQLite file or a "
                           "PostgreSQL database")
    try:
        report = check(path, anchor=_anchor(args))
    except AnchorError as e:
        raise CommandError(str(e)) from e
    sys.stdout.write(report.text())
    if report.fault is not None:
        print(f"flowc: store error: {' '.join(str(report.fault).split())}", file=sys.stderr)
    return report.exit_code


def cmd_store_copy(args) -> int:
    import os

    from flowc.runtime.store import StoreError, open_store
    from flowc.runtime.store.copy import copy_store
    from flowc.runtime.store.pgbase import redact
    from flowc.runtime.store.pgstore import is_postgres_url

    source = args.source[len("sqlite:///"):] if args.source.startswith("sqlite:///") \
        else args.source
    if "://" in source or not os.path.isfile(source):
        raise CommandError(f"--from {redact(args.source)}: no SQLite store file there")
    if not is_postgres_url(args.dest):
        raise CommandError("--to takes a postgresql:// URL (the store to move the runs to)")
    try:
        dest = open_store(args.dest)
        try:
            counts = copy_store(source, dest)
        finally:
            dest.close()
    except StoreError as e:
        raise CommandError(f"nothing copied: {' '.join(str(e).split())[:400]}", 1) from None
    shown = ", ".join(f"{n} {t}" for t, n in counts.items() if n)
    print(f"copied {source} to {redact(args.dest)}: {shown or 'no rows'}")
    return 0


def add_store_commands(sub, parser_class) -> None:
    sp = sub.add_parser("store", help="the run store: `flowc store check`, `flowc store copy`")
    verbs = sp.add_subparsers(dest="store_command", metavar="VERB", parser_class=parser_class,
                              required=True)
    check = verbs.add_parser(
        "check", help="full integrity check, migrations and every run's audit trail",
        description="Read the run store without changing it: SQLite's integrity_check and "
        "foreign_key_check, the migrations applied, and every run's audit trail with the data "
        "it commits to (and the anchored heads, with an anchor). Exit 0 sound, 1 audit or "
        "schema problems, 4 the file cannot serve.")
    check.add_argument("--store", metavar="PATH",
                       help="the run store (default: $FLOWC_STORE or ./.flowc/runs.db)")
    check.add_argument("--anchor", metavar="URL",
                       help="check the heads anchored here too (default: flowc.toml's "
                       "[audit] anchor)")
    check.set_defaults(func=cmd_store_check)
    copy = verbs.add_parser(
        "copy", help="move a SQLite store into an empty PostgreSQL database",
        description="Copy every run, task, node result, effect record, audit event, blob and "
        "version of a SQLite store, as stored, into an empty PostgreSQL database (one "
        "transaction: all or nothing). Runs verify there as here; paused runs resume there.")
    copy.add_argument("--from", dest="source", required=True, metavar="PATH",
                      help="the SQLite store file")
    copy.add_argument("--to", dest="dest", required=True, metavar="URL",
                      help="postgresql://USER@HOST/DB (empty, or new)")
    copy.set_defaults(func=cmd_store_copy)
