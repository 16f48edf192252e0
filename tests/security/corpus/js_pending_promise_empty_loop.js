// ATTACK: await a promise that never settles with nothing else pending: Deno ends the program itself ("top-level await promise never resolved") before any result is written. CONTAINED: a clean failure (no result: crashed), the process gone.
// expect: error_kind=crashed|timeout; limits=timeout:3
await new Promise(() => {});
result = "never";
