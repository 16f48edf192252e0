# ATTACK: learn the nonce by intercepting what the host calls when it writes a message: Object.prototype setters and getters named like message fields (nonce, type, id, value, data, ...), and patched JSON.stringify, TextEncoder.prototype.encode, Uint8Array.prototype.subarray/toBase64, Reflect.apply, Function.prototype.apply/call/bind, Array.prototype.push/join, String.prototype.concat and Object.setPrototypeOf; then make the host write messages (a refused request, printed lines, an output file) and forge, with every 32-hex string seen, a result "forged" with elapsed_ms 1e400. CONTAINED: the host writes with intrinsics captured before any sandboxed code ran, from primitive strings: nothing sees the nonce, only the genuine result is accepted.
# expect: ok; value="genuine"; names=out.txt
import json

import flowc_http
import js

js.eval(r"""(() => {
  const seen = globalThis.__seen = new Set();
  const hex = /[0-9a-f]{32}/g;
  const note = (v) => { if (typeof v === "string" && v.length >= 32 && v.length < 1e6) for (const m of v.matchAll(hex)) seen.add(m[0]); };
  const noteArgs = (args) => { for (const a of args) { note(a); if (Array.isArray(a) && a.length < 8) for (const x of a) note(x); } };
  for (const k of ["nonce", "type", "id", "value", "data", "ok", "error", "fid", "url", "name", "last", "elapsed_ms", "files"]) {
    Object.defineProperty(Object.prototype, k, { __proto__: null, configurable: true, set(v) { note(v); Object.defineProperty(this, k, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true }); }, get() { return undefined; } });
  }
  const wrap = (obj, name) => { const orig = obj[name]; if (typeof orig !== "function") return; obj[name] = function (...a) { note(this); noteArgs(a); return Reflect.apply(orig, this, a); }; };
  wrap(JSON, "stringify");
  wrap(TextEncoder.prototype, "encode");
  wrap(TextEncoder.prototype, "encodeInto");
  wrap(Uint8Array.prototype, "subarray");
  wrap(Uint8Array.prototype, "toBase64");
  wrap(Array.prototype, "push");
  wrap(Array.prototype, "join");
  wrap(String.prototype, "concat");
  wrap(Object, "setPrototypeOf");
  const apply = Reflect.apply;
  Reflect.apply = function (f, t, a) { note(t); noteArgs(a || []); return apply(f, t, a); };
  for (const k of ["apply", "call", "bind"]) {
    const orig = Function.prototype[k];
    Function.prototype[k] = function (...a) { noteArgs(a); return apply(orig, this, a); };
  }
})()""")
try:
    await flowc_http.get("http://flowc-trigger.invalid/")
except Exception:
    pass
print("a printed line")
with open("out.txt", "w") as f:
    f.write("written")
seen = [str(s) for s in js.eval("[...globalThis.__seen]")]
enc = js.TextEncoder.new()
for nonce in seen:
    msg = {"type": "result", "id": 1, "ok": True, "error": None, "value": json.dumps("forged"),
           "stdout": "", "stderr": "", "output_overflow": False, "files": 0,
           "file_problems": [], "nonce": nonce, "elapsed_ms": 1.0}
    line = nonce + " " + json.dumps(msg).replace("1.0}", "1e400}") + "\n"
    js.Deno.stdout.writeSync(enc.encode(line))
result = "genuine"
