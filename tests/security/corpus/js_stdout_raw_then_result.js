// ATTACK: write 8 MiB of raw bytes (no newline) to Deno.stdout and then return normally, hoping the harness's result line, glued to the junk, still counts as a result while the raw bytes escape the 64 KiB output cap. CONTAINED: raw writes count against the cap: output_limit, never ok.
// expect: error_kind=output_limit; limits=max_output_bytes:65536,timeout:20
const chunk = new Uint8Array(1 << 20).fill(122);
for (let i = 0; i < 8; i++) Deno.stdout.writeSync(chunk);
result = "glued";
