"""`code javascript`: JavaScript in its own Deno process with no permissions at all.

The code runs as the body of an async function built with the `AsyncFunction` constructor,
so it sees only globals and its arguments, never the harness's own state. It may set
`result` or `return` a value; its `console` output is captured with the output cap. Files
given to it are in `files` (name -> Uint8Array); files it puts in `outFiles` come back.

How the process is held (each point is a test in tests/test_js_hardening.py):

- The harness is a constant `data:` module (no secret in it). Its job (a per-process nonce,
  the code, the arguments, the input files as raw bytes) comes on stdin, read whole before
  any user code runs. Messages come back on stdout as lines that start with the nonce; the
  harness builds and writes them only with intrinsics it captured before user code ran, so
  no getter, setter, proxy or patched prototype ever sees the nonce. The nonce is never a
  JavaScript string (a heap snapshot, which node:v8 takes without any permission, holds
  every string): it stays the bytes read from stdin, copied into each line's buffer.
  Everything else on stdout, and all of stderr, is counted and dropped as it streams.
- Every message is parsed as hostile input: exact fields and types, sizes, file names that
  are Unicode, a value at most `MAX_DEPTH` deep with finite numbers. Any failure, and any
  fault of ours, is a clear `ExecutionResult` error, and the process is killed on every path.
- Output files come in chunks (`_CHUNK` bytes a line), so the documented 100 MiB total
  never becomes one string in either process.
- Limits hold from outside while the code runs: the deadline kills the process group, its
  resident memory is watched, raw output past the cap stops it at once, console output past
  the cap makes the harness answer at once.
- Nothing of a program is left on disk: `DENO_DIR` names a path under `/dev/null`, which no
  one can create, so Deno keeps its caches in memory and localStorage, the Cache API and
  Deno KV have nowhere to write; `--no-config`, `--no-code-cache`; RLIMIT_FSIZE is 0.
- The process dies with its host: it is started by spawn.py's long-lived spawner thread with
  the parent-death signal (`setpriv --pdeathsig KILL`, or prctl in the child when util-linux
  is missing), and RLIMIT_FSIZE 0 and no core dumps from before its first instruction.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import secrets
import selectors
import signal
import subprocess
import time
from pathlib import PurePosixPath

from .assets import Assets, deno_binary
from .files import UnsafeName, read_inputs, safe_name, write_outputs
from .inflight import executing
from .limits import Limits, MiB
from .pool import ExecutionResult
from .spawn import spawn

__all__ = ["run_javascript", "MAX_DEPTH"]

MAX_DEPTH = 100                 # nesting of a returned value
_CHUNK = 768 * 1024             # bytes of an output file per message (1 MiB of base64)
_MAX_NAME = 1024                # characters of an output file name in a message
_MAX_ERROR = 20000              # characters of an error text
_NO_DIR = "/dev/null/flowc-deno-dir"  # never a folder: Deno can write nothing under it
_NO_HOME = "/proc/flowc-no-home"      # never exists (no .npmrc), and cannot be made
_HARNESS_URL = re.compile(r"data:text/javascript;base64,[A-Za-z0-9+/=]+")
_KINDS = ("exception", "result", "result_too_large", "file_limit", "output_limit")

_HARNESS = r"""
// flowc's harness for `code javascript` (runtime/sandbox/js.py). Everything used after user
// code starts is captured here first; after that the harness only concatenates primitive
// strings, calls captured functions through the captured Reflect.apply, and keeps its state
// in local variables and null-prototype objects, so no getter, setter, proxy or patched
// prototype of the program's sees what the harness writes.
const G = globalThis;
const apply = Reflect.apply;
const getOwn = Reflect.getOwnPropertyDescriptor;
const defineProperty = Reflect.defineProperty;
const deleteProperty = Reflect.deleteProperty;
const stringify = JSON.stringify;
const parse = JSON.parse;
const str = String;
const keys = Object.keys;
const U8 = Uint8Array;
const TypeErr = TypeError;
const TA = Reflect.getPrototypeOf(U8.prototype);
const taBuffer = getOwn(TA, "buffer").get;
const taOffset = getOwn(TA, "byteOffset").get;
const taLength = getOwn(TA, "byteLength").get;
const dvBuffer = getOwn(DataView.prototype, "buffer").get;
const dvOffset = getOwn(DataView.prototype, "byteOffset").get;
const dvLength = getOwn(DataView.prototype, "byteLength").get;
const abLength = getOwn(ArrayBuffer.prototype, "byteLength").get;
const sabLength = typeof SharedArrayBuffer === "function"
  ? getOwn(SharedArrayBuffer.prototype, "byteLength").get : null;
