# ATTACK: make Deno write on the sandbox's behalf: import() 48 distinct data: modules, each with the TOKEN and a 1 MiB string literal, so that Deno's module analysis and V8 code caches (SQLite files in DENO_DIR, written whatever --deny-write says) keep the planted text and grow with it. CONTAINED: the process's Deno folder is its own, capped per file (RLIMIT_FSIZE) and removed with the process: the folders grow by little, and the TOKEN is on no disk after the run.
# expect: outcome=ok|crashed|memory|timeout; trace=none; disk<160; limits=timeout:60
import js

result = str(await js.eval(r"""(async (token) => {
  const pad = "x".repeat(1 << 20);
  let n = 0;
  for (let i = 0; i < 48; i++) {
    const src = `export const planted = ${JSON.stringify(token + ":" + i)}; export const pad = "${pad}${i}";`;
    try { await import("data:text/javascript," + encodeURIComponent(src)); n++; } catch (e) { return "import failed: " + e; }
  }
  return "imported " + n;
})""")(TOKEN))
