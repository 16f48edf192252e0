"""`code javascript`: JavaScript in its own Deno process with no permissions at all.

The code runs as the body of an async function; it sees its arguments as variables, may set
`result` or `return` a value, and its `console` output is captured with the output cap.
Files given to it are in `files` (name -> Uint8Array); files it puts in `outFiles` come back.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import time

from .assets import Assets, clean_env, ensure_assets
from .files import read_inputs, write_outputs
from .limits import Limits
from .pool import ExecutionResult

__all__ = ["run_javascript"]

_HARNESS = r"""
const __nonce = %(nonce)s;
const __write = Deno.stdout.writeSync.bind(Deno.stdout);
const __enc = new TextEncoder();
const __stringify = JSON.stringify;
const __cap = %(cap)d;
let __out = [], __bytes = 0, __overflow = false;
const __log = (...a) => {
  const s = a.map((x) => typeof x === "string" ? x : (() => { try { return __stringify(x); } catch { return String(x); } })()).join(" ");
  __bytes += s.length + 1;
  if (__bytes > __cap) { __overflow = true; return; }
  __out.push(s);
};
globalThis.console = { log: __log, info: __log, warn: __log, error: __log, debug: __log };
const __b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const files = Object.fromEntries(%(files)s.map(([n, d]) => [n, __b64(d)]));
const outFiles = {};
const __args = %(args)s;
const __send = (m) => { m.nonce = __nonce; __write(__enc.encode(__stringify(m) + "\n")); };
let __result;
try {
  __result = await (async (%(names)s) => { let result; %(code)s
    ; return result; })(...Object.values(__args));
  const enc = (u) => { let s = ""; for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000)); return btoa(s); };
  const outs = Object.entries(outFiles).map(([n, d]) => ({ name: n, data: enc(typeof d === "string" ? new TextEncoder().encode(d) : d) }));
  __send({ ok: !__overflow, value: __stringify(__result === undefined ? null : __result), stdout: __out.join("\n"), overflow: __overflow, files: outs });
} catch (e) {
  __send({ ok: false, error: String(e && e.stack || e), stdout: __out.join("\n"), overflow: __overflow, files: [] });
}
Deno.exit(0);
"""


def run_javascript(code: str, *, args: dict | None = None, inputs: dict[str, str] | None = None,
                   output_dir: str | None = None, limits: Limits | None = None,
                   assets: Assets | None = None) -> ExecutionResult:
    limits = limits or Limits()
    assets = assets or ensure_assets()
    args = args or {}
    bad = [k for k in args if not k.isidentifier()]
    if bad:
        return ExecutionResult(False, error_kind="exception",
                               error=f"argument names must be identifiers: {bad}")
    nonce = secrets.token_hex(16)
    files = read_inputs(inputs or {})
    program = _HARNESS % {
        "nonce": json.dumps(nonce), "cap": limits.max_output_bytes,
        "files": json.dumps([[n, base64.b64encode(d).decode()] for n, d in files]),
        "args": json.dumps(args), "names": ", ".join(args), "code": code,
    }
    cmd = [str(assets.deno), "run", "--no-prompt", "--quiet", "--cached-only",
           "--allow-import=flowc-no-import.invalid:1", "--deny-read", "--deny-write",
           "--deny-net", "--deny-env", "--deny-run", "--deny-ffi", "--deny-sys",
           f"--v8-flags=--max-old-space-size={max(32, limits.memory_mb)}", "-"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(assets.deno_dir),
                            cwd=str(assets.deno_dir), start_new_session=True)
    try:
        out, err = proc.communicate(program.encode(), timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return ExecutionResult(False, error_kind="timeout",
                               error=f"the code ran longer than {limits.timeout:g} s and was "
                               "stopped", elapsed_ms=(time.monotonic() - t0) * 1000)
    elapsed = (time.monotonic() - t0) * 1000
    msg = None
    for line in out.splitlines():
        try:
            cand = json.loads(line)
        except ValueError:
            continue
        if isinstance(cand, dict) and cand.get("nonce") == nonce:
            msg = cand
    if msg is None:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no result"]
        kind = "memory" if "heap" in tail[0].lower() or "memory" in tail[0].lower() else "crashed"
        return ExecutionResult(False, error_kind=kind, elapsed_ms=elapsed,
                               error=f"the JavaScript process ended: {tail[0][:300]}")
    stdout = str(msg.get("stdout", ""))[: limits.max_output_bytes]
    if msg.get("overflow"):
        return ExecutionResult(False, stdout=stdout, error_kind="output_limit", elapsed_ms=elapsed,
                               error=f"the code printed more than {limits.max_output_bytes} bytes")
    if not msg.get("ok"):
        return ExecutionResult(False, stdout=stdout, error_kind="exception", elapsed_ms=elapsed,
                               error=str(msg.get("error", ""))[:20000])
    value_text = str(msg.get("value") or "null")
    if len(value_text) > limits.max_result_bytes:
        return ExecutionResult(False, stdout=stdout, error_kind="result_too_large",
                               elapsed_ms=elapsed,
                               error=f"the result exceeds {limits.max_result_bytes} bytes")
    raw_files = []
    for f in (msg.get("files") or [])[: limits.max_files + 1]:
        try:
            raw_files.append((str(f["name"]), base64.b64decode(f["data"], validate=True)))
        except (KeyError, TypeError, ValueError):
            continue
    if len(raw_files) > limits.max_files or any(len(d) > limits.max_file_bytes
                                                for _, d in raw_files):
        return ExecutionResult(False, stdout=stdout, error_kind="file_limit", elapsed_ms=elapsed,
                               error="the code wrote more files, or larger files, than its "
                               "limits allow")
    written, refused = write_outputs(raw_files, output_dir) if output_dir else ([], [])
    return ExecutionResult(True, json.loads(value_text), stdout, "", None, None, written, refused,
                           elapsed)
