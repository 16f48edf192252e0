// ATTACK: JavaScript reaches the local test server with fetch, Deno.connect and node:http. CONTAINED: --deny-net: NotCapable; the server sees no connection.
// expect: ok; each~NotCapable; server=none
const out = [];
const attempts = [
  async () => await (await fetch(SERVER + "/hello")).text(),
  async () => await Deno.connect({ hostname: SERVER_HOST, port: SERVER_PORT }),
  async () => await (await import("node:http")).default.get(SERVER + "/hello"),
];
for (const f of attempts) {
  try { out.push("got: " + await f()); } catch (e) { out.push("denied: " + e); }
}
result = out;
