# ATTACK: ask the allowed host for a slow page (it answers only after the call has returned) and, while flowc serves that request, let a JS timer allocate 64 MiB buffers (filled, resident, outside the WebAssembly cap) every 20 ms, up to 4 GiB: a memory watch that pauses while the host serves a request misses all of it. CONTAINED: memory is watched all the time: the process is killed past memory_mb + slack.
# expect: error_kind=memory; allow=server; server=hit; sandbox_peak<1536; limits=memory_mb:64,timeout:10
import flowc_http
import js

js.eval(r"""(() => {
  const keep = [];
  const t = setInterval(() => {
    if (keep.length >= 64) { clearInterval(t); return; }
    const a = new Uint8Array(64 << 20); a.fill(1); keep.push(a);
  }, 20);
  globalThis.__keep = keep;
})()""")
r = await flowc_http.get(SERVER + "/slow")
result = [r["status"], int(js.eval("globalThis.__keep.length"))]
