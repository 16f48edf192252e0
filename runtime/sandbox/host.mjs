// The sandbox host: a Deno program that runs Pyodide and executes code sent by flowc.
//
// Protocol (documented in runtime/sandbox/PROTOCOL.md): newline-delimited JSON. The first
// 32 bytes on stdin are a per-process secret nonce; every message this program writes to
// stdout carries it, so lines written by sandboxed code (which can reach Deno.stdout) cannot
// pass for the host's. Nothing here is a security boundary: the Deno process's permissions
// are. The Python side treats every message as untrusted input.

const PYODIDE_DIR = Deno.args[0];
const SNAPSHOT = Deno.args[1] || "";
const MAKE_SNAPSHOT = Deno.args[2] === "--make-snapshot";
const LOCKFILE = (Deno.args[2] || "").startsWith("--lockfile=") ? Deno.args[2].slice(11) : "";
const WHEELS = (Deno.args[3] || "").startsWith("--wheels=") ? Deno.args[3].slice(9) : "";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// Intrinsics captured before any sandboxed code runs: code in the sandbox can replace any
// prototype method or global (JSON.stringify, TextEncoder.prototype.encode, Uint8Array, an
// Object.prototype setter...), so the messages are built and written only with these, from
// null-prototype objects.
//
// The nonce is never a JavaScript string: it arrives as the first 32 bytes on stdin and is
// kept as bytes in a typed array, whose contents live outside the JS heap. A heap snapshot
// (node:v8's getHeapSnapshot, node:inspector; both reachable without any permission)
// serialises every string in the heap, but no array buffer's bytes; and no object, call,
// getter or prototype method that sandboxed code could observe ever holds it.
const apply = Reflect.apply;
const setPrototypeOf = Object.setPrototypeOf;
const stringify = JSON.stringify;
const parse = JSON.parse;
const U8 = Uint8Array;
const encodeText = TextEncoder.prototype.encode;
const decodeText = TextDecoder.prototype.decode;
const subarray = Uint8Array.prototype.subarray;
const setBytes = Object.getPrototypeOf(Uint8Array.prototype).set;
const byteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype),
                                                   "length").get;
const writeOut = Deno.stdout.writeSync.bind(Deno.stdout);
const exit = Deno.exit;
const later = setTimeout;
const NONCE_BYTES = 32;
const lead = new U8(NONCE_BYTES + 1);  // the nonce and a space: every message's first bytes

function frame(msg) {
  // The nonce leads the line, so the reader can drop anything else without keeping it.
  setPrototypeOf(msg, null);
  const body = apply(encodeText, encoder, [stringify(msg) + "\n"]);
  const size = apply(byteLength, body, []);
  const data = new U8(NONCE_BYTES + 1 + size);
  apply(setBytes, data, [lead, 0]);
  apply(setBytes, data, [body, NONCE_BYTES + 1]);
  return data;
}
function writeAll(data) {
  const size = apply(byteLength, data, []);
  let off = 0;
  while (off < size) off += writeOut(apply(subarray, data, [off]));
}
// A message held back to travel in the same write as the next one ("received", followed at
// once by "started" when nothing is staged: one wake-up of flowc's reader instead of two).
let held = null;
function flushHeld() {
  if (held === null) return;
  const data = held;
  held = null;
  writeAll(data);
}
function send(msg) {
  const data = frame(msg);
  if (held === null) return writeAll(data);
  const first = held;
  held = null;
  const a = apply(byteLength, first, []), both = new U8(a + apply(byteLength, data, []));
  apply(setBytes, both, [first, 0]);
  apply(setBytes, both, [data, a]);
  writeAll(both);
}
function sendSoon(msg) {
  // written with the next message, or when this turn of the event loop ends
  flushHeld();
  held = frame(msg);
  later(flushHeld, 0);
}

