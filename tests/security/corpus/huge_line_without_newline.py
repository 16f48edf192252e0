# ATTACK: write 4 MiB to the real stdout without a newline, so that the host's genuine result line is glued to the junk. CONTAINED: raw writes to stdout count against the output cap (1 MiB here), so the execution is stopped with output_limit; were it within the cap, the glued line is not valid nonce-tagged JSON and is ignored, and the timeout ends the execution.
# expect: error_kind=output_limit|timeout|crashed; elapsed<4; limits=timeout:2
import js

junk = js.Uint8Array.new(4 << 20)
junk.fill(65)
js.Deno.stdout.writeSync(junk)
result = "genuine"