const toBase64 = typeof U8.prototype.toBase64 === "function" ? U8.prototype.toBase64 : null;
const fromCharCode = String.fromCharCode;
const btoa_ = toBase64 === null ? G.btoa : null;  // (reading btoa loads it: ~5 ms)
const includes = String.prototype.includes;
const sliceS = String.prototype.slice;
const encoder = new TextEncoder();
const encode = TextEncoder.prototype.encode;
const decoder = new TextDecoder();
const decode = TextDecoder.prototype.decode;
const stdout = Deno.stdout;
const writeSync = stdout.writeSync;
const stdin = Deno.stdin;
const readSync = stdin.readSync;
const exit = Deno.exit;
const AsyncFunction = (async () => {}).constructor;

const taSet = TA.set;
const fill = (buf, off, n) => {  // exactly n bytes of stdin into the ArrayBuffer buf at off
  let got = 0;
  while (got < n) {
    const r = apply(readSync, stdin, [new U8(buf, off + got, n - got)]);
    if (r === null || r === 0) exit(70);  // the host went away before the job was complete
    got += r;
  }
};
const readExact = (n) => {
  const b = new U8(n);
  fill(apply(taBuffer, b, []), 0, n);
  return b;
};
// The nonce is never a string: a heap snapshot (node:v8, no permission needed) holds every
// string of the heap. It stays the bytes stdin put into this buffer (off the V8 heap), the
// prefix of every line: "\n" + nonce + " ".
const headBuf = apply(taBuffer, new U8(4096), []);
fill(headBuf, 1, 32);
const nonce = new U8(headBuf, 0, 34);
nonce[0] = 10;
nonce[33] = 32;
const job = parse(apply(decode, decoder, [readExact(Number(apply(decode, decoder, [readExact(20)])))]));
const cap = job.max_output_bytes, maxResult = job.max_result_bytes, chunk = job.chunk;
const maxFiles = job.max_files, maxFile = job.max_file_bytes, maxTotal = job.max_total_file_bytes;
const maxName = job.max_name;

// the one place the nonce is used: its bytes and the body's, joined and written by intrinsics
const writeLine = (body) => {
  const b = apply(encode, encoder, [body + "\n"]);
  const n = 34 + apply(taLength, b, []);
  const buf = apply(taBuffer, new U8(n < 4096 ? 4096 : n), []);  // never a small on-heap array
  const line = new U8(buf, 0, n);
  apply(taSet, line, [nonce, 0]);
  apply(taSet, line, [b, 34]);
  let done = 0;
  while (done < n) {
    const w = apply(writeSync, stdout, [done === 0 ? line : new U8(buf, done, n - done)]);
    if (typeof w !== "number" || w <= 0) exit(71);
    done += w;
  }
};
const b64 = (view) => {
  if (toBase64 !== null) return apply(toBase64, view, []);
  let s = "";
  const n = apply(taLength, view, []);
  for (let i = 0; i < n; i += 0x8000) {
    s += apply(fromCharCode, null, new U8(apply(taBuffer, view, []),
      apply(taOffset, view, []) + i, n - i < 0x8000 ? n - i : 0x8000));
  }
  return btoa_(s);
};
const clip = (s) => s.length > 20000 ? apply(sliceS, s, [0, 20000]) : s;
const errorText = (e) => {
  try {
    if (e !== null && (typeof e === "object" || typeof e === "function")) {
      const head = str(e);
      const stack = e.stack;
      if (typeof stack !== "string") return clip(head);
      return clip(apply(includes, stack, [head]) ? stack : head + "\n" + stack);
    }
    return clip(str(e));
  } catch {
    return "an exception that cannot be shown";
  }
};

