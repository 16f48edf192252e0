// ATTACK: close Deno.stdout (and stderr) before returning, so the harness cannot write its result, and keep the event loop alive with a timer. CONTAINED: no result: crashed or timeout, the process gone.
// expect: error_kind=crashed|timeout; limits=timeout:3
setInterval(() => {}, 1000);
try { Deno.stderr.close(); } catch {}
Deno.stdout.close();
result = "closed";
