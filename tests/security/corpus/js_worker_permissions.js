// ATTACK: JavaScript starts a Worker asking for read/net/env permissions its process does not have. CONTAINED: Deno refuses (unstable option, and no escalation); the execution fails.
// expect: error_kind=crashed|exception
const w = new Worker("data:text/javascript,postMessage(Deno.readTextFileSync('/etc/passwd'))",
  { type: "module", deno: { permissions: { read: true, net: true, env: true } } });
result = await new Promise((res) => { w.onmessage = (e) => res(e.data); });
