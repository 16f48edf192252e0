// ATTACK: await a promise that never settles while a timer keeps Deno's event loop alive, so the runner waits forever. CONTAINED: the deadline kills the process.
// expect: error_kind=timeout; limits=timeout:2
setInterval(() => {}, 1000);
await new Promise(() => {});
result = "never";
