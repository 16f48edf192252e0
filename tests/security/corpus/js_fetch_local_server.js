// ATTACK: JavaScript reaches the local test server with fetch, Deno.connect and node:http. CONTAINED: --deny-net: NotCapable; the server sees no connection.
// expect: ok; each~NotCapable; server=none
const out = [];
const attempts = [
  async () => await (await fetch(SERVER + "/hello")).text(),
  async () => await Deno.connect({ hostname: SERVER_HOST, port: SERVER_PORT }),
  async () => {
    const http = (await import("node:http")).default;
    return await new Promise((res, rej) => {
      const req = http.get(SERVER + "/hello", (r) => res("status " + r.statusCode));
      req.on("error", rej);
    });
  },
];
for (const f of attempts) {
  try { out.push("got: " + await f()); } catch (e) { out.push("denied: " + e); }
}
result = out;