// ---- stdin: line reader ---------------------------------------------------------------
const reader = Deno.stdin.readable.getReader();
let pending = "";
// The nonce: the first 32 bytes on stdin, taken as bytes, never decoded into text.
async function readNonce() {
  let have = 0;
  while (have < NONCE_BYTES + 1) {
    const { value, done } = await reader.read();
    if (done) return false;
    const size = apply(byteLength, value, []);
    const take = Math.min(size, NONCE_BYTES + 1 - have);
    apply(setBytes, lead, [apply(subarray, value, [0, take]), have]);
    have += take;
    if (take < size) {
      pending += apply(decodeText, decoder, [apply(subarray, value, [take]), { stream: true }]);
    }
  }
  lead[NONCE_BYTES] = 32;  // the byte after the nonce (a newline on the wire) becomes a space
  return true;
}
async function readLine() {
  while (true) {
    const nl = pending.indexOf("\n");
    if (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      return line;
    }
    const { value, done } = await reader.read();
    if (done) return null;
    pending += decoder.decode(value, { stream: true });
  }
}

const { loadPyodide } = await import(PYODIDE_DIR + "/pyodide.mjs");

// flowc's own modules (name -> Python source) compiled into sys.modules. The snapshot holds
// the current ones already (made with --preload=NAME=PATH), so a process restored from it
// skips a module whose source is the same; any other is compiled here, before `ready`.
function installModules(py, modules) {
  if (!Object.keys(modules).length) return;
  const ns = py.toPy({ __flowc_preload: modules });
  py.runPython(`
import sys as _sys, types as _types
for _name, _source in __flowc_preload.items():
    _old = _sys.modules.get(_name)
    if _old is not None and getattr(_old, "__flowc_source__", None) == _source:
        continue
    _mod = _types.ModuleType(_name)
    _mod.__file__ = f"<flowc {_name}>"
    exec(compile(_source, _mod.__file__, "exec"), _mod.__dict__)
    _mod.__flowc_source__ = _source
    _sys.modules[_name] = _mod
`, { globals: ns });
  ns.destroy();
}

if (MAKE_SNAPSHOT) {
  const py = await loadPyodide({ indexURL: PYODIDE_DIR + "/", _makeSnapshot: true });
  py.runPython(PRELOAD());
  const modules = {};
  for (const arg of Deno.args.slice(3)) {
    if (!arg.startsWith("--preload=")) continue;
    const [name, path] = [arg.slice(10, arg.indexOf("=", 10)), arg.slice(arg.indexOf("=", 10) + 1)];
    modules[name] = decoder.decode(Deno.readFileSync(path));
  }
  installModules(py, modules);
  const snap = py.makeMemorySnapshot();
  Deno.writeFileSync(SNAPSHOT, snap);
  console.log(stringify({ snapshot: SNAPSHOT, size: snap.length }));
  exit(0);
}

function PRELOAD() {
  // Modules most code needs, imported before the snapshot so a restore has them warm.
  return "import json, re, os, sys, math, csv, io, base64, datetime, statistics, " +
    "collections, itertools, functools, decimal, hashlib, textwrap, string, random, traceback";
}

// After the nonce, the first line: flowc's own modules to preload (name -> Python source),
// such as the shell (runtime/sandbox/shell.py), in sys.modules before `ready` (see
// installModules): a command line's code is one import and one call.
let preload = {};
try {
  if (!await readNonce()) exit(2);
  const first = parse(await readLine() || "{}");
  preload = first.preload && typeof first.preload === "object" ? first.preload : {};
} catch (_) { exit(2); }

// Web APIs that persist data outside the process (web storage, the Cache API) or run code
// apart from the execution (workers) are removed before any sandboxed code runs. flowc also
// gives each process its own Deno folder whose origin storage cannot be created (see
// process.py), so even a way back to them stores nothing.
for (const name of ["localStorage", "sessionStorage", "caches", "CacheStorage", "Cache",
                    "Storage", "indexedDB", "Worker", "SharedWorker", "BroadcastChannel"]) {
  try { delete globalThis[name]; } catch (_) { /* not configurable: left */ }
}

