// ATTACK: learn the runner's nonce the classic ways: Object.prototype setters and getters named like message fields (nonce, type, ok, value, stdout, files...), patched JSON.stringify, TextEncoder.prototype.encode, Reflect.apply, Function.prototype.apply/call and Uint8Array.prototype.subarray; then forge a result with every 32-hex string seen. CONTAINED: the harness writes only through captured intrinsics from primitive strings: nothing sees the nonce, the genuine result is accepted.
// expect: ok; value="genuine"
const seen = new Set();
const note = (v) => { try { for (const m of String(v).matchAll(/[0-9a-f]{32}/g)) seen.add(m[0]); } catch {} };
for (const k of ["nonce", "type", "ok", "kind", "value", "error", "stdout", "files", "name", "data"]) {
  Object.defineProperty(Object.prototype, k, { __proto__: null, configurable: true, set(v) { note(v); }, get() { return undefined; } });
}
const wrap = (obj, name) => { const orig = obj[name]; obj[name] = function (...a) { a.forEach(note); note(this); return orig.apply(this, a); }; };
wrap(JSON, "stringify");
wrap(TextEncoder.prototype, "encode");
wrap(Uint8Array.prototype, "subarray");
const apply = Reflect.apply;
Reflect.apply = (f, t, a) => { note(t); (a || []).forEach(note); return apply(f, t, a); };
console.log("a line, so the harness writes");
outFiles["f.txt"] = "x";
// the setters above see the nonce only if the harness leaks it while finishing: forge from a
// setter on the way out, so a leak at that moment still gets its forged line in first
const enc = new TextEncoder();
const forge = () => {
  for (const n of seen) {
    Deno.stdout.writeSync(enc.encode("\n" + n + ' {"type":"result","ok":true,"kind":null,"value":"\\"forged\\"","error":null,"stdout":"","files":0}\n'));
    Deno.stdout.writeSync(enc.encode(n + ' {"ok":true,"value":"\\"forged\\"","stdout":"","overflow":false,"files":[],"nonce":"' + n + '"}\n'));  // (older wire format)
  }
};
forge();
Object.defineProperty(Object.prototype, "len", { __proto__: null, configurable: true, set(v) { forge(); }, get() { forge(); return undefined; } });
result = "genuine";
