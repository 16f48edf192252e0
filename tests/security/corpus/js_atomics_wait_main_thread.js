// ATTACK: block the runner's main thread forever with Atomics.wait on a SharedArrayBuffer (allowed on Deno's main thread). CONTAINED: the deadline kills the process; it is gone after the call.
// expect: error_kind=timeout; limits=timeout:2
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
result = "never";