let stdoutBuf = [], stderrBuf = [];
let outBytes = 0, outCap = 1 << 20, outOverflow = false, execId = 0;
const push = Array.prototype.push;
// Sizes are in bytes of UTF-8, as documented (a UTF-16 unit is at least one byte of UTF-8,
// so a string whose length alone passes a limit is never encoded to be measured).
function utf8Size(text) {
  return apply(byteLength, apply(encodeText, encoder, [text]), []);
}
function capture(which) {
  return (text) => {
    if (outOverflow) return;
    outBytes += text.length + 1;
    if (outBytes <= outCap) outBytes += utf8Size(text) - text.length;
    if (outBytes > outCap) {
      // flowc stops the process as soon as it reads this: output is capped as it streams
      outOverflow = true;
      send({ type: "overflow", id: execId });
      return;
    }
    apply(push, which === 1 ? stdoutBuf : stderrBuf, [text]);
  };
}

const py = await loadPyodide({
  indexURL: PYODIDE_DIR + "/",
  _loadSnapshot: SNAPSHOT ? Deno.readFileSync(SNAPSHOT) : undefined,
  stdout: capture(1),
  stderr: capture(2),
  // wheels are read from the (read-only) wheelhouse; Pyodide never writes a package cache
  ...(LOCKFILE ? { lockFileURL: LOCKFILE, packageCacheDir: WHEELS + "/" } : {}),
  jsglobals: globalThis,
});

// ---- stdin pump: requests for the main loop, fetch results for their waiters ---------------
const requests = [];
let requestWaiter = null;
const fetchWaiters = new Map();
async function pump() {
  while (true) {
    const line = await readLine();
    let msg;
    if (line === null) msg = { op: "exit" };
    else {
      try { msg = parse(line); } catch (_) { continue; }
    }
    if (msg.op === "warm") { warmUp(msg.steps || []); continue; }
    // flowc's clock for the set-up grace starts when the request is taken (a process whose
    // loop is kept busy never takes it, and is stopped within the node's own timeout)
    if (msg.op === "exec") sendSoon({ type: "received", id: msg.id });
    served = true;  // a real request: warming stops for good
    if (msg.op === "fetch_result") {
      const resolve = fetchWaiters.get(msg.fid);
      fetchWaiters.delete(msg.fid);
      if (resolve) resolve(msg);
      continue;
    }
    requests.push(msg);
    if (requestWaiter) { const w = requestWaiter; requestWaiter = null; w(); }
    if (line === null) break;
  }
}
async function nextRequest() {
  while (!requests.length) await new Promise((r) => (requestWaiter = r));
  return requests.shift();
}

