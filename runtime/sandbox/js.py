"""`code javascript`: JavaScript in its own Deno process with no permissions at all.

The code runs as the body of an async function built with the `AsyncFunction` constructor,
so it sees only globals and its arguments, never the harness's own state. It may set
`result` or `return` a value; its `console` output is captured with the output cap. Files
given to it are in `files` (name -> Uint8Array); files it puts in `outFiles` come back.
Limits are enforced from outside: the timeout kills the process, its resident memory is
watched, and raw output beyond the cap stops it.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import secrets
import signal
import subprocess
import threading
import time

from .assets import Assets, clean_env, ensure_assets
from .files import read_inputs, write_outputs
from .limits import Limits, MiB
from .lines import read_nonce_lines
from .pool import ExecutionResult
from .process import resident_bytes

__all__ = ["run_javascript"]

_HARNESS = r"""
const nonce = %(nonce)s;
const write = Deno.stdout.writeSync.bind(Deno.stdout);
const enc = new TextEncoder();
const stringify = JSON.stringify;
const cap = %(cap)d;
const out = [];
let bytes = 0, overflow = false;
const log = (...a) => {
  const s = a.map((x) => typeof x === "string" ? x : (() => { try { return stringify(x); } catch { return String(x); } })()).join(" ");
  bytes += s.length + 1;
  if (bytes > cap) { overflow = true; return; }
  out.push(s);
};
globalThis.console = { log, info: log, warn: log, error: log, debug: log };
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
globalThis.files = Object.fromEntries(%(files)s.map(([n, d]) => [n, b64(d)]));
globalThis.outFiles = {};
const args = %(args)s;
const send = (m) => { m.nonce = nonce; write(enc.encode(nonce + " " + stringify(m) + "\n")); };
const AsyncFunction = (async () => {}).constructor;
try {
  const body = new AsyncFunction(...Object.keys(args), "let result;\n" + %(code)s + "\n;return result;");
  const value = await body(...Object.values(args));
  const b64enc = (u) => { let s = ""; for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000)); return btoa(s); };
  const outs = Object.entries(globalThis.outFiles).map(([n, d]) => ({ name: n, data: b64enc(typeof d === "string" ? enc.encode(d) : d) }));
  send({ ok: !overflow, value: stringify(value === undefined ? null : value), stdout: out.join("\n"), overflow, files: outs });
} catch (e) {
  send({ ok: false, error: String(e && e.stack || e), stdout: out.join("\n"), overflow, files: [] });
}
Deno.exit(0);
"""


class _Counters:
    def __init__(self, max_line: int):
        self.max_line = max_line
        self.garbage_lines = 0
        self.garbage_bytes = 0


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
        "args": json.dumps(args), "code": json.dumps(code),
    }
    cmd = [str(assets.deno), "run", "--no-prompt", "--quiet", "--cached-only",
           "--allow-import=flowc-no-import.invalid:1", "--deny-read", "--deny-write",
           "--deny-net", "--deny-env", "--deny-run", "--deny-ffi", "--deny-sys",
           f"--v8-flags=--max-old-space-size={max(32, limits.memory_mb)}", "-"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(assets.deno_dir),
                            cwd=str(assets.deno_dir), start_new_session=True)
    lines: queue.Queue = queue.Queue()
    counters = _Counters(int(limits.max_total_file_bytes * 4 / 3 + limits.max_result_bytes * 2
                             + limits.max_output_bytes * 2 + MiB))
    threading.Thread(target=read_nonce_lines, args=(proc.stdout.fileno(), nonce, lines, counters),
                     daemon=True).start()
    stderr: list[bytes] = []
    threading.Thread(target=lambda: stderr.append(proc.stderr.read(64 * 1024)),
                     daemon=True).start()
    try:
        proc.stdin.write(program.encode())
        proc.stdin.close()
    except OSError:
        pass
    ceiling = (limits.memory_mb + limits.rss_slack_mb) * MiB
    deadline = t0 + limits.timeout
    msg, failure = None, None
    while msg is None and failure is None:
        try:
            kind, payload = lines.get(timeout=0.02)
        except queue.Empty:
            kind = payload = None
        if kind == "line":
            try:
                cand = json.loads(payload)
            except ValueError:
                cand = None
            if isinstance(cand, dict) and cand.get("nonce") == nonce:
                msg = cand
        elif kind in ("eof", "overlong"):
            failure = ("crashed", "the JavaScript process ended without a result") \
                if kind == "eof" else ("protocol", "a message over the size limit")
        if msg is None and failure is None:
            if time.monotonic() >= deadline:
                failure = ("timeout", f"the code ran longer than {limits.timeout:g} s and was "
                           "stopped")
            elif resident_bytes(proc.pid) > ceiling:
                failure = ("memory", f"the code used more than its memory limit "
                           f"({limits.memory_mb} MiB) and was stopped")
            elif counters.garbage_bytes > limits.max_output_bytes:
                failure = ("output_limit", f"the code printed more than "
                           f"{limits.max_output_bytes} bytes")
    _kill(proc)
    if failure is None and counters.garbage_bytes > limits.max_output_bytes:
        # raw writes to stdout count against the output cap too, even when a result follows
        failure = ("output_limit", f"the code printed more than {limits.max_output_bytes} bytes")
    elapsed = (time.monotonic() - t0) * 1000
    if failure is not None:
        kind, text = failure
        tail = b"".join(stderr).decode(errors="replace").strip().splitlines()[-1:]
        if kind == "crashed" and tail:
            text += f": {tail[0][:300]}"
            if "heap" in tail[0].lower() or "memory" in tail[0].lower():
                kind = "memory"
        return ExecutionResult(False, error_kind=kind, error=text, elapsed_ms=elapsed)
    return _result(msg, limits, output_dir, elapsed)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()


def _result(msg: dict, limits: Limits, output_dir: str | None, elapsed: float) -> ExecutionResult:
    """The harness's message, every field checked: user code may have forged it."""
    try:
        stdout = str(msg.get("stdout", ""))[: limits.max_output_bytes]
        if msg.get("overflow"):
            return ExecutionResult(False, stdout=stdout, error_kind="output_limit",
                                   elapsed_ms=elapsed, error=f"the code printed more than "
                                   f"{limits.max_output_bytes} bytes")
        if not msg.get("ok"):
            return ExecutionResult(False, stdout=stdout, error_kind="exception",
                                   elapsed_ms=elapsed, error=str(msg.get("error", ""))[:20000])
        value_text = str(msg.get("value") or "null")
        if len(value_text) > limits.max_result_bytes:
            return ExecutionResult(False, stdout=stdout, error_kind="result_too_large",
                                   elapsed_ms=elapsed,
                                   error=f"the result exceeds {limits.max_result_bytes} bytes")
        value = json.loads(value_text)
        raw = msg.get("files") or []
        if not isinstance(raw, list):
            raise TypeError("files")
        files = [(str(f["name"]), base64.b64decode(f["data"], validate=True))
                 for f in raw[: limits.max_files + 1]]
    except (TypeError, ValueError, KeyError) as e:
        return ExecutionResult(False, error_kind="protocol", elapsed_ms=elapsed,
                               error=f"the JavaScript process sent a malformed result "
                               f"({type(e).__name__})")
    if (len(raw) > limits.max_files or any(len(d) > limits.max_file_bytes for _, d in files)
            or sum(len(d) for _, d in files) > limits.max_total_file_bytes):
        return ExecutionResult(False, stdout=stdout, error_kind="file_limit", elapsed_ms=elapsed,
                               error="the code wrote more files, or larger files, than its "
                               "limits allow")
    written, refused = write_outputs(files, output_dir) if output_dir else ([], [])
    return ExecutionResult(True, value, stdout, "", None, None, written, refused, elapsed)
