"""`flowc sandbox doctor` and `flowc sandbox run FILE`: the sandbox from the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

__all__ = ["add_sandbox_commands"]


def cmd_doctor(args) -> int:
    from flowc.runtime.sandbox import PYODIDE_VERSION, Limits, SandboxPool, SandboxSetupError
    from flowc.runtime.sandbox.assets import deno_binary, ensure_assets

    ok = True
    try:
        deno = deno_binary()
        import subprocess

        ver = subprocess.run([str(deno), "--version"], capture_output=True, text=True,
                             env={"DENO_NO_UPDATE_CHECK": "1"}).stdout.splitlines()[0]
        print(f"deno      {ver} ({deno})")
        t0 = time.perf_counter()
        assets = ensure_assets()
        print(f"pyodide   {PYODIDE_VERSION} ({assets.pyodide_dir}), integrity checked")
        print(f"snapshot  {assets.snapshot} ({assets.snapshot.stat().st_size / 2**20:.1f} MiB)"
              f"  [setup {time.perf_counter() - t0:.2f} s]")
    except SandboxSetupError as e:
        print(f"flowc: error: {e}", file=sys.stderr)
        return 2
    with SandboxPool(size=1, assets=assets) as pool:
        pool.wait_ready()
        checks = [
            ("python runs", "result = sum(range(10))", lambda r: r.ok and r.value == 45),
            ("no host files", "open('/etc/passwd').read()", lambda r: not r.ok),
            ("no network", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')",
             lambda r: not r.ok),
            ("timeout kills", "while True: pass", lambda r: r.error_kind == "timeout"),
        ]
        for name, code, good in checks:
            r = pool.run(code, limits=Limits(timeout=2))
            passed = good(r)
            ok &= passed
            print(f"self-test {name:<14} {'ok' if passed else 'FAILED'}"
                  + ("" if passed else f"  ({r.error_kind}: {r.error})"))
    return 0 if ok else 1


def cmd_run(args) -> int:
    from flowc.runtime.sandbox import Limits, SandboxPool, SandboxSetupError
    from flowc.runtime.sandbox.js import run_javascript

    path = Path(args.file)
    if not path.is_file():
        print(f"flowc: error: `{args.file}` does not exist", file=sys.stderr)
        return 2
    code = path.read_text(encoding="utf-8")
    limits = Limits(timeout=args.timeout, memory_mb=args.memory, max_output_bytes=args.max_output)
    inputs = {}
    for spec in args.input:
        name, sep, url = spec.partition("=")
        if not sep:
            print(f"flowc: error: --input takes NAME=URL, not `{spec}`", file=sys.stderr)
            return 2
        inputs[name] = url
    language = args.language or ("javascript" if path.suffix in (".js", ".mjs") else "python")
    try:
        if language == "javascript":
            r = run_javascript(code, inputs=inputs, output_dir=args.output_dir, limits=limits)
        else:
            with SandboxPool(size=0, wheelhouse=args.wheelhouse) as pool:
                r = pool.run(code, inputs=inputs, output_dir=args.output_dir, limits=limits,
                             allow_hosts=tuple(args.allow_host))
    except SandboxSetupError as e:
        print(f"flowc: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:  # a bad input URL, a bad wheelhouse
        print(f"flowc: error: {e}", file=sys.stderr)
        return 2
    if r.stdout:
        print(r.stdout)
    if r.stderr:
        print(r.stderr, file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": r.ok, "value": r.value, "error_kind": r.error_kind,
                          "error": r.error, "files": [f.__dict__ for f in r.files],
                          "elapsed_ms": round(r.elapsed_ms, 2)}, indent=2))
    elif not r.ok:
        print(f"sandbox: {r.error_kind}: {r.error}", file=sys.stderr)
    else:
        if r.value is not None:
            print(f"result: {json.dumps(r.value)}")
        for f in r.files:
            print(f"file: {f.url} ({f.size} bytes, sha256 {f.sha256[:16]})")
    return 0 if r.ok else 1


def add_sandbox_commands(sub, parser_class) -> None:
    sp = sub.add_parser("sandbox", help="the code sandbox (Pyodide and Deno)")
    ss = sp.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", parser_class=parser_class,
                           required=True)
    d = ss.add_parser("doctor", help="what is installed, versions, and a self-test")
    d.set_defaults(func=cmd_doctor)
    r = ss.add_parser("run", help="run a script in the sandbox")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--language", choices=("python", "javascript"))
    r.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    r.add_argument("--memory", type=int, default=256, metavar="MIB")
    r.add_argument("--max-output", type=int, default=1 << 20, metavar="BYTES")
    r.add_argument("--allow-host", action="append", default=[], metavar="HOST")
    r.add_argument("--input", action="append", default=[], metavar="NAME=URL",
                   help="a file for the working directory, from an fsspec URL")
    r.add_argument("--output-dir", metavar="URL", help="where written files go (fsspec URL)")
    r.add_argument("--wheelhouse", metavar="DIR",
                   help="a folder of pure-Python wheels the code may import (offline)")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=cmd_run)