// ---- warm-up of a spare interpreter --------------------------------------------------------
// V8 compiles Pyodide's WebAssembly lazily, function by function, on first call: a fresh
// process runs its first code several times slower than a warm one. flowc sends its own fixed
// warm-up steps (never user code or data) to a process waiting in the pool; they run in a
// throwaway namespace, one step at a time, yielding between steps, and stop as soon as a
// real request arrives, so they never delay one by more than a step.
let served = false;
async function warmUp(steps) {
  const ns = py.globals.get("dict")();
  try {
    for (const code of steps) {
      if (served || requests.length) return;
      try { py.runPython(String(code), { globals: ns, filename: "<flowc-warm-up>" }); } catch (_) {}
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    ns.destroy();  // (anything it printed is dropped: each execution starts new buffers)
  }
  if (!served) send({ type: "warmed" });
}

// ---- host-mediated network ----------------------------------------------------------------
let fetchSeq = 0;
async function hostFetch(url, method, headers, body) {
  const fid = ++fetchSeq;
  const p = new Promise((resolve) => fetchWaiters.set(fid, resolve));
  const h = headers && headers.toJs ? headers.toJs({ dict_converter: Object.fromEntries }) : (headers || {});
  send({ type: "fetch", fid, url: String(url), method: String(method || "GET"),
         headers: h, body: body == null ? null : String(body) });
  const res = await p;
  if (res.error) throw new Error(res.error);
  return py.toPy({ status: res.status, headers: res.headers, text: res.text });
}
py.registerJsModule("_flowc_host", { fetch: hostFetch });
py.runPython(`
import sys, types
_m = types.ModuleType("flowc_http")
_m.__doc__ = "HTTP through the flowc host: only the hosts a node allows are reachable."
exec("""
async def request(url, method="GET", headers=None, body=None):
    import _flowc_host
    r = await _flowc_host.fetch(url, method, headers or {}, body)
    return r.to_py() if hasattr(r, "to_py") else r

async def get(url, headers=None):
    return await request(url, "GET", headers)

async def post(url, body=None, headers=None):
    return await request(url, "POST", headers, body)

def request_sync(url, method="GET", headers=None, body=None):
    # The same request from synchronous code (a skill's script run by the shell): the
    # interpreter's stack is suspended while the host fetches (JSPI, pyodide.ffi.run_sync).
    from pyodide.ffi import can_run_sync, run_sync
    if not can_run_sync():
        raise OSError("flowc_http: synchronous requests need JSPI, which this runtime lacks; "
                      "use: await flowc_http.request(...)")
    try:
        return run_sync(request(url, method, headers, body))
    except Exception as e:
        raise OSError(str(getattr(e, "message", None) or e).removeprefix("Error: ")) from None

def get_sync(url, headers=None):
    return request_sync(url, "GET", headers)

def post_sync(url, body=None, headers=None):
    return request_sync(url, "POST", headers, body)

def install_urllib():
    # Route urllib.request's http(s) through the host: unchanged scripts that use urlopen
    # reach the hosts their node allows (text bodies; no sockets in the sandbox).
    import io, urllib.request, urllib.response, email.message
    class _Handler(urllib.request.BaseHandler):
        handler_order = 100  # before urllib's own socket handlers
        def _open(self, req):
            body = req.data.decode("utf-8", "replace") if isinstance(req.data, bytes) else req.data
            r = request_sync(req.full_url, req.get_method(), dict(req.header_items()), body)
            headers = email.message.Message()
            for k, v in (r.get("headers") or {}).items():
                headers[k] = v
            resp = urllib.response.addinfourl(io.BytesIO((r.get("text") or "").encode()),
                                              headers, req.full_url, r.get("status"))
            resp.msg = ""  # urllib's error processor turns a non-2xx status into HTTPError
            return resp
        http_open = https_open = _open
    urllib.request.install_opener(urllib.request.build_opener(_Handler))
""", _m.__dict__)
sys.modules["flowc_http"] = _m
del _m
`);

installModules(py, preload);

// ---- files -------------------------------------------------------------------------------

// A staged file in one buffer of its size (Deno.readFileSync grows its buffer as it reads:
// 8-11 ms for 10 MB, against 4-5 ms read straight into place).
function readWhole(path) {
  const file = Deno.openSync(path, { read: true });
  try {
    const size = file.statSync().size;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = file.readSync(buf.subarray(off));
      if (n === null || n === 0) break;
      off += n;
    }
    // a file that grew meanwhile: the rest, the slow way (never for flowc's own staging)
    if (off === size && file.readSync(new Uint8Array(1)) !== null) return Deno.readFileSync(path);
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    file.close();
  }
}

const WORK = "/work";
function prepareWorkdir(clear) {
  const FS = py.FS;
  const rm = (p) => {
    for (const name of FS.readdir(p)) {
      if (name === "." || name === "..") continue;
      const full = p + "/" + name;
      const st = FS.lstat(full);
      if (FS.isDir(st.mode)) { rm(full); FS.rmdir(full); } else FS.unlink(full);
    }
  };
  let st = null;
  try { st = FS.lstat(WORK); } catch (_) { /* none yet */ }
  if (st && !(FS.isDir(st.mode) && !FS.isLink(st.mode))) {  // replaced (by a link, say)
    FS.unlink(WORK);
    st = null;
  }
  if (!st) FS.mkdir(WORK);
  else if (clear) rm(WORK);
  FS.chdir(WORK);
}

// Native base64 (V8's Uint8Array.fromBase64 / toBase64): no per-byte loops on big files.
const b64decode = (s) => Uint8Array.fromBase64(s);
const b64encode = (bytes) => bytes.toBase64();

