# ATTACK: the Python heap is capped by --wasm-max-mem-pages, but that cap is per memory: create 64 WebAssembly.Memory objects, each at the cap (64 MiB here), and touch every page, 4 GiB resident outside the Python heap. CONTAINED: the outside memory watch kills the process past memory_mb + slack.
# expect: error_kind=memory; limits=memory_mb:64,timeout:20
import js

n = js.eval(r"""(() => {
  const keep = [];
  for (let i = 0; i < 64; i++) {
    const m = new WebAssembly.Memory({ initial: 1024 });
    new Uint8Array(m.buffer).fill(1);
    keep.push(m);
  }
  globalThis.__keep = keep;
  return keep.length;
})()""")
result = n
