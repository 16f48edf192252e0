# ATTACK: read the host protocol's stdin (Deno.stdin.readSync) to steal or swallow flowc's messages. CONTAINED: there is nothing to steal in a strict execution; the read blocks and the timeout ends it.
# expect: error_kind=timeout; elapsed<3; limits=timeout:1
import js

buf = js.Uint8Array.new(4096)
n = js.Deno.stdin.readSync(buf)
result = bytes(buf.to_py()[: n or 0]).decode(errors="replace")
