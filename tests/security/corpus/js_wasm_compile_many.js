// ATTACK: start thousands of asynchronous WebAssembly compilations at once (V8 compiles them on background threads, outside the heap limit), each of a 1 MB module, and keep every module. CONTAINED: the memory watch or the deadline stops it; the process is gone after the call.
// expect: error_kind=memory|timeout|crashed; limits=memory_mb:64,timeout:15
const leb = (n) => { const o = []; do { let b = n & 127; n >>>= 7; if (n) b |= 128; o.push(b); } while (n); return o; };
const ops = 350000;
const body = new Uint8Array(1 + ops * 3 + 1);
for (let i = 0; i < ops; i++) body.set([0x41, 0x01, 0x1a], 1 + i * 3);
body[body.length - 1] = 0x0b;
const make = (salt) => {
  const code = [...leb(1), ...leb(body.length)];
  const exp = [1, 1, 0x66, 0, 0];
  const name = [...new TextEncoder().encode("s" + salt)];
  const custom = [0, ...leb(name.length + 1), name.length, ...name];
  const head = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, exp.length, ...exp, ...custom];
  const codeLen = code.length + body.length;
  const m = new Uint8Array(head.length + 1 + leb(codeLen).length + codeLen);
  m.set(head); m[head.length] = 10; m.set(leb(codeLen), head.length + 1);
  m.set(code, head.length + 1 + leb(codeLen).length); m.set(body, head.length + 1 + leb(codeLen).length + code.length);
  return m;
};
const keep = [];
for (let round = 0; round < 1000; round++) {
  const batch = [];
  for (let i = 0; i < 64; i++) batch.push(WebAssembly.compile(make(round * 64 + i)));
  for (const m of await Promise.all(batch)) keep.push(new WebAssembly.Instance(m));
}
result = keep.length;
