"""The `code javascript` runner against hostile programs (issue 12, the JavaScript part).

Every test runs real Deno processes. No test asserts how fast anything is: a bounded wait
for a process to die is the only use of the clock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from flowc.runtime.sandbox import Limits
from flowc.runtime.sandbox import js as jsmod
from flowc.runtime.sandbox.assets import Assets, ensure_assets
from flowc.runtime.sandbox.js import run_javascript

MiB = 1024 * 1024
KNOWN_NONCE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture(scope="module")
def assets() -> Assets:
    return ensure_assets()


@pytest.fixture
def known_nonce(monkeypatch):
    """The runner's secret made known to the test (never to the program)."""
    monkeypatch.setattr(jsmod, "secrets", types.SimpleNamespace(token_hex=lambda n=16: KNOWN_NONCE))
    return KNOWN_NONCE


# ---- helpers ----------------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def _deno_children(parent: int | None = None) -> list[int]:
    """Live JavaScript-runner Deno processes whose parent is `parent` (this process)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _proc_stat(int(d))
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        if st and st[1] == parent and st[0] != "Z" and b"deno" in cmd and b"host.mjs" not in cmd:
            found.append(int(d))
    return found


def _kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _run_contained(code: str, **kw):
    """run_javascript, with a check that it neither raises nor leaves its process alive."""
    before = set(_deno_children())
    try:
        r = run_javascript(code, **kw)
    except BaseException:
        left = [p for p in _deno_children() if p not in before]
        _kill_pids(left)
        raise
    left = [p for p in _deno_children() if p not in before]
    _kill_pids(left)
    assert left == [], "run_javascript returned with its Deno process still alive"
    return r


def _leaky_harness() -> str:
    """The runner's harness, changed to hand the nonce to user code: what would happen if a
    program learnt it some way we did not foresee."""
    harness, n = re.subn(r"(const nonce = [^;\n]+;)", r"\1 globalThis.LEAKED = nonce;",
                         jsmod._HARNESS, count=1)
    assert n == 1, "the harness has no `const nonce = ...;` line"
    return harness


# ---- A1: a forged message never raises out of the runner and never leaves Deno spinning --------
_FORGE = """
const L = globalThis.LEAKED;
const N = (typeof L === "string" ? L : new TextDecoder().decode(L)).trim();
const enc = new TextEncoder();
for (const line of lines) Deno.stdout.writeSync(enc.encode(line.replaceAll("%N%", N) + "\\n"));
while (true) {}
"""


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _msg(**fields) -> str:
    base = {"nonce": "%N%", "type": "result", "ok": True, "value": "null", "stdout": "",
            "overflow": False, "files": 0}
    base.update(fields)
    return "%N% " + json.dumps(base)


FORGED = {
    "deep_message": ['%N% {"nonce": "%N%", "type": "result", "x": ' + _deep(100_000) + "}"],
    "deep_value": [_msg(value=_deep(5000))],
    "value_1e400": [_msg(value="1e400")],
    "value_nan": [_msg(value="NaN")],
    "value_infinity": [_msg(value='{"a": -Infinity}')],
    "value_huge_int": [_msg(value="9" * 5000)],
    "value_lone_surrogate_key": [_msg(value='{"\\ud800": 1}')],
    "value_lone_surrogate_string": [_msg(value='"\\udfff"')],
    "elapsed_1e400": ["%N% " + json.dumps({"nonce": "%N%", "type": "result", "ok": True,
                                            "value": "1", "elapsed_ms": 1e400})
                      .replace("Infinity", "1e400")],
    "ok_not_bool": [_msg(ok="yes")],
    "stdout_not_str": [_msg(stdout={"a": 1})],
    "value_not_str": [_msg(value=5)],
    "files_not_int": [_msg(files={"a": 1})],
    "not_an_object": ["%N% [1, 2, 3]"],
    "not_json": ["%N% {this is not json"],
    "unknown_type": ["%N% " + json.dumps({"nonce": "%N%", "type": "shell", "cmd": "rm -rf /"})],
    "file_surrogate_name": ["%N% " + json.dumps({"type": "file", "name": "\udc80.txt",
                                                  "data": "YQ=="}), _msg(files=1)],
    "file_bad_base64": ["%N% " + json.dumps({"type": "file", "name": "a.txt", "data": "!!"}),
                        _msg(files=1)],
    "file_count_mismatch": [_msg(files=3)],
    "file_name_not_str": ["%N% " + json.dumps({"type": "file", "name": 7, "data": ""}),
                          _msg(files=1)],
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_message_is_a_clear_error_and_the_process_dies(case, monkeypatch, assets,
                                                                tmp_path):
    """Assume the nonce leaked: whatever is forged, the runner answers with a clear error of the
    protocol/result kind, kills the process, and raises nothing."""
    monkeypatch.setattr(jsmod, "_HARNESS", _leaky_harness())
    r = _run_contained(_FORGE, args={"lines": FORGED[case]}, limits=Limits(timeout=30), assets=assets,
                       output_dir=str(tmp_path / "out"))
    assert not r.ok, r
    assert r.error_kind in ("protocol", "result"), r
    assert r.error and len(r.error) < 1000
    r.error.encode("utf-8")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_a_result_nested_deeper_than_the_limit_is_a_result_error(assets):
    code = "let v = 1; for (let i = 0; i < 5000; i++) v = [v]; result = v;"
    r = _run_contained(code, assets=assets, limits=Limits(timeout=30))
    assert not r.ok and r.error_kind == "result", r


def test_a_result_at_the_depth_limit_comes_back(assets):
    code = "let v = 1; for (let i = 0; i < 60; i++) v = [v]; result = v;"
    r = _run_contained(code, assets=assets)
    assert r.ok, r
    depth, v = 0, r.value
    while isinstance(v, list):
        depth, v = depth + 1, v[0]
    assert depth == 60 and v == 1


def test_a_lone_surrogate_in_a_file_name_or_the_value_is_a_clear_error(assets, tmp_path):
    r = _run_contained("outFiles['\\udc80.txt'] = 'x'; result = 1;", assets=assets,
                       output_dir=str(tmp_path / "o1"))
    assert not r.ok and r.error_kind == "result", r
    r = _run_contained("result = {['\\ud800']: 'x'};", assets=assets)
    assert not r.ok and r.error_kind == "result", r
    r = _run_contained("result = 'half \\udfff';", assets=assets)
    assert not r.ok and r.error_kind == "result", r


def test_a_file_and_a_folder_of_the_same_name_do_not_crash(assets, tmp_path):
    r = _run_contained("outFiles['a'] = 'file'; outFiles['a/b'] = 'inside'; result = 1;",
                       assets=assets, output_dir=str(tmp_path / "out"))
    # one of them is written, the other refused (or the run is a clear error): no exception
    if r.ok:
        assert len(r.files) == 1 and len(r.refused_files) == 1, r
    else:
        assert r.error_kind in ("result", "file_limit"), r


def test_a_buffer_detached_while_outfiles_is_read_is_a_clear_error(assets, tmp_path):
    """A getter on outFiles runs while the harness collects the files: it detaches a buffer
    collected before it. A result error, no file half sent."""
    code = """
    const first = new Uint8Array(1000).fill(1);
    outFiles = { a: first, get b() { first.buffer.transfer(); return "late"; } };
    result = 1;
    """
    r = _run_contained(code, assets=assets, output_dir=str(tmp_path / "out"))
    assert not r.ok and r.error_kind == "result" and "detached" in r.error, r


def test_console_methods_and_peak_memory(assets):
    code = ("console.table([1]); console.group('g'); console.groupEnd(); console.time('t');"
            "console.assert(false, 'bad'); console.assert(true, 'fine'); console.count();"
            "result = 1;")
    r = _run_contained(code, assets=assets)
    assert r.ok and r.stdout == "[1]\ng\nbad", r
    assert r.peak_rss_mb > 0


def test_bigint_and_cycles_are_result_errors(assets):
    r = _run_contained("result = 10n;", assets=assets)
    assert not r.ok and r.error_kind == "result", r
    r = _run_contained("const a = {}; a.a = a; result = a;", assets=assets)
    assert not r.ok and r.error_kind == "result", r


# ---- A2: the nonce never reaches user code ------------------------------------------------------
_SPY = r"""
const __w = Deno.stdout.writeSync.bind(Deno.stdout);
const __enc = new TextEncoder(); const __encode = __enc.encode.bind(__enc);
const __dec = new TextDecoder(); const __decode = __dec.decode.bind(__dec);
const __apply = Reflect.apply, __construct = Reflect.construct, __exec = RegExp.prototype.exec;
const __isView = ArrayBuffer.isView, __stringify = JSON.stringify, __Proxy = Proxy;
const __has = Set.prototype.has, __add = Set.prototype.add, __seen = new Set();
const __getOwn = Object.getOwnPropertyDescriptor, __define = Object.defineProperty;
const __ownKeys = Reflect.ownKeys, __getProto = Object.getPrototypeOf;
const __re = /[0-9a-f]{32}/g;
let __busy = false;
function __forge(c) {
  const body = __stringify({ nonce: c, type: "result", id: 1, ok: true, value: '"FORGED"',
    stdout: "FORGED", overflow: false, files: 0 });
  __w(__encode(c + " " + body + "\n"));
}
function spy(x) {
  if (__busy) return;
  __busy = true;
  try {
    let s = null;
    if (typeof x === "string") s = x;
    else if (x !== null && typeof x === "object" && __isView(x)) s = __decode(x);
    else if (x !== null && typeof x === "object") {
      // an object the harness handed over: look at its own string fields
      const ks = __ownKeys(x);
      s = "";
      for (let i = 0; i < ks.length && i < 64; i++) {
        const d = __getOwn(x, ks[i]);
        if (d && typeof d.value === "string") s += " " + d.value;
      }
    }
    if (s !== null) {
      __re.lastIndex = 0;
      let m;
      while ((m = __apply(__exec, __re, [s])) !== null) {
        const c = m[0];
        if (!__apply(__has, __seen, [c])) { __apply(__add, __seen, [c]); __forge(c); }
      }
    }
  } catch {} finally { __busy = false; }
}
function __wrap(f) {
  return new __Proxy(f, {
    apply(t, th, args) {
      spy(th); for (let i = 0; i < args.length; i++) spy(args[i]);
      const r = __apply(t, th, args); spy(r); return r;
    },
    construct(t, args, nt) {
      for (let i = 0; i < args.length; i++) spy(args[i]);
      const r = __construct(t, args, nt); spy(r); return r;
    },
  });
}
function __patch(obj, names) {
  for (const k of names) {
    const d = __getOwn(obj, k);
    if (!d) continue;
    try {
      if (typeof d.value === "function") __define(obj, k, { ...d, value: __wrap(d.value) });
      else if (d.get) __define(obj, k, { ...d, get: __wrap(d.get) });
    } catch {}
  }
}
"""

_TA = "Object.getPrototypeOf(Uint8Array.prototype)"
HOOKS = {
    "proto_setter_nonce": """
        Object.defineProperty(Object.prototype, "nonce", { configurable: true,
          set(v) { spy(v); spy(this); }, get() { spy(this); return undefined; } });""",
    "proto_setters_every_field": """
        for (const k of ["nonce", "type", "id", "ok", "value", "error", "stdout", "stderr",
                         "overflow", "files", "name", "data", "kind", "elapsed_ms", "toJSON",
                         "0", "1", "2", "3"]) {
          for (const o of [Object.prototype, Array.prototype]) {
            Object.defineProperty(o, k, { __proto__: null, configurable: true,
              set(v) { spy(v); spy(this); }, get() { spy(this); return undefined; } });
          }
        }""",
    "json_stringify": "JSON.stringify = __wrap(JSON.stringify); JSON.parse = __wrap(JSON.parse);",
    "text_encoder": """
        __patch(TextEncoder.prototype, ["encode", "encodeInto"]);
        __patch(TextDecoder.prototype, ["decode"]);
        globalThis.TextEncoder = __wrap(TextEncoder);""",
    "typed_arrays": f"""
        __patch(Uint8Array.prototype, ["subarray", "slice", "set", "toBase64", "toHex"]);
        __patch({_TA}, ["subarray", "slice", "set", "length", "byteLength", "byteOffset",
                        "buffer", "fill", "map", "join", "values", "entries", "keys",
                        "at", "indexOf", "includes"]);
        __patch({_TA}, [Symbol.iterator]);
        __patch(ArrayBuffer.prototype, ["slice", "byteLength", "resize", "transfer"]);
        __patch(Uint8Array, ["from", "of", "fromBase64", "fromHex"]);
        globalThis.Uint8Array = __wrap(Uint8Array);""",
    "write_sync": """
        __patch(Object.getPrototypeOf(Deno.stdout), ["writeSync", "write", "close"]);
        __patch(Object.getPrototypeOf(Deno.stderr), ["writeSync", "write"]);
        Deno.stdout.writeSync = __wrap(Deno.stdout.writeSync);
        __patch(Deno, ["writeSync", "write", "exit"]);""",
    "reflect": """
        __patch(Reflect, ["apply", "construct", "get", "set", "ownKeys", "defineProperty",
                          "getOwnPropertyDescriptor"]);""",
    "function_prototype": """
        __patch(Function.prototype, ["call", "apply", "bind", "toString"]);""",
    "strings_and_arrays": """
        __patch(String, ["fromCharCode", "fromCodePoint", "raw"]);
        __patch(globalThis, ["btoa", "atob", "encodeURIComponent", "escape", "String"]);
        __patch(String.prototype, ["concat", "slice", "substring", "replace", "replaceAll",
          "split", "charCodeAt", "codePointAt", "padStart", "padEnd", "toString", "valueOf",
          "toWellFormed", "isWellFormed", "at", "startsWith", "indexOf", "trim", Symbol.iterator]);
        __patch(Array.prototype, ["map", "push", "join", "concat", "slice", "forEach",
          "reduce", "filter", "splice", "unshift", "pop", "shift", Symbol.iterator]);
        __patch(Object, ["keys", "values", "entries", "fromEntries", "assign", "create",
          "defineProperty", "setPrototypeOf", "freeze"]);
        __patch(Object.prototype, ["toString", "valueOf", "hasOwnProperty"]);""",
    "proxy_on_global": """
        const gp = Object.getPrototypeOf(globalThis);
        Object.setPrototypeOf(globalThis, new Proxy(gp, {
          get(t, k, r) { spy(typeof k === "string" ? k : ""); return Reflect.get(t, k, r); },
          has(t, k) { spy(typeof k === "string" ? k : ""); return Reflect.has(t, k); },
        }));""",
    "symbols_and_errors": """
        Object.defineProperty(String.prototype, Symbol.toPrimitive, { configurable: true,
          value: function () { spy(this); return String.prototype.valueOf.call(this); } });
        Object.defineProperty(Array.prototype, "toJSON", { configurable: true,
          value: function () { spy(this); return this; } });
        Error.prepareStackTrace = (e, cs) => {
          for (const c of cs) { try { spy(c.getThis()); spy(String(c.getFunction())); } catch {} }
          return "stack";
        };
        Error.stackTraceLimit = 100;
        __patch(Error, ["captureStackTrace"]);
        Symbol.prototype.toString = __wrap(Symbol.prototype.toString);""",
    "deno_internals": """
        const core = Deno[Deno.internal]?.core;
        if (core) {
          for (const k of Object.getOwnPropertyNames(core.ops ?? {})) __patch(core.ops, [k]);
          for (const k of Object.getOwnPropertyNames(core)) try { __patch(core, [k]); } catch {}
        }
        __patch(Deno, Object.getOwnPropertyNames(Deno));""",
    "everything": """
        const done = new Set();
        const walk = (o, depth) => {
          if (o === null || (typeof o !== "object" && typeof o !== "function")) return;
          if (done.has(o) || depth > 3) return;
          done.add(o);
          let keys = [];
          try { keys = Reflect.ownKeys(o); } catch { return; }
          for (const k of keys) {
            let d; try { d = Object.getOwnPropertyDescriptor(o, k); } catch { continue; }
            if (!d) continue;
            const v = d.value;
            if (k !== "constructor" && k !== "prototype" && o !== globalThis) __patch(o, [k]);
            if (typeof v === "function" || (v && typeof v === "object")) walk(v, depth + 1);
          }
          walk(Object.getPrototypeOf(o), depth + 1);
        };
        walk(globalThis, 0);""",
}

SCENARIOS = {
    "return": "console.log('hello', {a: 1}); outFiles['f.txt'] = 'data'; result = {genuine: true};",
    "throw": "console.log('hello'); throw new Error('genuine failure');",
    "overflow": "for (let i = 0; i < 100000; i++) console.log('x'.repeat(200)); result = 1;",
    "bytes_file": "outFiles['b.bin'] = new Uint8Array([1, 2, 3]); result = {genuine: true};",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_the_nonce_never_reaches_user_code(hook, scenario, known_nonce, assets, tmp_path):
    """The program patches what a naive harness would use to build and write its message, each
    patch watching for the secret; with it, it would forge a second, earlier result. The host
    gets the genuine outcome, and the secret appears nowhere the program could reach."""
    code = _SPY + textwrap.dedent(HOOKS[hook]) + "\n" + SCENARIOS[scenario]
    out = tmp_path / "out"
    r = _run_contained(code, assets=assets, output_dir=str(out),
                       limits=Limits(timeout=60, max_output_bytes=256 * 1024))
    blob = json.dumps([r.value, r.stdout, r.stderr, r.error], default=str)
    assert "FORGED" not in blob, r
    assert known_nonce not in blob
    for p in out.rglob("*") if out.exists() else ():
        assert known_nonce.encode() not in p.read_bytes()
    if scenario == "throw":
        assert r.error_kind == "exception" and "genuine failure" in r.error, r
    elif scenario == "overflow":
        assert r.error_kind == "output_limit", r
    else:
        assert r.ok and r.value == {"genuine": True}, r
        names = {f.name for f in r.files}
        assert names == ({"f.txt"} if scenario == "return" else {"b.bin"})
        if scenario == "return":
            assert r.stdout == 'hello {"a":1}'


_SNAPSHOT = r"""
const v8 = await import("node:v8");
const found = new Set();
let tail = "";
for await (const chunk of v8.getHeapSnapshot()) {
  const text = tail + String(chunk);
  for (const m of text.matchAll(/[0-9a-f]{32}/g)) found.add(m[0]);
  tail = text.slice(-40);
}
const enc = new TextEncoder();
for (const c of found) {
  const body = JSON.stringify({ type: "result", ok: true, kind: null, value: '"FORGED"',
                                error: null, stdout: "", files: 0 });
  Deno.stdout.writeSync(enc.encode("\n" + c + " " + body + "\n"));
}
result = { genuine: true, candidates: [...found] };
"""


def test_a_heap_snapshot_does_not_hold_the_nonce(known_nonce, assets):
    """node:v8's getHeapSnapshot needs no permission and serialises every string of the heap:
    the nonce is never a string there (it stays bytes, read from stdin into a buffer)."""
    r = _run_contained(_SNAPSHOT, assets=assets, limits=Limits(timeout=120, memory_mb=512))
    assert r.ok and r.value["genuine"] is True, r
    assert known_nonce not in r.value["candidates"]


# ---- A3: output capped as it streams ------------------------------------------------------------
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_raw_output_past_the_cap_stops_the_program(stream, assets):
    """Writes straight to Deno.stdout / Deno.stderr, forever: output_limit, not the timeout."""
    code = (f"const c = new TextEncoder().encode('z'.repeat(4095) + '\\n');"
            f"while (true) Deno.{stream}.writeSync(c);")
    r = _run_contained(code, assets=assets, limits=Limits(timeout=120, max_output_bytes=64 * 1024))
    assert not r.ok and r.error_kind == "output_limit", r


def test_console_output_past_the_cap_stops_the_program(assets):
    """console.log in a loop that never ends: stopped at the cap, not at the timeout."""
    code = "while (true) console.log('x'.repeat(1000));"
    r = _run_contained(code, assets=assets, limits=Limits(timeout=120, max_output_bytes=64 * 1024))
    assert not r.ok and r.error_kind == "output_limit", r
    assert len(r.stdout.encode()) <= 64 * 1024


def test_console_output_is_counted_in_bytes(assets):
    """60 000 euro signs are 180 000 bytes: over a 100 000-byte cap."""
    code = "console.log('\\u20ac'.repeat(60000)); result = 1;"
    r = _run_contained(code, assets=assets, limits=Limits(timeout=60, max_output_bytes=100_000))
    assert not r.ok and r.error_kind == "output_limit", r


def test_console_and_raw_output_share_one_cap(assets):
    """40 KB through console.log and 40 KB straight to stderr: 80 KB against a 64 KiB cap."""
    code = ("console.log('a'.repeat(40000));"
            "Deno.stderr.writeSync(new TextEncoder().encode('b'.repeat(40000)));"
            "result = 1;")
    r = _run_contained(code, assets=assets, limits=Limits(timeout=60, max_output_bytes=64 * 1024))
    assert not r.ok and r.error_kind == "output_limit", r


def test_a_flood_of_empty_lines_is_counted(assets):
    code = "const c = new Uint8Array(65536).fill(10); while (true) Deno.stdout.writeSync(c);"
    r = _run_contained(code, assets=assets, limits=Limits(timeout=120, max_output_bytes=64 * 1024))
    assert not r.ok and r.error_kind == "output_limit", r


def test_the_reader_finds_messages_at_every_split_and_counts_the_rest():
    """The stream reader alone: junk before, between and glued to messages, cut into two reads
    at every position; the one result is found, and exactly the program's bytes are counted."""
    nonce = "ab" * 16
    result = ('{"type":"result","ok":true,"kind":null,"value":"1","error":null,'
              '"stdout":"","files":1}')
    file_msg = '{"type":"file","name":"f","data":"eHl6"}'
    junk1, junk2 = "junk " + nonce[:10] + "\n\n" + nonce + "x\n", "half" + nonce[:5]
    stream = (junk1 + "\n" + nonce + " " + file_msg + "\n" + junk2 + "\n" + nonce + " "
              + result + "\n").encode()
    program_bytes = len(junk1) + len(junk2)
    for cut in range(len(stream) + 1):
        conv = jsmod._Conversation(None, nonce, [], Limits(), 0.0)
        got = None
        for piece in (stream[:cut], stream[cut:]):
            if piece and got is None:
                got = conv._feed(piece)
        assert got is not None and got["value"] == "1", cut
        assert conv.raw == program_bytes, (cut, conv.raw)
        assert [(n, bytes(d)) for n, d in conv.files] == [("f", b"xyz")]


