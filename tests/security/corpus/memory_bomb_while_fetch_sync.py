# ATTACK: the same memory bomb while the interpreter is suspended in a synchronous request (flowc_http.get_sync, JSPI): 64 MiB resident buffers every 20 ms, up to 4 GiB, while the host fetches a slow page. CONTAINED: the outside memory watch runs while requests are served: killed past memory_mb + slack.
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
r = flowc_http.get_sync(SERVER + "/slow")
result = [r["status"], int(js.eval("globalThis.__keep.length"))]
