// ATTACK: the JavaScript runner caps only the V8 heap (--max-old-space-size): WebAssembly memories live outside it. Create memories of 1 GiB each and touch every page, 4 GiB resident. CONTAINED: the outside memory watch kills the process past memory_mb + slack.
// expect: error_kind=memory; limits=memory_mb:64,timeout:20
const keep = [];
for (let i = 0; i < 4; i++) {
  const m = new WebAssembly.Memory({ initial: 16384 });
  new Uint8Array(m.buffer).fill(1);
  keep.push(m);
}
result = keep.length;
