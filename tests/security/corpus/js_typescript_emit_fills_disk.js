// ATTACK: fill the disk past any per-file cap with many files: import 400 distinct blob: TypeScript modules padded with a 512 KiB comment, which Deno transpiles and keeps (one emitted file with its source map per module) in its cache folder whatever --deny-write says. CONTAINED: the runner's Deno folder cannot exist: nothing is written, the folders do not grow, and the TOKEN is on no disk.
// expect: outcome=ok|memory; trace=none; disk<16; limits=timeout:60
const pad = "y".repeat(512 * 1024);
let n = 0;
for (let i = 0; i < 400; i++) {
  const ts = `/* ${pad} */ export const planted: string = ${JSON.stringify(TOKEN + ":" + i)};`;
  const url = URL.createObjectURL(new Blob([ts], { type: "application/typescript" }));
  await import(url);
  URL.revokeObjectURL(url);
  n++;
}
result = "imported " + n;
