# ATTACK: write 4 MiB to the real stdout without a newline, so that the host's genuine result line is glued to the junk. CONTAINED: the glued line is not valid nonce-tagged JSON and is ignored; no result is accepted and the timeout ends the execution.
# expect: error_kind=timeout|crashed; elapsed<4; limits=timeout:2
import js

junk = js.Uint8Array.new(4 << 20)
junk.fill(65)
js.Deno.stdout.writeSync(junk)
result = "genuine"
