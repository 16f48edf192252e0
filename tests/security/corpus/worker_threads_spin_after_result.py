# ATTACK: the host removed Worker from the sandbox's globals: start node:worker_threads workers instead, spinning forever on a SharedArrayBuffer, and return, to keep the sandbox burning CPU after its run. CONTAINED: a strict execution's process is killed after its result: it is gone after the call.
# expect: ok; value~workers spinning
import js

n = await js.eval(r"""(async () => {
  const { Worker } = await import("node:worker_threads");
  const sab = new SharedArrayBuffer(4);
  const src = "const { workerData } = require('node:worker_threads'); const a = new Int32Array(workerData); for (;;) Atomics.add(a, 0, 1);";
  for (let i = 0; i < 4; i++) new Worker(src, { eval: true, workerData: sab });
  const a = new Int32Array(sab);
  const t = Date.now();
  while (Atomics.load(a, 0) === 0 && Date.now() - t < 3000) await new Promise((r) => setTimeout(r, 10));
  return Atomics.load(a, 0) > 0 ? 4 : 0;
})()""")
result = f"{n} workers spinning"
