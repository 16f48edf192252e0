// ATTACK: write 1 GiB straight to Deno.stderr (console is the harness's; stderr is not), 1 MiB at a time, against a 64 KiB output limit: a runner that reads only the first bytes of stderr leaves the process blocked on a full pipe, one that never counts it lets it print without bound. CONTAINED: stderr counts against the cap as it streams: output_limit, stopped at the cap.
// expect: error_kind=output_limit; limits=max_output_bytes:65536,timeout:60; elapsed<40
const chunk = new Uint8Array(1 << 20).fill(120);
for (let i = 0; i < 1024; i++) Deno.stderr.writeSync(chunk);
result = "flooded";
