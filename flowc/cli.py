"""The `flowc` command line: a thin shell over the compiler's API.

Exit codes: 0 success; 1 the flow has errors (or `fmt --check` would change a file);
2 a usage problem (bad option, missing file); 3 an internal error (a bug in flowc); 4 the run
store cannot serve (its file is damaged, truncated, not SQLite, read-only, full, locked too
long, or from a newer flowc): one line naming the file, what is wrong and what to do.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from pathlib import Path

from flowc import __version__
from flowc.errors import (
    EXIT_ERRORS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_STORE,
    EXIT_USAGE,
    CommandError,
    UsageError,
    missing_path,
    store_problem,
)

__all__ = ["CommandError", "UsageError", "main"]

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line, not a usage dump
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _flow_files(paths: list[str]) -> list[Path]:
    """The flows named: files as given, folders walked by the rules of `discovery` (they
    honour .gitignore and skip virtualenvs, node_modules and hidden folders)."""
    from flowc.compiler.discovery import find_flow_files, is_flow_file

    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = find_flow_files(path)
            if not found:
                raise UsageError(f"no .flow files under `{p}` (give .flow files, or a folder "
                                 "that holds some)")
            files.extend(found)
        elif path.is_file():
            if not is_flow_file(path.name) and path.name.lower().endswith(".flow"):
                print(f"flowc: skipped `{p}`: a JavaScript Flow declaration file, not a flow",
                      file=sys.stderr)
                continue
            files.append(path)
        else:
            raise UsageError(missing_path(p))
    if not files:
        raise UsageError("no flows to check among the paths given")
    return files


def _use_color(choice: str, stream) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _docs_url(given: str | None) -> str | None:
    """The base URL of the docs for SARIF's help links: `--docs-url`, else $FLOWC_DOCS_URL,
    else the project's own (None here); it must be absolute."""
    url = given or os.environ.get("FLOWC_DOCS_URL") or None
    if url is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.path):
            raise UsageError(f"the docs URL must be absolute (https://...), not `{url}`")
    return url


def _print_diagnostics(diags, fmt: str, files: int, color: str, docs_url: str | None = None
                       ) -> None:
    from flowc.compiler import render

    if fmt == "json":
        sys.stdout.write(render.render_json(diags))
    elif fmt == "sarif":
        sys.stdout.write(render.render_sarif(diags, __version__, docs_url=docs_url))
    elif fmt == "github":
        sys.stdout.write(render.render_github(diags))
    elif fmt == "concise":
        sys.stdout.write(render.render_concise(diags))
        print(render.summary_line(diags, files), file=sys.stderr)
    else:
        if diags:
            sys.stdout.write(render.render_text(diags, color=_use_color(color, sys.stdout)))
            sys.stdout.write("\n")
        print(render.summary_line(diags, files))


def _check_all(files: list[Path], skill_dirs, plan: bool = False, locked: bool | str = False):
    from flowc.compiler.api import Compiler

    compiler = Compiler([Path(d) for d in skill_dirs], locked=locked)
    results = [compiler.check_path(f, plan=plan) for f in files]
    seen, diags = set(), []
    for r in results:
        for d in r.diagnostics.sorted():
            key = (d.source.path, d.span, d.code, d.message)
            if key not in seen:
                seen.add(key)
                diags.append(d)
    return results, diags


def cmd_check(args) -> int:
    docs_url = _docs_url(args.docs_url)
    files = _flow_files(args.paths)
    _results, diags = _check_all(files, args.skills, locked=args.locked)
    if args.werror:
        for d in diags:
            if d.severity == "warning":
                d.severity = "error"
    _print_diagnostics(diags, args.format, len(files), args.color, docs_url)
    return EXIT_ERRORS if any(d.severity == "error" for d in diags) else EXIT_OK


def cmd_lock(args) -> int:
    from flowc.compiler.lockfile import LOCK_NAME, write_lock_entry

    files = _flow_files(args.paths)
    results, diags = _check_all(files, args.skills)
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        from flowc.compiler import render

        sys.stderr.write(render.render_text(errors, color=_use_color(args.color, sys.stderr)))
        print(f"flowc: not locked: {len(errors)} error(s)", file=sys.stderr)
        return EXIT_ERRORS
    changed = 0
    for f, r in zip(files, results, strict=True):
        try:
            changed += write_lock_entry(f, r.program)
        except ValueError as e:
            raise UsageError(str(e)) from e
    print(f"{LOCK_NAME}: {changed} flow(s) updated, {len(files) - changed} already current")
    return EXIT_OK


