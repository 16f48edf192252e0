// ATTACK: JavaScript reads the environment (the test put FLOWC_SECRET_SENTINEL in flowc's) with Deno.env and node:process. CONTAINED: --deny-env (and a scrubbed environment): NotCapable.
// expect: ok; each~NotCapable
const out = [];
const attempts = [
  () => Deno.env.get(SENTINEL_NAME),
  () => JSON.stringify(Deno.env.toObject()),
  async () => JSON.stringify((await import("node:process")).default.env),
  async () => (await import("node:os")).homedir(),
];
for (const f of attempts) {
  try { out.push("got: " + await f()); } catch (e) { out.push("denied: " + e); }
}
result = out;
