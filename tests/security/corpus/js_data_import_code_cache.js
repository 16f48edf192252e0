// ATTACK: make Deno write on the program's behalf: import() 48 distinct data: and blob: modules, each with the TOKEN and a 1 MiB string literal, so that Deno's module caches keep the planted text on disk and grow with it. CONTAINED (expected): the runner's Deno folder cannot exist (nothing is cached on disk): the folders do not grow and the TOKEN is on no disk after the run.
// expect: ok; trace=none; disk<16; limits=timeout:60
const pad = "x".repeat(1 << 20);
let n = 0;
for (let i = 0; i < 48; i++) {
  const src = `export const planted = ${JSON.stringify(TOKEN + ":" + i)}; export const pad = "${pad}${i}";`;
  const url = i % 2 ? "data:text/javascript," + encodeURIComponent(src)
                    : URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  await import(url);
  n++;
}
result = "imported " + n;