def _plan_summary(plan) -> str:
    lines = [f"plan {plan.flow.name} {plan.flow.version or ''}".rstrip(),
             f"  hash    {plan.hash}",
             f"  inputs  {', '.join(i.name for i in plan.inputs) or '-'}",
             f"  outputs {', '.join(o.name for o in plan.outputs) or '-'}"]
    if plan.sops:
        docs = sum(len(s.documents) for s in plan.sops)
        lines.append(f"  sops    {', '.join(s.alias for s in plan.sops)} "
                     f"({docs} document{'' if docs == 1 else 's'})")
    if plan.skills:
        lines.append("  skills  " + ", ".join(f"{s.name}@{s.version} ({s.sha256[:12]})"
                                               for s in plan.skills))
    if plan.flows:
        lines.append("  flows   " + ", ".join(f"{f.alias} ({f.plan.hash[:12]})" for f in plan.flows))
    lines.append(f"  nodes   {len(plan.nodes)} in order:")
    for n in plan.nodes:
        extra = []
        if n.control:
            extra.append("after " + ", ".join(
                (f"{c.node}.{'|'.join(c.outcomes)}" if c.node and c.outcomes else
                 (c.node or "match " + "|".join(c.values))) for c in n.control))
        if n.when is not None:
            extra.append("when ...")
        if n.effect:
            extra.append(f"effect {n.effect}")
        lines.append(f"    {n.position + 1:>3}. {n.id} ({n.kind})" +
                     (f"  [{'; '.join(extra)}]" if extra else ""))
    return "\n".join(lines) + "\n"


