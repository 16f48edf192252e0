# ATTACK: fill the disk past the per-file size cap with many files: Deno transpiles each TypeScript module it imports and keeps the emitted JavaScript (with its source map) in its cache folder, one file per module, whatever --deny-write says. Workers (node:worker_threads) each import 40 distinct blob: TypeScript modules padded with a 512 KiB comment (kept in the emit, absent from the V8 code cache) and exit, so memory stays flat while the files pile up, for 25 s. CONTAINED (expected): what a process can make Deno write is bounded as a whole (not only per file): the folders grow by less than 160 MiB, and nothing of the run (the TOKEN) is on disk after it.
# expect: outcome=ok|crashed|memory|timeout; trace=none; disk<160; limits=timeout:30
import js

result = str(await js.eval(r"""(async (token) => {
  const { Worker } = await import("node:worker_threads");
  const src = `
    const { parentPort, workerData } = require("node:worker_threads");
    (async () => {
      const pad = "y".repeat(512 * 1024);
      for (let i = 0; i < 40; i++) {
        const ts = "/* " + pad + " */ export const planted: string = " + JSON.stringify(workerData.token + ":" + workerData.batch + ":" + i) + ";";
        const url = URL.createObjectURL(new Blob([ts], { type: "application/typescript" }));
        try { await import(url); } catch (e) { parentPort.postMessage("error: " + e); return; }
      }
      parentPort.postMessage("ok");
    })();`;
  const t0 = Date.now();
  let batches = 0, last = "";
  while (Date.now() - t0 < 25000) {
    const w = new Worker(src, { eval: true, workerData: { token, batch: batches } });
    last = await new Promise((res) => { w.on("message", res); w.on("error", (e) => res("worker error: " + e)); });
    await w.terminate();
    if (last !== "ok") break;
    batches++;
  }
  return batches + " batches of 40 modules; " + last;
})""")(TOKEN))