let finished = false;
let outText = "", outLines = 0, outBytes = 0;
const finish = (ok, kind, valueText, error, files) => {
  if (finished) return;
  finished = true;
  let count = 0;
  if (ok) {
    // a getter run while the files were collected may have detached or shrunk a buffer
    // collected before it: a clean error, before any file is sent
    for (let i = 0; i < files.n; i++) {
      try { new U8(files[i].buf, files[i].off, files[i].len); } catch {
        ok = false; kind = "result"; valueText = null;
        error = "an output file's buffer was detached or shrunk while outFiles was read";
        break;
      }
    }
  }
  if (ok) {
    for (let i = 0; i < files.n; i++) {
      const f = files[i];
      const head = '{"type":"file","name":' + stringify(f.name) + ',"data":"';
      if (f.len === 0) writeLine(head + '"}');
      for (let at = 0; at < f.len; at += chunk) {
        const n = f.len - at < chunk ? f.len - at : chunk;
        writeLine(head + b64(new U8(f.buf, f.off + at, n)) + '"}');
      }
      count++;
    }
  }
  writeLine('{"type":"result","ok":' + (ok ? "true" : "false") +
    ',"kind":' + (kind === null ? "null" : stringify(kind)) +
    ',"value":' + (valueText === null ? "null" : stringify(valueText)) +
    ',"error":' + (error === null ? "null" : stringify(error)) +
    ',"stdout":' + stringify(outText) + ',"files":' + count + "}");
  exit(0);
};

const show = (x) => {
  if (typeof x === "string") return x;
  try {
    const s = stringify(x);
    if (typeof s === "string") return s;
  } catch {}
  try { return str(x); } catch { return "[unprintable]"; }
};
const log = (...a) => {
  if (finished) return;
  let s = "";
  for (let i = 0; i < a.length; i++) s += (i === 0 ? "" : " ") + show(a[i]);
  let n = s.length + 1;
  if (outBytes + 3 * n > cap) n = apply(taLength, apply(encode, encoder, [s]), []) + 1;
  if (outBytes + n > cap) {
    finish(false, "output_limit", null, "the code printed more than " + cap + " bytes", null);
    return;
  }
  outBytes += n;
  outText = outLines === 0 ? s : outText + "\n" + s;
  outLines++;
};
const nothing = () => {};
defineProperty(G, "console", { __proto__: null, configurable: true, writable: true, value: {
  log, info: log, warn: log, error: log, debug: log, trace: log, dir: log, dirxml: log,
  table: log, group: log, groupCollapsed: log, groupEnd: nothing, time: nothing,
  timeEnd: nothing, timeLog: nothing, count: nothing, countReset: nothing, clear: nothing,
  assert: (c, ...a) => { if (!c) apply(log, void 0, a.length === 0 ? ["Assertion failed"] : a); },
} });
// nothing persists between runs: with DENO_DIR under /dev/null these would only throw
deleteProperty(G, "localStorage");
deleteProperty(G, "caches");

const files = {};
for (const [name, size] of job.files) files[name] = readExact(size);
G.files = files;
G.outFiles = {};
const argNames = keys(job.args);
const argValues = argNames.map((k) => job.args[k]);

