// ATTACK: the harness's output counters (__bytes, __overflow) are in the user code's scope: print 1 MiB with console.log against a 64 KiB limit, resetting the counter after each line. CONTAINED (expected): output_limit.
// expect: error_kind=output_limit; limits=max_output_bytes:65536
for (let i = 0; i < 1024; i++) { console.log("z".repeat(1023)); __bytes = 0; }
result = "flooded";
