// ATTACK: JavaScript runs host commands with Deno.Command and node:child_process (creating a marker file in the host's /tmp). CONTAINED: --deny-run: NotCapable; no marker appears.
// expect: ok; each~NotCapable
const out = [];
const attempts = [
  () => new Deno.Command("/bin/sh", { args: ["-c", `id > ${MARKER}-jscommand`] }).outputSync().code,
  () => new Deno.Command(Deno.execPath(), { args: ["eval", "1"] }).spawn().pid,
  async () => (await import("node:child_process")).execSync(`id > ${MARKER}-jsnode`).toString(),
];
for (const f of attempts) {
  try { out.push("ran: " + await f()); } catch (e) { out.push("denied: " + e); }
}
result = out;