const bytesOf = (d) => {
  if (typeof d === "string") {
    const b = apply(encode, encoder, [d]);
    return { __proto__: null, buf: apply(taBuffer, b, []), off: 0, len: apply(taLength, b, []) };
  }
  if (d !== null && typeof d === "object") {
    try {
      return { __proto__: null, buf: apply(taBuffer, d, []), off: apply(taOffset, d, []),
               len: apply(taLength, d, []) };
    } catch {}
    try {
      return { __proto__: null, buf: apply(dvBuffer, d, []), off: apply(dvOffset, d, []),
               len: apply(dvLength, d, []) };
    } catch {}
    try { return { __proto__: null, buf: d, off: 0, len: apply(abLength, d, []) }; } catch {}
    if (sabLength !== null) {
      try { return { __proto__: null, buf: d, off: 0, len: apply(sabLength, d, []) }; } catch {}
    }
  }
  return null;
};
const collect = () => {
  const out = G.outFiles;
  const list = { __proto__: null, n: 0 };
  if (out === null || out === undefined) return list;
  if (typeof out !== "object") throw new TypeErr("outFiles must be an object of name: bytes");
  const names = keys(out);
  if (names.length > maxFiles) return "the code wrote " + names.length + " files (at most " + maxFiles + ")";
  let total = 0;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name.length > maxName) throw new TypeErr("an output file name is longer than " + maxName + " characters");
    const b = bytesOf(out[name]);
    if (b === null) throw new TypeErr("outFiles[" + stringify(apply(sliceS, name, [0, 200])) + "] must be a string, an ArrayBuffer or a typed array");
    if (b.len > maxFile) return "an output file is larger than " + maxFile + " bytes";
    total += b.len;
    if (total > maxTotal) return "the output files are larger than " + maxTotal + " bytes together";
    list[list.n] = { __proto__: null, name, buf: b.buf, off: b.off, len: b.len };
    list.n++;
  }
  return list;
};

let body = null, value, failure = null;
try {
  body = new AsyncFunction(...argNames, "let result;\n" + job.code + "\n;return result;");
} catch (e) {
  failure = e;
}
if (body !== null) {
  try {
    value = await apply(body, void 0, argValues);
  } catch (e) {
    failure = e;
  }
}
// from here on, no await: nothing of the program runs between the steps below and the end
if (failure !== null) finish(false, "exception", null, errorText(failure), null);
let valueText = null;
try {
  valueText = stringify(value === void 0 ? null : value);
  if (typeof valueText !== "string") valueText = "null";
} catch (e) {
  finish(false, "result", null, "the result cannot be made JSON: " + errorText(e), null);
}
if (valueText.length > maxResult) {
  finish(false, "result_too_large", null, "the result exceeds " + maxResult + " bytes", null);
}
let outs;
try {
  outs = collect();
} catch (e) {
  finish(false, "result", null, errorText(e), null);
}
if (typeof outs === "string") finish(false, "file_limit", null, outs, null);
finish(true, null, valueText, null, outs);
"""


# ---- starting the process ---------------------------------------------------------------------
def _spawn(deno, limits: Limits, harness: str) -> subprocess.Popen:
    url = "data:text/javascript;base64," + base64.b64encode(harness.encode()).decode()
    cmd = [str(deno), "run", "--no-prompt", "--quiet", "--no-config", "--no-lock",
           "--no-npm", "--no-code-cache", "--cached-only",
           "--allow-import=flowc-no-import.invalid:1", "--deny-read", "--deny-write",
           "--deny-net", "--deny-env", "--deny-run", "--deny-ffi", "--deny-sys",
           f"--v8-flags=--max-old-space-size={max(32, limits.memory_mb)}", url]
    env = {"DENO_DIR": _NO_DIR, "HOME": _NO_HOME, "DENO_NO_UPDATE_CHECK": "1",
           "DENO_NO_PROMPT": "1", "NO_COLOR": "1", "PATH": "/nonexistent"}
    # (spawn.py: started from flowc's spawner thread with the parent-death signal; fsize 0:
    # the process can write no file at all, from its first instruction)
    return spawn(cmd, fsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, env=env, cwd="/", start_new_session=True)


def _signal_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the process (from any thread; the waiting thread reaps it)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
    proc.wait()  # (with a timeout, Popen.wait polls with sleeps: milliseconds a run)
    for f in (proc.stdin, proc.stdout, proc.stderr):
        try:
            if f is not None:
                f.close()
        except OSError:
            pass


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# ---- reading what the program sends ----------------------------------------------------------
class _Failure(Exception):
    def __init__(self, kind: str, text: str):
        super().__init__(text)
        self.kind, self.text = kind, text


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    f = float(text)
    if not math.isfinite(f):
        raise ValueError("a number out of range")
    return f


def _small_int(text: str) -> int:
    if len(text) > 30:
        raise ValueError("an integer out of range")
    return int(text)


def _loads(text) -> object:
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                      parse_int=_small_int)


def _check_value(value) -> None:
    """At most MAX_DEPTH containers deep; every key and string valid Unicode."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            v.encode("utf-8")
        elif isinstance(v, (list, dict)):
            if depth >= MAX_DEPTH:
                raise _Failure("result", f"the result is nested deeper than {MAX_DEPTH} levels")
            if isinstance(v, dict):
                for k, item in v.items():
                    k.encode("utf-8")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in v)