def cmd_compile(args) -> int:
    files = _flow_files([args.file])
    results, diags = _check_all(files, args.skills, plan=True)
    result = results[0]
    errors = [d for d in diags if d.severity == "error"]
    if diags:
        from flowc.compiler import render

        sys.stderr.write(render.render_text(diags, color=_use_color(args.color, sys.stderr)))
        sys.stderr.write("\n")
    if errors or result.plan is None:
        print(f"flowc: not compiled: {len(errors)} error(s) in {args.file}", file=sys.stderr)
        return EXIT_ERRORS
    parts = result.plan.json_parts(pretty=args.pretty)  # written in pieces: plans can be large
    if args.output and args.output != "-":
        out = Path(args.output)
        if out.parent and not out.parent.exists():
            raise UsageError(f"-o {args.output}: the folder `{out.parent}` does not exist "
                             "(create it, or write the plan elsewhere)")
        tmp = out.with_name(out.name + ".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.writelines(parts)
            tmp.replace(out)
        except OSError as e:  # a full disk, say: the old plan stays, no half-written file
            tmp.unlink(missing_ok=True)
            raise UsageError(f"-o {args.output}: cannot write the plan: "
                             f"{e.strerror or e}") from None
        print(f"wrote {out} ({len(result.plan.nodes)} nodes, hash {result.plan.hash[:16]})",
              file=sys.stderr)
    else:
        if not args.summary:
            raw = getattr(sys.stdout, "buffer", None)
            if raw is None:  # a text-only stream (captured)
                sys.stdout.write(b"".join(parts).decode("utf-8"))
            else:
                sys.stdout.flush()
                raw.writelines(parts)
                raw.flush()
    if args.summary:
        sys.stdout.write(_plan_summary(result.plan))
    return EXIT_OK


def cmd_fmt(args) -> int:
    from flowc.compiler.formatter import FMT_OFF, format_source

    files = _flow_files(args.paths)
    changed, broken, off = [], [], []
    for f in files:
        text = f.read_text(encoding="utf-8")
        if FMT_OFF.match(text):
            off.append(f)
            continue
        out = format_source(text, str(f))
        if out is None:
            broken.append(f)
            continue
        if out != text:
            changed.append(f)
            if args.diff:
                import difflib

                sys.stdout.writelines(difflib.unified_diff(
                    text.splitlines(keepends=True), out.splitlines(keepends=True),
                    f"{f} (now)", f"{f} (formatted)"))
            elif not args.check:
                f.write_text(out, encoding="utf-8")
    for f in broken:
        print(f"{f}: has syntax errors, not formatted (run `flowc check {f}`)", file=sys.stderr)
    dry = args.check or args.diff
    verb = "would reformat" if dry else "reformatted"
    report = sys.stderr if args.diff else sys.stdout  # with --diff, stdout is the patch
    for f in changed:
        print(f"{verb} {f}", file=report)
    print(f"{len(changed)} file(s) {verb}, "
          f"{len(files) - len(changed) - len(broken) - len(off)} unchanged"
          + (f", {len(off)} left as they are (`// fmt: off`)" if off else "")
          + (f", {len(broken)} with syntax errors" if broken else ""), file=report)
    if broken or (dry and changed):
        return EXIT_ERRORS
    return EXIT_OK


def cmd_graph(args) -> int:
    from flowc.compiler.graph_export import to_dot, to_mermaid

    files = _flow_files([args.file])
    results, diags = _check_all(files, args.skills)
    r = results[0]
    if r.graph is None:
        from flowc.compiler import render

        sys.stderr.write(render.render_text(diags, color=_use_color(args.color, sys.stderr)))
        print(f"flowc: no graph: {args.file} has syntax errors", file=sys.stderr)
        return EXIT_ERRORS
    text = to_mermaid(r.graph, r.program) if args.format == "mermaid" else \
        to_dot(r.graph, r.program)
    sys.stdout.write(text)
    return EXIT_ERRORS if any(d.severity == "error" for d in diags) else EXIT_OK


def _near_codes(code: str) -> list[str]:
    """Codes one slip away from `code`: two neighbouring digits swapped, or one digit wrong
    (swaps first)."""
    from flowc.compiler.codes import CODES

    swaps, subs = [], []
    for c in CODES:
        if len(c) != len(code) or c == "F9999":
            continue
        diff = [i for i in range(len(c)) if c[i] != code[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and c[diff[0]] == code[diff[1]] and \
                c[diff[1]] == code[diff[0]]:
            swaps.append(c)
        elif len(diff) == 1:
            subs.append(c)
    return (swaps or subs)[:3]


def cmd_explain(args) -> int:
    from flowc.compiler.codes import CODES

    code = args.code.upper()
    if re.fullmatch(r"F?\d{1,4}", code):  # `203`, `F203`: the code F0203
        code = "F" + code.removeprefix("F").zfill(4)
    if code not in CODES:
        near = _near_codes(code)
        hint = f"did you mean {' or '.join(f'`{c}`' for c in near)}?" if near else ""
        raise UsageError(f"unknown diagnostic code `{args.code}` ({hint + ' ' if hint else ''}"
                         f"codes run {min(CODES)}-{max(c for c in CODES if c != 'F9999')}; "
                         "all of them: docs/diagnostics.md)")
    c = CODES[code]
    print(f"{c.code} ({c.severity}): {c.title}\n\n{c.explanation}")
    return EXIT_OK


def cmd_schema(args) -> int:
    import json

    from flowc.compiler.plan import Plan

    print(json.dumps(Plan.model_json_schema(by_alias=True), indent=2, sort_keys=True))
    return EXIT_OK


# The compiler's own commands: `flowc check` in CI and on every save need not import the
# runtime, sandbox, skill, trace and language-server modules just to build their parsers.
_CORE_COMMANDS = {"check", "lock", "compile", "fmt", "graph", "explain", "schema"}


def build_parser(core_only: bool = False) -> argparse.ArgumentParser:
    p = _Parser(prog="flowc", description="Check, compile and format .flow workflows.")
    p.add_argument("--version", action="version", version=f"flowc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(sp, color=True):
        sp.add_argument("--skills", action="append", default=[], metavar="DIR",
                        help="an extra skill registry folder (may be repeated)")
        if color:
            sp.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    sp = sub.add_parser("check", help="check flows and report problems")
    sp.add_argument("paths", nargs="+", metavar="PATH", help=".flow files or folders")
    sp.add_argument("--format", choices=("text", "concise", "json", "sarif", "github"),
                    default="text", help="concise: one `path:line:col: severity: message "
                    "[CODE]` line per diagnostic")
    sp.add_argument("--werror", action="store_true", help="treat warnings as errors")
    sp.add_argument("--docs-url", metavar="URL",
                    help="base URL of the docs for SARIF's help links (default: "
                    "$FLOWC_DOCS_URL, else the project's docs online)")
    lock = sp.add_mutually_exclusive_group()
    lock.add_argument("--locked", dest="locked", action="store_const", const=True,
                      default="auto", help="compare every flow with flow.lock, failing "
                      "(F0111) for one it does not record; by default the flows a flow.lock "
                      "records are compared, as in the editor")
    lock.add_argument("--no-locked", dest="locked", action="store_const", const=False,
                      help="do not compare skills with flow.lock")
    common(sp)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("lock", help="record the skill versions and hashes flows use (flow.lock)")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    common(sp, color=True)
    sp.set_defaults(func=cmd_lock)

    sp = sub.add_parser("compile", help="compile a flow into a plan (JSON)")
    sp.add_argument("file", metavar="FILE")
    sp.add_argument("-o", "--output", metavar="PLAN", help="write the plan here (default: stdout)")
    sp.add_argument("--summary", action="store_true", help="print a summary of the plan")
    sp.add_argument("--pretty", action="store_true",
                    help="indent the plan for people (default: compact canonical JSON)")
    common(sp)
    sp.set_defaults(func=cmd_compile)

    sp = sub.add_parser("fmt", help="format flows canonically")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file "
                    "would be reformatted")
    sp.add_argument("--diff", action="store_true", help="change nothing; print what would "
                    "change as a unified diff, exit 1 if a file would be reformatted")
    sp.set_defaults(func=cmd_fmt)

    sp = sub.add_parser("graph", help="print a flow's graph")
    sp.add_argument("file", metavar="FILE")
    sp.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    common(sp)
    sp.set_defaults(func=cmd_graph)

    sp = sub.add_parser("explain", help="explain a diagnostic code")
    sp.add_argument("code", metavar="CODE")
    sp.set_defaults(func=cmd_explain)

    sp = sub.add_parser("schema", help="print the plan's JSON Schema")
    sp.set_defaults(func=cmd_schema)
    if core_only:
        return p

    from flowc.lsp_cli import add_lsp_commands
    from flowc.models_cli import add_models_commands
    from flowc.runtime_cli import add_runtime_commands
    from flowc.sandbox_cli import add_sandbox_commands
    from flowc.serve_cli import add_serve_commands
    from flowc.skill_cli import add_skill_commands
    from flowc.store_cli import add_store_commands
    from flowc.trace_cli import add_trace_commands
    from flowc.versions_cli import add_version_commands

    add_sandbox_commands(sub, _Parser)
    add_runtime_commands(sub, _Parser)
    add_store_commands(sub, _Parser)
    add_skill_commands(sub, _Parser)
    add_trace_commands(sub, _Parser)
    add_lsp_commands(sub, _Parser)
    add_models_commands(sub, _Parser)
    add_serve_commands(sub, _Parser)
    add_version_commands(sub, _Parser)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the command stops where it is, its clean-up runs (the
    sandboxes it started are killed, a run's lease is given back), exit status 143."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and "flowc.runtime.temporal.client" in sys.modules:
        # Temporal's client core (Rust threads) can crash the interpreter as it shuts down
        # (SIGSEGV): seen after a failed connection, and once after a `flowc cancel` that had
        # succeeded and said so. Everything is committed, said and written: leave now
        import logging

        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(core_only=command in _CORE_COMMANDS)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except UsageError as e:
        print(f"flowc: error: {e}", file=sys.stderr)
        return getattr(e, "code", EXIT_USAGE)
    except Terminated:
        print("flowc: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("flowc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:
        print(f"flowc: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as e:
        if e.name not in _RUN_EXTRA_MODULES:
            return _internal_error(e)
        print(f"flowc: error: this command needs the runtime (`{e.name}` is not installed): "
              "pip install 'flowc[run]' (Python 3.12+)", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # a bug in flowc, reported as one; or the run store failing
        line = store_problem(e)
        if line is not None:
            print(f"flowc: store error: {' '.join(line.split())}", file=sys.stderr)
            return EXIT_STORE
        return _internal_error(e)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# what the `run` extra brings; the light install (`pip install flowc`) has none of them
_RUN_EXTRA_MODULES = {"deno", "httpx", "pyodide_lock", "httpcore"}


def _internal_error(e: Exception) -> int:
    if os.environ.get("FLOWC_DEBUG"):
        raise e
    print(f"flowc: internal error: {type(e).__name__}: {e}\n"
          "This is a bug in flowc, not in your flow. Please report it with the flow that "
          "triggered it (set FLOWC_DEBUG=1 for the traceback).", file=sys.stderr)
    return EXIT_INTERNAL
