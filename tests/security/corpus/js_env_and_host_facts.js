// ATTACK: JavaScript reads the environment and facts about the host: node:process.env (the sentinel, and all keys), Deno.env, Deno.hostname, osRelease, networkInterfaces, systemMemoryInfo, uid, node:os.userInfo. CONTAINED: --deny-env, --deny-sys and --deny-read: each is NotCapable.
// expect: ok; each~NotCapable|Requires|denied
const out = [];
const tries = [
  async () => (await import("node:process")).default.env[SENTINEL_NAME],
  async () => Object.keys((await import("node:process")).default.env),
  () => Deno.env.toObject(), () => Deno.hostname(), () => Deno.osRelease(), () => Deno.networkInterfaces(),
  () => Deno.systemMemoryInfo(), () => Deno.uid(), async () => (await import("node:os")).userInfo(),
];
for (const t of tries) {
  try { out.push("got: " + JSON.stringify(await t())); } catch (e) { out.push("denied: " + e); }
}
result = out;