def test_output_under_the_cap_is_fine(assets):
    code = "console.log('a'.repeat(1000)); console.error('b'); result = 2;"
    r = _run_contained(code, assets=assets, limits=Limits(max_output_bytes=64 * 1024))
    assert r.ok and r.value == 2 and r.stdout == "a" * 1000 + "\nb", r


# ---- A4: nothing of a program on disk; no config; no persistent web storage ---------------------
def _private_assets(base: Path, shared: Assets) -> Assets:
    """The real Deno with a fresh cache folder of the test's own, to see what a run writes."""
    deno_dir = base / "cache" / "deno-dir"
    deno_dir.mkdir(parents=True)
    return Assets(deno=shared.deno, pyodide_dir=shared.pyodide_dir, snapshot=shared.snapshot,
                  deno_dir=deno_dir)


def _files_under(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _grep(root: Path, needle: bytes, since: float) -> list[str]:
    hits = []
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
                if st.st_mtime < since or not os.path.isfile(p) or st.st_size > 512 * MiB:
                    continue
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except OSError:
                continue
    return hits


def test_nothing_of_a_program_is_left_on_disk(assets, tmp_path):
    """The code, its arguments and its input files, each with a unique marker: none of them is
    anywhere on disk after the run (the shared Deno cache, the temp folder, a private cache)."""
    import tempfile

    import fsspec

    marker = "flowc-js-marker-" + os.urandom(8).hex()
    with fsspec.open(f"memory://jsmark/{marker}.txt", "wb") as f:
        f.write(f"input {marker}-input".encode())
    since = time.time() - 1
    private = _private_assets(tmp_path, assets)
    for a in (assets, private):
        r = _run_contained(f"const code_marker = '{marker}-code'; result = arg.length;",
                           args={"arg": f"{marker}-arg"},
                           inputs={"in.txt": f"memory://jsmark/{marker}.txt"}, assets=a)
        assert r.ok, r
    for root in (assets.deno_dir, private.deno_dir, Path(tempfile.gettempdir()), tmp_path):
        assert _grep(root, marker.encode(), since) == [], root
    assert _files_under(private.deno_dir) == {}


def test_a_deno_json_in_a_parent_folder_is_not_applied(assets, tmp_path, monkeypatch):
    """A deno.json that would enable Deno KV (a persistent store), next to the cache, the
    working directory and the temp folder: none is read."""
    (tmp_path / "deno.json").write_text('{"unstable": ["kv"], "lock": true}')
    private = _private_assets(tmp_path, assets)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    r = _run_contained("result = typeof Deno.openKv;", assets=private)
    assert r.ok and r.value == "undefined", r
    assert not (tmp_path / "deno.lock").exists()


_STORE = """
const out = {};
try { localStorage.setItem("k", tag); out.local = "set"; } catch (e) { out.local = String(e); }
try { sessionStorage.setItem("k", tag); out.session = "set"; } catch (e) { out.session = String(e); }
try { const c = await caches.open("c"); await c.put("http://x.test/k", new Response(tag));
      out.cache = "set"; } catch (e) { out.cache = String(e); }
result = out;
"""
_READ = """
const out = {};
try { out.local = localStorage.getItem("k"); } catch (e) { out.local = null; }
try { out.session = sessionStorage.getItem("k"); } catch (e) { out.session = null; }
try { const c = await caches.open("c"); const r = await c.match("http://x.test/k");
      out.cache = r ? await r.text() : null; } catch (e) { out.cache = null; }
result = out;
"""


@pytest.mark.parametrize("shared", [True, False], ids=["shared_cache", "private_cache"])
def test_web_storage_does_not_outlive_a_run(shared, assets, tmp_path):
    a = assets if shared else _private_assets(tmp_path, assets)
    tag = "tag-" + os.urandom(6).hex()
    first = _run_contained(_STORE, args={"tag": tag}, assets=a)
    assert first.ok, first
    second = _run_contained(_READ, assets=a)
    assert second.ok, second
    assert second.value == {"local": None, "session": None, "cache": None}, (first, second)


def test_a_run_cannot_fill_the_disk(assets, tmp_path):
    """Cache API entries, localStorage and modules imported from data: URLs (Deno caches their
    analysis and code): 100 MiB attempted; the private cache folder stays empty."""
    private = _private_assets(tmp_path, assets)
    code = """
    const mib = "y".repeat(1 << 20);
    const out = [];
    try { const c = await caches.open("fill");
          for (let i = 0; i < 60; i++) await c.put("http://x.test/" + i, new Response(mib));
          out.push("cache wrote"); } catch (e) { out.push("cache: " + e); }
    try { for (let i = 0; i < 9; i++) localStorage.setItem("k" + i, mib); out.push("local wrote"); }
    catch (e) { out.push("local: " + e); }
    for (let i = 0; i < 30; i++) {
      try { await import("data:text/javascript,export const v" + i + " = '" + mib + "';"); }
      catch (e) { out.push("import: " + e); break; }
    }
    result = out;
    """
    r = _run_contained(code, assets=private, limits=Limits(timeout=120, memory_mb=512))
    files = _files_under(tmp_path / "cache")
    assert sum(files.values()) < 1 * MiB, (r, files)
    assert _grep(tmp_path, b"yyyyyyyyyyyyyyyy", 0) == []


def test_the_process_may_write_no_file_at_all(assets):
    """Belt and braces under the unwritable Deno folder: RLIMIT_FSIZE 0 (and no core dumps)."""
    import threading

    box = []
    t = threading.Thread(target=lambda: box.append(run_javascript(
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000); result = 1;",
        assets=assets, limits=Limits(timeout=60))))
    t.start()
    limits_text = None  # the last read: the program waits 3 s, so long after its start
    bound = time.monotonic() + 60
    while t.is_alive() and time.monotonic() < bound:
        for pid in _deno_children():
            try:
                limits_text = Path(f"/proc/{pid}/limits").read_text()
            except OSError:
                pass
        time.sleep(0.02)
    t.join(60)
    assert box and box[0].ok, box
    assert limits_text is not None, "the run ended before its limits could be read"
    fsize = next(ln for ln in limits_text.splitlines() if ln.startswith("Max file size"))
    core = next(ln for ln in limits_text.splitlines() if ln.startswith("Max core file size"))
    assert fsize.split()[3:5] == ["0", "0"] and core.split()[4:6] == ["0", "0"], limits_text