def _parse_value(text: str):
    try:
        value = _loads(text)
        _check_value(value)
    except RecursionError:
        raise _Failure("result", f"the result is nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeEncodeError:
        raise _Failure("result", "the result holds a string that is not valid Unicode "
                       "(a lone surrogate)") from None
    except ValueError as e:
        raise _Failure("result", f"the result is not valid JSON ({str(e)[:100]})") from None
    return value


def _clean(text: str) -> str:
    """A string from the program with any lone surrogate replaced: safe to encode anywhere."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


class _Conversation:
    """One process's stdin, stdout and stderr, served by this thread alone until the result,
    the deadline, or a limit; raises _Failure or returns the result message."""

    def __init__(self, proc: subprocess.Popen, nonce: str, job: list, limits: Limits,
                 deadline: float):
        self.proc, self.limits, self.deadline = proc, limits, deadline
        self.prefix = (nonce + " ").encode()
        self.pending = [memoryview(b) for b in job if b]
        self.max_line = (6 * (limits.max_output_bytes + limits.max_result_bytes)
                         + 6 * (_MAX_ERROR + _MAX_NAME) + 2 * _CHUNK + 4096)
        self.max_data = 4 * ((_CHUNK + 2) // 3)
        self.buf = bytearray()           # the message being read, after its prefix
        self.in_msg = False
        self.at_line_start = True
        self.carry = b""                  # the start of a line that may become a message
        self.raw = 0                      # bytes the program wrote itself: stdout and stderr
        self.err_tail = b""
        self.files: list[tuple[str, bytearray]] = []
        self.names: set[str] = set()
        self.total = 0
        self.peak = 0                     # resident bytes, as sampled

    # the loop ------------------------------------------------------------------------------
    def run(self) -> dict:
        proc, limits = self.proc, self.limits
        ceiling = (limits.memory_mb + limits.rss_slack_mb) * MiB
        sel = selectors.DefaultSelector()
        fin, fout, ferr = proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno()
        for fd in (fin, fout, ferr):
            os.set_blocking(fd, False)
        sel.register(fout, selectors.EVENT_READ, "out")
        sel.register(ferr, selectors.EVENT_READ, "err")
        if self.pending:
            sel.register(fin, selectors.EVENT_WRITE, "in")
        else:
            proc.stdin.close()
        out_open = err_open = True
        ended_at = None  # when stdout closed without a result
        next_rss = 0.0
        try:
            while True:
                now = time.monotonic()
                if now >= self.deadline:
                    raise _Failure("timeout", f"the code ran longer than {limits.timeout:g} s "
                                   "and was stopped")
                if ended_at is not None and (not err_open or now - ended_at > 1.0):
                    raise self._crashed()
                if now >= next_rss:
                    rss = _rss(proc.pid)
                    self.peak = max(self.peak, rss)
                    if rss > ceiling:
                        raise _Failure("memory", "the code used more than its memory limit "
                                       f"({limits.memory_mb} MiB) and was stopped")
                    next_rss = now + 0.05
                for key, _ in sel.select(timeout=max(0.0, min(0.05, self.deadline - now))):
                    if key.data == "in":
                        if self._write(fin):
                            sel.unregister(fin)
                            try:
                                proc.stdin.close()
                            except OSError:
                                pass
                    elif key.data == "out":
                        chunk = self._read(fout, 1 << 20)
                        if chunk == b"":
                            sel.unregister(fout)
                            out_open = False
                            ended_at = time.monotonic()
                        elif chunk:
                            result = self._feed(chunk)
                            if result is not None:
                                return result
                    else:
                        chunk = self._read(ferr, 1 << 16)
                        if chunk == b"":
                            sel.unregister(ferr)
                            err_open = False
                        elif chunk:
                            self.raw += len(chunk)
                            self.err_tail = (self.err_tail + chunk)[-4096:]
                    if self.raw > limits.max_output_bytes:
                        raise _Failure("output_limit", "the code printed more than "
                                       f"{limits.max_output_bytes} bytes")
                if not out_open and ended_at is None:  # pragma: no cover
                    ended_at = time.monotonic()
        finally:
            sel.close()

    def _write(self, fd: int) -> bool:
        """Write what stdin takes now; True when all is written (or the pipe is gone)."""
        try:
            while self.pending:
                head = self.pending[0]
                n = os.write(fd, head[: 1 << 20])
                if n < len(head):
                    self.pending[0] = head[n:]
                    if n == 0:
                        return False
                else:
                    self.pending.pop(0)
        except BlockingIOError:
            return False
        except OSError:
            self.pending.clear()
        return True

    @staticmethod
    def _read(fd: int, size: int) -> bytes | None:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _crashed(self) -> _Failure:
        lines = _HARNESS_URL.sub("<harness>", self.err_tail.decode("utf-8", "replace")) \
            .strip().splitlines()
        tail = [ln for ln in lines if ln.startswith("error:")][-1:] or lines[-1:]
        text = "the JavaScript process ended without a result"
        kind = "crashed"
        if tail:
            text += f": {tail[0][:300]}"
            if "heap" in tail[0].lower() or "memory" in tail[0].lower():
                kind = "memory"
        return _Failure(kind, text)

    # lines -----------------------------------------------------------------------------------
    def _feed(self, chunk: bytes) -> dict | None:
        """Messages out of the stream; everything else counted in bulk and dropped (a flood
        of empty lines costs one search, not one step a line). A message is a line that
        starts with the prefix; the harness writes a newline before each, which is its own
        and not counted."""
        prefix, plen = self.prefix, len(self.prefix)
        data = self.carry + chunk if self.carry else chunk
        self.carry = b""
        pos, n = 0, len(data)
        while pos < n:
            if self.in_msg:
                nl = data.find(b"\n", pos)
                end = n if nl == -1 else nl
                if len(self.buf) + end - pos > self.max_line:
                    raise _Failure("protocol", "the JavaScript process sent a message over "
                                   "the size limit")
                self.buf += data[pos:end]
                if nl == -1:
                    return None
                payload = bytes(self.buf)
                self.buf.clear()
                self.in_msg, self.at_line_start, pos = False, True, nl + 1
                self.raw = max(0, self.raw - 1)
                result = self._message(payload)
                if result is not None:
                    return result
                continue
            if self.at_line_start:
                if n - pos < plen and prefix.startswith(data[pos:]):
                    self.carry = data[pos:]  # maybe a message's start: wait for more
                    return None
                if data.startswith(prefix, pos):
                    self.in_msg, pos = True, pos + plen
                    continue
            # the rest of this line is the program's; skip to the next line that is a message
            k = data.find(b"\n" + prefix, pos)
            if k != -1:
                self.raw += k + 1 - pos
                pos, self.at_line_start = k + 1, True
                continue
            last = data.rfind(b"\n", pos)
            if last != -1 and n - (last + 1) < plen and prefix.startswith(data[last + 1:]):
                self.raw += last + 1 - pos
                self.carry, self.at_line_start = data[last + 1:], True
                return None
            self.raw += n - pos
            self.at_line_start = data.endswith(b"\n")
            return None
        return None

    def _message(self, payload: bytes) -> dict | None:
        try:
            msg = _loads(payload)
        except RecursionError:
            raise _Failure("protocol", "the JavaScript process sent a message nested too "
                           "deep") from None
        except ValueError:
            raise _Failure("protocol", "the JavaScript process sent a message that is not "
                           "valid JSON") from None
        if not isinstance(msg, dict):
            raise _Failure("protocol", "the JavaScript process sent a message that is not "
                           "an object")
        kind = msg.get("type")
        if kind == "file":
            self._file(msg)
            return None
        if kind == "result":
            return self._result(msg)
        raise _Failure("protocol", "the JavaScript process sent a message of an unknown type")

    def _file(self, msg: dict) -> None:
        lim = self.limits
        name, data = msg.get("name"), msg.get("data")
        if set(msg) != {"type", "name", "data"} or not isinstance(name, str) \
                or not isinstance(data, str) or len(name) > _MAX_NAME \
                or len(data) > self.max_data:
            raise _Failure("protocol", "the JavaScript process sent a malformed file message")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise _Failure("result", "an output file name is not valid Unicode (a lone "
                           "surrogate)") from None
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Failure("protocol", "the JavaScript process sent a file that is not "
                           "base64") from None
        if not self.files or self.files[-1][0] != name:
            if name in self.names:
                raise _Failure("protocol", "the JavaScript process sent one file twice")
            if len(self.files) >= lim.max_files:
                raise _Failure("file_limit", f"the code wrote more than {lim.max_files} files")
            self.names.add(name)
            self.files.append((name, bytearray()))
        current = self.files[-1][1]
        if len(current) + len(raw) > lim.max_file_bytes:
            raise _Failure("file_limit", f"an output file is larger than {lim.max_file_bytes} "
                           "bytes")
        self.total += len(raw)
        if self.total > lim.max_total_file_bytes:
            raise _Failure("file_limit", "the output files are larger than "
                           f"{lim.max_total_file_bytes} bytes together")
        current += raw

    def _result(self, msg: dict) -> dict:
        fields = {"type", "ok", "kind", "value", "error", "stdout", "files"}
        ok, kind, value, error = msg.get("ok"), msg.get("kind"), msg.get("value"), msg.get("error")
        count, out = msg.get("files"), msg.get("stdout")
        good = (set(msg) == fields and isinstance(ok, bool) and isinstance(out, str)
                and isinstance(count, int) and not isinstance(count, bool)
                and (error is None or (isinstance(error, str) and len(error) <= 2 * _MAX_ERROR))
                and ((ok and kind is None and isinstance(value, str) and error is None)
                     or (not ok and kind in _KINDS and value is None and count == 0)))
        if not good or count != len(self.files):
            raise _Failure("protocol", "the JavaScript process sent a malformed result")
        return msg


# ---- the runner -------------------------------------------------------------------------------
def run_javascript(code: str, *, args: dict | None = None, inputs: dict[str, str] | None = None,
                   output_dir: str | None = None, limits: Limits | None = None,
                   assets: Assets | None = None) -> ExecutionResult:
    limits = limits or Limits()
    args = {} if args is None else args
    if not isinstance(args, dict) or not isinstance(code, str):
        return ExecutionResult(False, error_kind="exception",
                               error="the code must be text and the arguments a mapping")
    bad = [k for k in args if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        return ExecutionResult(False, error_kind="exception",
                               error=f"argument names must be identifiers: {bad}"[:300])
    deno = assets.deno if assets is not None else deno_binary()  # (no Pyodide needed here)
    files = read_inputs(inputs or {})
    nonce = secrets.token_hex(16)
    try:
        header = json.dumps({
            "code": code, "args": args,
            "files": [[name, len(data)] for name, data in files],
            "max_output_bytes": limits.max_output_bytes,
            "max_result_bytes": limits.max_result_bytes, "max_files": limits.max_files,
            "max_file_bytes": limits.max_file_bytes,
            "max_total_file_bytes": limits.max_total_file_bytes, "chunk": _CHUNK,
            "max_name": _MAX_NAME,
        }, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as e:
        return ExecutionResult(False, error_kind="exception", error="the arguments cannot be "
                               f"given to JavaScript ({type(e).__name__}: {str(e)[:200]})")
    job = [nonce.encode(), b"%020d" % len(header), header, *(bytes(d) for _, d in files)]
    t0 = time.monotonic()
    try:
        proc = _spawn(deno, limits, _HARNESS)
    except OSError as e:
        return ExecutionResult(False, error_kind="setup",
                               error=f"the JavaScript process could not start: {e}"[:300])
    msg, failure, conv = None, None, None
    try:
        conv = _Conversation(proc, nonce, job, limits, t0 + limits.timeout)
        with executing(lambda: _signal_group(proc)):  # a cancelled run's work is killed
            msg = conv.run()
    except _Failure as f:
        failure = f
    except Exception as e:  # a fault of ours, on hostile input: still a clean error
        failure = _Failure("protocol", "the JavaScript runner could not read the process's "
                           f"messages ({type(e).__name__})")
    finally:
        _kill(proc)
    elapsed = (time.monotonic() - t0) * 1000
    peak = conv.peak / MiB if conv is not None else 0.0
    if failure is not None:
        return ExecutionResult(False, error_kind=failure.kind, error=failure.text,
                               elapsed_ms=elapsed, peak_rss_mb=peak)
    stdout = _clean(msg["stdout"])[: limits.max_output_bytes]
    try:
        r = _finish(msg, stdout, conv, limits, output_dir, elapsed)
    except _Failure as f:
        r = ExecutionResult(False, stdout=stdout, error_kind=f.kind, error=f.text,
                            elapsed_ms=elapsed)
    except Exception as e:  # writing the files failed in a way the checks did not foresee
        r = ExecutionResult(False, stdout=stdout, error_kind="result", elapsed_ms=elapsed,
                            error=f"the result could not be taken ({type(e).__name__}: "
                            f"{str(e)[:200]})")
    r.peak_rss_mb = peak
    return r


def _finish(msg: dict, stdout: str, conv: _Conversation, limits: Limits,
            output_dir: str | None, elapsed: float) -> ExecutionResult:
    cap = limits.max_output_bytes
    if msg["kind"] != "output_limit" and len(stdout.encode()) + conv.raw > cap:
        # the program's own writes to stdout and stderr count against the cap too
        raise _Failure("output_limit", f"the code printed more than {cap} bytes")
    if not msg["ok"]:
        return ExecutionResult(False, stdout=stdout, error_kind=msg["kind"], elapsed_ms=elapsed,
                               error=_HARNESS_URL.sub("<harness>", _clean(msg["error"] or ""))
                               [:_MAX_ERROR])
    text = msg["value"]
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_result_bytes:
        raise _Failure("result_too_large", f"the result exceeds {limits.max_result_bytes} bytes")
    value = _parse_value(text)
    files, refused = _outputs(conv.files)
    written: list = []
    if output_dir and files:
        written, bad = write_outputs(files, output_dir)
        refused += [b[:300] for b in bad]
    return ExecutionResult(True, value, stdout, "", None, None, written, refused, elapsed)


def _outputs(files: list[tuple[str, bytearray]]) -> tuple[list[tuple[str, bytearray]], list[str]]:
    """Files with safe names, none a folder of another; the refused ones, each said briefly."""
    keep, refused = [], []
    taken: set[str] = set()
    folders: set[str] = set()
    for name, data in files:
        try:
            rel = safe_name(name)
        except UnsafeName as e:
            refused.append(str(e)[:300])
            continue
        parents = [str(p) for p in PurePosixPath(rel).parents if str(p) != "."]
        if rel in taken or rel in folders or any(p in taken for p in parents):
            refused.append(f"file name {rel[:200]!r} clashes with another output file")
            continue
        taken.add(rel)
        folders.update(parents)
        keep.append((rel, data))
    return keep, refused