// Staged inputs that the code did not touch are not returned. Instead of reading every file
// back and comparing its bytes, each staged file's MEMFS node gets a fractional mtime that no
// write can produce (writes stamp Date.now(), a whole number of ms): the file is unchanged
// when its path still leads to the same node, with that mtime and its staged size.
// A truncation stamps no mtime (MEMFS ignores it) but replaces the node's byte array when the
// size changes, so the array staged must still be the node's too.
function untouched(staged, node) {
  return staged !== undefined && staged.node === node && node.mtime === staged.mtime &&
    node.usedBytes === staged.size && node.contents === staged.contents;
}

// Returned files travel as `file` messages of at most CHUNK bytes each (base64), before the
// result: no message, and no string in this process, ever holds more than one chunk, so the
// documented file limits are reachable without the JS heap growing with them.
const CHUNK = 1 << 20;
function sendFiles(limits, inputs, id) {
  const FS = py.FS;
  const problems = [];
  // (at most 50 notes, but a limit passed is always said: it fails the execution)
  const note = (p, limit) => { if (limit || problems.length < 50) apply(push, problems, [p]); };
  let count = 0, total = 0, stop = false;
  const walk = (dir, rel) => {
    for (const name of FS.readdir(dir)) {
      if (stop) return;
      if (name === "." || name === "..") continue;
      const full = dir + "/" + name, relName = rel ? rel + "/" + name : name;
      let st;
      try { st = FS.lstat(full); } catch (_) { note(`${relName} not readable`); continue; }
      if (FS.isLink(st.mode)) { note(`symlink ${relName} not returned`); continue; }
      if (FS.isDir(st.mode)) { walk(full, relName); continue; }
      if (!FS.isFile(st.mode)) continue;
      if (untouched(inputs[relName], FS.lookupPath(full, { follow: false }).node)) continue;
      if (count >= limits.max_files) { note("file-count", true); stop = true; return; }
      if (st.size > limits.max_file_bytes) { note(`file-size:${relName}`, true); continue; }
      if (total + st.size > limits.max_total_file_bytes) {
        note("total-file-size", true); stop = true; return;
      }
      let data;
      try { data = FS.readFile(full); }
      catch (_) { note(`${relName} not readable`); continue; }
      count += 1;
      total += data.length;
      let off = 0;
      do {
        const end = Math.min(data.length, off + CHUNK);
        send({ type: "file", id, name: relName, last: end >= data.length,
               data: b64encode(data.subarray(off, end)) });
        off = end;
      } while (off < data.length);
    }
  };
  // The code can replace /work itself (a link to /, say): only a real folder is walked, and
  // an entry that cannot be read is a problem named, not a failed execution.
  let top = null;
  try { top = FS.lstat(WORK); } catch (_) { /* removed */ }
  if (top && FS.isDir(top.mode) && !FS.isLink(top.mode)) walk(WORK, "");
  else note("the working directory was replaced: no file returned");
  return { count, problems };
}

// ---- wheelhouse integrity ------------------------------------------------------------------
const lockPackages = LOCKFILE ? parse(decoder.decode(Deno.readFileSync(LOCKFILE))).packages : {};
async function verifyWheels() {
  for (const [name, pkg] of Object.entries(lockPackages)) {
    if (!String(pkg.file_name).startsWith(WHEELS + "/")) continue;
    const data = Deno.readFileSync(pkg.file_name);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== pkg.sha256) {
      throw new Error(`wheel ${pkg.file_name.split("/").pop()} does not match its sha256 in ` +
                      `the lock file: refusing to load package ${name}`);
    }
  }
}

