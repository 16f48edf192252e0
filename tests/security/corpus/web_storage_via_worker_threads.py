# ATTACK: the host removed localStorage, sessionStorage and caches from the sandbox's globals: get them back in a worker started with node:worker_threads (its own global scope), store the TOKEN there, and leave it for a sandbox started later. CONTAINED: the process's Deno folder is its own and has no origin storage; a fresh sandbox reads nothing back and the TOKEN is on no disk.
# expect: ok; followup=followups/read_web_storage_via_worker.py; trace=none
import js

result = str(await js.eval(r"""(async (token) => {
  const { Worker } = await import("node:worker_threads");
  const src = `
    const { parentPort, workerData } = require("node:worker_threads");
    (async () => {
      const out = [];
      try { localStorage.setItem("flowc", workerData); out.push("localStorage set"); } catch (e) { out.push("localStorage: " + e); }
      try { const c = await caches.open("flowc"); await c.put(new Request("http://flowc.invalid/p"), new Response(workerData)); out.push("caches put"); } catch (e) { out.push("caches: " + e); }
      parentPort.postMessage(out.join("; "));
    })();`;
  const w = new Worker(src, { eval: true, workerData: token });
  const msg = await new Promise((res) => { w.on("message", res); w.on("error", (e) => res("worker error: " + e)); });
  await w.terminate();
  return msg;
})""")(TOKEN))
