# ATTACK: write two 40 MB lines of valid JSON without the nonce ([0,0,0,...]) to the real stdout: flowc reads each whole (up to 256 MiB a line) and json.loads() it before it looks for the nonce, so a line costs the host about 5x its size in memory and seconds of CPU, outside the sandbox's limits. CONTAINED (expected): lines that do not carry the nonce are dropped as they are read and count against the output cap (64 KiB here): output_limit, and flowc's peak resident memory grows by less than 64 MiB.
# expect: error_kind=output_limit; host_mem<64; limits=max_output_bytes:65536,max_result_bytes:65536,max_total_file_bytes:1048576,timeout:20
import js

js.eval("""(() => {
  const n = 20 << 20, a = new Uint8Array(2 * n + 3);
  a[0] = 91;
  for (let i = 0; i < n; i++) { a[1 + 2 * i] = 48; a[2 + 2 * i] = 44; }
  a[2 * n + 1] = 93; a[2 * n + 2] = 10;
  for (let k = 0; k < 2; k++) Deno.stdout.writeSync(a);
})()""")
result = "genuine"
