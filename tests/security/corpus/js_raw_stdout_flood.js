// ATTACK: JavaScript writes 64 MiB of lines straight to Deno.stdout (not console.log) against a 64 KiB output limit. CONTAINED (expected): an output_limit failure, with flowc's own memory bounded (its peak resident memory grows by less than 64 MiB with these small limits).
// expect: error_kind=output_limit|crashed; host_mem<64; limits=max_output_bytes:65536,max_result_bytes:65536,max_total_file_bytes:1048576
const chunk = new TextEncoder().encode("y".repeat((1 << 20) - 1) + "\n");
for (let i = 0; i < 64; i++) Deno.stdout.writeSync(chunk);
result = "flooded";
