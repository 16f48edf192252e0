// ATTACK: JavaScript reads the project's files, SSH keys, /proc/<parent>/environ and lists directories, with Deno and node:fs. CONTAINED: --deny-read: every attempt is NotCapable.
// expect: ok; each~NotCapable
const out = [];
const attempts = [
  () => Deno.readTextFileSync(PROJECT_ROOT + "/pyproject.toml"),
  () => Deno.readTextFileSync("/root/.ssh/id_rsa"),
  () => Deno.readTextFileSync(`/proc/${Deno.ppid}/environ`),
  () => [...Deno.readDirSync("/")].map((e) => e.name).join(","),
  () => [...Deno.readDirSync(Deno.cwd())].map((e) => e.name).join(","),
  async () => (await import("node:fs")).readFileSync("/etc/passwd", "utf8"),
  async () => await (await fetch("file:///etc/passwd")).text(),
];
for (const f of attempts) {
  try { out.push("got: " + await f()); } catch (e) { out.push("denied: " + e); }
}
result = out;
