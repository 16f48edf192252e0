# ATTACK: (follow-up, a sandbox started later) read localStorage and the Cache API back through a node:worker_threads worker. CONTAINED: nothing of the earlier run is there.
# expect: ok; value!~flowc-token-
import js

result = str(await js.eval(r"""(async () => {
  const { Worker } = await import("node:worker_threads");
  const src = `
    const { parentPort } = require("node:worker_threads");
    (async () => {
      const out = [];
      try { out.push("localStorage: " + localStorage.getItem("flowc")); } catch (e) { out.push("localStorage: " + e); }
      try { const c = await caches.open("flowc"); const r = await c.match(new Request("http://flowc.invalid/p")); out.push("caches: " + (r ? await r.text() : "nothing")); } catch (e) { out.push("caches: " + e); }
      parentPort.postMessage(out.join("; "));
    })();`;
  const w = new Worker(src, { eval: true });
  const msg = await new Promise((res) => { w.on("message", res); w.on("error", (e) => res("worker error: " + e)); });
  await w.terminate();
  return msg;
})""")())
