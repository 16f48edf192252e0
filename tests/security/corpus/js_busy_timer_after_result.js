// ATTACK: return a result but leave a timer spinning and a Worker (a second thread) spinning on a SharedArrayBuffer, to keep the process alive and burning CPU after the run. CONTAINED: the result comes back and the process is gone after the call.
// expect: ok; value="left spinning"
const sab = new SharedArrayBuffer(4);
const src = "onmessage = (e) => { const a = new Int32Array(e.data); for (;;) Atomics.add(a, 0, 1); };";
const w = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), { type: "module" });
w.postMessage(sab);
setTimeout(() => { for (;;) {} }, 0);
result = "left spinning";
