// ATTACK: JavaScript prints 4 MiB with console.log against a 64 KiB output limit. CONTAINED: the harness stops capturing at the cap: output_limit.
// expect: error_kind=output_limit; host_mem<64; limits=max_output_bytes:65536
const line = "x".repeat(1023);
for (let i = 0; i < 4096; i++) console.log(line);
result = "flooded";
