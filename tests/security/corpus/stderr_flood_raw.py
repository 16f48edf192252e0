# ATTACK: write 1 GiB straight to the process's stderr (js.Deno.stderr.writeSync, 1 MiB at a time), bypassing the host's output capture, against a 64 KiB output limit: stderr that is drained but never counted lets a node print without bound. CONTAINED: stderr counts against the output cap as it streams: output_limit, stopped at the cap.
# expect: error_kind=output_limit; limits=max_output_bytes:65536,timeout:60
import js

chunk = js.Uint8Array.new(1 << 20)
chunk.fill(120)
for _ in range(1024):
    js.Deno.stderr.writeSync(chunk)
result = "flooded"
