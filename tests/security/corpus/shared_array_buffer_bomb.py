# ATTACK: allocate SharedArrayBuffers and resizable ArrayBuffers (grown with .resize()) through the FFI, filled so they are resident: memory outside the WebAssembly cap and the V8 heap limit. CONTAINED: the outside memory watch kills the process past memory_mb + slack.
# expect: error_kind=memory; limits=memory_mb:64,timeout:20
import js

n = js.eval(r"""(() => {
  const keep = [];
  for (let i = 0; i < 32; i++) {
    const s = new SharedArrayBuffer(64 << 20);
    new Uint8Array(s).fill(1);
    const r = new ArrayBuffer(0, { maxByteLength: 64 << 20 });
    r.resize(64 << 20);
    new Uint8Array(r).fill(1);
    keep.push(s, r);
  }
  globalThis.__keep = keep;
  return keep.length;
})()""")
result = n