// ---- execution -----------------------------------------------------------------------------
async function execute(req) {
  const limits = req.limits;
  stdoutBuf = []; stderrBuf = []; outBytes = 0; outOverflow = false;
  outCap = limits.max_output_bytes;
  execId = req.id;
  prepareWorkdir(req.fresh_workdir !== false);
  const inputs = {};
  const stagedAt = Date.now() - 0.5;
  for (const f of req.files || []) {
    const parts = f.name.split("/");
    let dir = WORK;
    for (const p of parts.slice(0, -1)) { dir += "/" + p; try { py.FS.mkdir(dir); } catch (_) {} }
    // big files are read from this process's stage folder (the only place it may read them)
    const data = f.path ? readWhole(f.path) : b64decode(f.data);
    // MEMFS keeps `data` itself (canOwn: no copy of a big file); see untouched()
    py.FS.writeFile(WORK + "/" + f.name, data, { canOwn: true });
    const node = py.FS.lookupPath(WORK + "/" + f.name).node;
    node.mtime = stagedAt;
    inputs[f.name] = { node, mtime: stagedAt, size: data.length, contents: node.contents };
  }
  const globals = py.toPy(req.globals || {});
  const ns = req.reuse_namespace ? (globalThis.__flowc_ns ||= py.globals.get("dict")()) : py.globals.get("dict")();
  for (const [k, v] of Object.entries(req.globals || {})) ns.set(k, py.toPy(v));
  globals.destroy?.();
  let ok = true, error = null, value = null;
  try {
    if (LOCKFILE) {
      // wheels named by the code's imports, from the local wheelhouse, each checked against
      // the sha256 in the lock first (Pyodide does not check files it finds locally)
      await verifyWheels();
      await py.loadPackagesFromImports(req.code, { messageCallback: () => {}, checkIntegrity: true });
      // packages a skill declares (its scripts' imports are not in req.code): loaded up front
      const wanted = (req.packages || []).map(String);
      if (wanted.length) {
        const failures = [];
        await py.loadPackage(wanted, { messageCallback: () => {},
                                       errorCallback: (m) => failures.push(String(m)),
                                       checkIntegrity: true });
        const missing = wanted.filter((n) => !py.loadedPackages[n]);
        if (missing.length) {
          const err = new Error(`cannot load package ${missing.join(", ")}: ` +
                                (failures.join(" ").slice(0, 400) || "not in the lock file"));
          err.name = "PackageError";
          throw err;
        }
      }
    }
    // the node's own time starts now: staging, a warm-up step and packages are not its
    send({ type: "started", id: req.id });
    const r = await py.runPythonAsync(req.code, { globals: ns, filename: "<node>" });
    const resultObj = ns.has("result") ? ns.get("result") : r;
    let jsValue = resultObj;
    if (resultObj && typeof resultObj.toJs === "function") {
      jsValue = resultObj.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    }
    value = jsValue === undefined ? null : jsValue;
  } catch (e) {
    ok = false;
    error = { type: (e && e.type) || (e && e.name) || "Error", message: String(e && e.message || e) };
  }
  let valueText = null;
  try { valueText = stringify(value, (k, v) => typeof v === "bigint" ? Number(v) : v); }
  catch (e) { ok = false; error = { type: "ResultError", message: "the result is not JSON: " + e.message }; }
  if (valueText !== null && valueText !== undefined &&
      (valueText.length > limits.max_result_bytes || utf8Size(valueText) > limits.max_result_bytes)) {
    ok = false; valueText = null;
    error = { type: "ResultTooLarge", message: `the result exceeds ${limits.max_result_bytes} bytes` };
  }
  const { count, problems } = sendFiles(limits, inputs, req.id);
  send({ type: "result", id: req.id, ok, error, value: valueText,
         stdout: stdoutBuf.join("\n"), stderr: stderrBuf.join("\n"),
         output_overflow: outOverflow, files: count, file_problems: problems });
}

send({ type: "ready" });
pump();
while (true) {
  const req = await nextRequest();
  if (req.op === "exec") {
    try { await execute(req); }
    catch (e) {
      send({ type: "result", id: req.id, ok: false, value: null, stdout: "", stderr: "",
             error: { type: "HostError", message: String(e && e.message || e) }, files: 0,
             file_problems: [], output_overflow: false });
    }
  }
  else if (req.op === "ping") send({ type: "pong", id: req.id });
  else if (req.op === "exit") break;
}
exit(0);
