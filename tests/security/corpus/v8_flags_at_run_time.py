# ATTACK: change V8's flags from inside with node:v8.setFlagsFromString: lift the WebAssembly page cap (--wasm-max-mem-pages) and the heap limit, turn off WebAssembly bounds checks and the trap handler, then grow the Python heap past memory_mb and read out of bounds of a WebAssembly memory. CONTAINED: V8's flags are frozen after start: the heap stays capped (a memory error) and out-of-bounds reads still trap.
# expect: error_kind=memory; limits=memory_mb:64,timeout:20
import js

await js.eval(r"""(async () => {
  const v8 = await import("node:v8");
  for (const f of ["--wasm-max-mem-pages=65536", "--max-old-space-size=100000", "--no-wasm-bounds-checks",
                   "--no-wasm-trap-handler", "--allow-natives-syntax", "--stack-size=100000"]) {
    try { v8.setFlagsFromString(f); } catch (_) {}
  }
})()""")
oob = js.eval(r"""(() => {
  const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,6,1,96,1,127,1,127,3,2,1,0,5,3,1,0,1,7,5,1,1,114,0,0,10,9,1,7,0,32,0,40,2,0,11]);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  try { return "read " + inst.exports.r(1 << 20); } catch (e) { return "trapped: " + e.message; }
})()""")
assert "trapped" in str(oob), oob
keep = []
while True:
    keep.append(bytearray(32 << 20))