# ---- A5: the process dies with its host --------------------------------------------------------
@pytest.mark.parametrize("way", ["setpriv", "prctl"])
def test_the_javascript_process_dies_with_its_host(way, tmp_path):
    """A Python process runs `while (true) {}` with a long timeout and is SIGKILLed: its Deno
    child does not stay behind, re-parented and spinning. With util-linux's setpriv, and with
    the fallback when setpriv is missing (prctl between fork and exec)."""
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent("""
        import importlib, sys
        from flowc.runtime.sandbox import Limits
        from flowc.runtime.sandbox.js import run_javascript
        if sys.argv[1] == "prctl":  # as without util-linux: prctl and setrlimit in the child
            importlib.import_module("flowc.runtime.sandbox.spawn")._wrapper = []
        print("start", flush=True)
        run_javascript("while (true) {}", limits=Limits(timeout=600))
    """))
    host = subprocess.Popen([sys.executable, str(script), way], stdout=subprocess.PIPE,
                            cwd=str(Path(__file__).resolve().parents[1]))
    deno = []
    try:
        assert host.stdout.readline().strip() == b"start"
        bound = time.monotonic() + 120
        while not deno and time.monotonic() < bound:
            deno = _deno_children(host.pid)
            time.sleep(0.05)
        assert deno, "the host never started its Deno process"
        started = {p: _proc_stat(p)[2] for p in deno}
        time.sleep(0.5)  # let it spin
        host.kill()
        host.wait()
        bound = time.monotonic() + 60
        alive = deno
        while alive and time.monotonic() < bound:
            alive = [p for p in deno if (st := _proc_stat(p)) and st[0] != "Z"
                     and st[2] == started[p]]
            time.sleep(0.1)
        assert alive == [], "the Deno process outlived its host"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        for p in deno:
            st = _proc_stat(p)
            if st and st[0] != "Z":
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# ---- A6: large files ---------------------------------------------------------------------------
def test_input_files_up_to_the_documented_total(assets, tmp_path):
    """Five 20 MiB inputs (100 MiB, the default total): the program sees every byte."""
    import fsspec

    inputs = {}
    digests = {}
    for i in range(5):
        data = hashlib.sha256(str(i).encode()).digest() * (20 * MiB // 32)
        with fsspec.open(f"memory://jsbig/in{i}.bin", "wb") as f:
            f.write(data)
        inputs[f"in{i}.bin"] = f"memory://jsbig/in{i}.bin"
        digests[f"in{i}.bin"] = hashlib.sha256(data).hexdigest()
    code = """
    const out = {};
    for (const [n, d] of Object.entries(files)) {
      out[n] = [d.length, Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", d)),
                 (b) => b.toString(16).padStart(2, "0")).join("")];
    }
    result = out;
    """
    r = _run_contained(code, inputs=inputs, assets=assets, limits=Limits(timeout=300))
    assert r.ok, r
    assert r.value == {n: [20 * MiB, d] for n, d in digests.items()}
    fsspec.filesystem("memory").rm("/jsbig", recursive=True)


def test_output_files_up_to_the_documented_total(assets, tmp_path):
    """Five 20 MiB output files (100 MiB, the default total) come back whole."""
    code = """
    for (let i = 0; i < 5; i++) {
      const b = new Uint8Array(20 * 1024 * 1024);
      for (let j = 0; j < b.length; j += 4096) b[j] = (i * 7 + j / 4096) & 255;
      outFiles["out" + i + ".bin"] = b;
    }
    result = "done";
    """
    out = tmp_path / "out"
    r = _run_contained(code, assets=assets, output_dir=str(out), limits=Limits(timeout=300))
    assert r.ok and r.value == "done", r
    assert sorted(f.name for f in r.files) == [f"out{i}.bin" for i in range(5)]
    for i in range(5):
        data = (out / f"out{i}.bin").read_bytes()
        assert len(data) == 20 * MiB and data[4096] == (i * 7 + 1) & 255


def test_one_output_file_of_100_mib(assets, tmp_path):
    code = "const b = new Uint8Array(100 * 1024 * 1024); b[b.length - 1] = 9; outFiles['big.bin'] = b;"
    out = tmp_path / "out"
    r = _run_contained(code, assets=assets, output_dir=str(out),
                       limits=Limits(timeout=300, max_file_bytes=100 * MiB))
    assert r.ok, r
    data = (out / "big.bin").read_bytes()
    assert len(data) == 100 * MiB and data[-1] == 9


def test_files_come_back_without_uint8array_tobase64(monkeypatch, assets, tmp_path):
    """The harness's fallback for a Deno without Uint8Array.prototype.toBase64."""
    line = 'const toBase64 = typeof U8.prototype.toBase64 === "function" ? U8.prototype.toBase64 : null;'
    assert line in jsmod._HARNESS
    monkeypatch.setattr(jsmod, "_HARNESS", jsmod._HARNESS.replace(line, "const toBase64 = null;"))
    code = ("const b = new Uint8Array(100000); for (let i = 0; i < b.length; i++) b[i] = i & 255;"
            "outFiles['all.bin'] = b; outFiles['empty'] = ''; result = 1;")
    r = _run_contained(code, assets=assets, output_dir=str(tmp_path))
    assert r.ok, r
    assert (tmp_path / "all.bin").read_bytes() == bytes(i & 255 for i in range(100000))
    assert (tmp_path / "empty").read_bytes() == b""


def test_file_limits_hold(assets, tmp_path):
    lim = Limits(max_files=3, max_file_bytes=1000, max_total_file_bytes=2500)
    for code in ("for (let i = 0; i < 4; i++) outFiles['f' + i] = 'x';",
                 "outFiles['big'] = 'x'.repeat(1001);",
                 "for (let i = 0; i < 3; i++) outFiles['f' + i] = 'x'.repeat(900);"):
        r = _run_contained(code, assets=assets, output_dir=str(tmp_path / "o"), limits=lim)
        assert not r.ok and r.error_kind == "file_limit", (code, r)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# ---- behaviour kept ----------------------------------------------------------------------------
def test_the_runner_still_does_its_job(assets, tmp_path):
    import fsspec

    with fsspec.open("memory://jskeep/in.txt", "wb") as f:
        f.write(b"abc")
    r = _run_contained("console.log('hi', a, [1, 'b']); return a + 1", args={"a": 41},
                       assets=assets)
    assert r.ok and r.value == 42 and r.stdout == 'hi 41 [1,"b"]', r
    r = _run_contained("outFiles['up.txt'] = new TextDecoder().decode(files['in.txt']).toUpperCase();"
                       "outFiles['raw.bin'] = new Uint16Array([1, 2]);"
                       "result = Object.keys(files);",
                       inputs={"in.txt": "memory://jskeep/in.txt"}, output_dir=str(tmp_path),
                       assets=assets)
    assert r.ok and r.value == ["in.txt"], r
    assert (tmp_path / "up.txt").read_text() == "ABC"
    assert (tmp_path / "raw.bin").read_bytes() == b"\x01\x00\x02\x00"
    r = _run_contained("await new Promise((ok) => setTimeout(ok, 10)); result = {a: [1.5, null]};",
                       assets=assets)
    assert r.ok and r.value == {"a": [1.5, None]}, r
    r = _run_contained("return undefined;", assets=assets)
    assert r.ok and r.value is None, r
    r = _run_contained("throw new TypeError('nope')", assets=assets)
    assert not r.ok and r.error_kind == "exception" and "TypeError: nope" in r.error, r
    r = _run_contained("Deno.exit(0)", assets=assets)
    assert not r.ok and r.error_kind == "crashed", r
    r = _run_contained("while (true) {}", assets=assets, limits=Limits(timeout=1))
    assert not r.ok and r.error_kind == "timeout", r
    r = _run_contained("return 1", args={"not an identifier": 1}, assets=assets)
    assert not r.ok and r.error_kind == "exception", r
    r = _run_contained("result = 'x'.repeat(2000);", assets=assets,
                       limits=Limits(max_result_bytes=1000))
    assert not r.ok and r.error_kind == "result_too_large", r
