# ATTACK: a WebAssembly compile bomb outside the Python heap: build (in JS, not in the capped WebAssembly memory) modules of 2,000 functions with 60 KB bodies each, 120 MB of code per module, and compile and instantiate them over and over, so that V8's compilers and code space grow outside every V8 cap. CONTAINED: the outside memory watch (or V8's own limits, or the deadline) stops it: a memory, timeout or clean exception, the process gone.
# expect: error_kind=memory|timeout|exception|crashed; limits=timeout:10
import js

js.eval(r"""(() => {
  const leb = (n) => { const o = []; do { let b = n & 127; n >>>= 7; if (n) b |= 128; o.push(b); } while (n); return o; };
  const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
  const nf = 2000, bodyOps = 20000;  // each op: i32.const 1; drop  (3 bytes)
  const body = new Uint8Array(bodyOps * 3 + 2);
  for (let i = 0; i < bodyOps; i++) body.set([0x41, 0x01, 0x1a], i * 3);
  body.set([0x0b], bodyOps * 3); // end (one spare zero byte trimmed below)
  const fbody = body.subarray(0, bodyOps * 3 + 1);
  const entry = [...leb(fbody.length + 1), 0x00];
  const type = section(1, [1, 0x60, 0, 0]);
  const funcs = section(3, [...leb(nf), ...new Array(nf).fill(0)]);
  const exps = section(7, [...leb(nf), ...[].concat(...Array.from({ length: nf }, (_, i) => { const n = [...new TextEncoder().encode("f" + i)]; return [n.length, ...n, 0, ...leb(i)]; }))]);
  const perFn = entry.length + fbody.length;
  const codeLen = leb(nf).length + nf * perFn;
  const head = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...funcs, ...exps, 10, ...leb(codeLen), ...leb(nf)];
  const mod = new Uint8Array(head.length + nf * perFn);
  mod.set(head, 0);
  let at = head.length;
  for (let i = 0; i < nf; i++) { mod.set(entry, at); at += entry.length; mod.set(fbody, at); at += fbody.length; }
  globalThis.__bomb = mod;
})()""")
keep = []
for i in range(200):
    m = await js.WebAssembly.compile(js.__bomb)
    inst = await js.WebAssembly.instantiate(m)
    js.eval("(i) => { for (let k = 0; k < 2000; k++) i.exports['f' + k](); }")(inst)
    keep.append(inst)
result = f"{len(keep)} instances"
